// Building the page from data without ever parsing it as HTML: every string becomes a
// text node or an attribute value, so user and model text can never become markup.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value" || key === "checked" || key === "selected") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

// For a view that loads what it shows: each call of `begin()` starts a load and answers a
// check, true while no later load has begun. A load whose answer comes after a newer one
// was asked (filters changed twice, a view opened twice) drops its answer, whatever order
// the answers come in, so the newest load is the one shown.
export function newestLoad() {
  let begun = 0;
  return function begin() {
    const mine = ++begun;
    return () => mine === begun;
  };
}

// Only http(s) and same-origin paths may become a link or an image source.
export function safeUrl(url) {
  if (typeof url !== "string") return null;
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast ${kind}`, text: message });
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 9000 : 5000);
}

export function credits(n) {
  return `${n} credit${n === 1 ? "" : "s"}`;
}

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleString();
}

export const ACTIONS = {
  create: "Create",
  edit: "Edit",
  upscale: "Upscale",
  remove_bg: "Remove background",
};

export const STATUSES = ["pending", "processing", "completed", "failed", "canceled"];

export function isTerminal(status) {
  return status === "completed" || status === "failed" || status === "canceled";
}
