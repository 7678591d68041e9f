// The one way the studio talks to .base: JSON over fetch with the bearer token in a header.
// Problems (RFC 9457) become ApiError; 401 and 402 are also announced as events, so the
// app can sign in again or open the packs.

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

export class Api extends EventTarget {
  constructor() {
    super();
    this.token = null;
    this.renew = null;  // async () => a new token or null: tried once on a 401
  }

  headers(extra = {}) {
    const headers = { Accept: "application/json", ...extra };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    return headers;
  }

  async request(method, path, options = {}) {
    const { body, headers = {}, quiet = [], renewed = false } = options;
    const init = { method, headers: this.headers(headers), cache: "no-store" };
    if (body instanceof Blob || body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      throw new ApiError(0, { title: "Network error", detail: "The server could not be reached." });
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = { detail: text.slice(0, 200) };
      }
    }
    if (response.status === 401 && this.renew && !renewed && !quiet.includes(401)) {
      // An expired session: sign in again behind the scenes, then try once more.
      if (await this.renew()) return this.request(method, path, { ...options, renewed: true });
    }
    if (!response.ok) {
      const error = new ApiError(response.status, data);
      if (!quiet.includes(response.status)) {
        if (response.status === 401) this.dispatchEvent(new CustomEvent("unauthorized", { detail: error }));
        if (response.status === 402) this.dispatchEvent(new CustomEvent("payment-required", { detail: error }));
      }
      throw error;
    }
    return data;
  }

  get(path, options) { return this.request("GET", path, options); }
  post(path, body, options = {}) { return this.request("POST", path, { ...options, body }); }
  patch(path, body, options = {}) { return this.request("PATCH", path, { ...options, body }); }
  delete(path, options) { return this.request("DELETE", path, options); }
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== "" && value != null) search.set(key, value);
  const text = search.toString();
  return text ? `?${text}` : "";
}
