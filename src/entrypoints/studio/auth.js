// Signing in where the studio runs, with no screen whenever possible:
// - inside Telegram: Telegram.WebApp.initData → POST /api/auth/telegram;
// - back from a Supabase magic link: the access token in the URL fragment, read once and
//   removed from the address bar;
// - in `base demo`: the demo user's session from /studio/demo-session (a route only the
//   demo has);
// - otherwise the email sign-in form (when Supabase is configured).
// The token is kept in memory and sessionStorage (this tab only), never in a URL.
import { h, clear, toast } from "./dom.js";

const KEY = "base.session";
const REFRESH_KEY = "base.refresh";
const TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-web-app.js";

export function insideTelegram() {
  const launch = `${location.hash}&${location.search}`;
  if (launch.includes("tgWebAppData=") || launch.includes("tgWebAppPlatform=")) return true;
  try {
    if (sessionStorage.getItem("__telegram__initParams")) return true;
  } catch { /* storage may be blocked */ }
  return Boolean(window.Telegram && window.Telegram.WebApp && window.Telegram.WebApp.initData);
}

// Telegram's script is loaded only here, only inside Telegram; it is never bundled.
export function loadTelegram() {
  if (window.Telegram && window.Telegram.WebApp) return Promise.resolve(window.Telegram.WebApp);
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = TELEGRAM_SCRIPT;
    script.onload = () => (window.Telegram && window.Telegram.WebApp
      ? resolve(window.Telegram.WebApp) : reject(new Error("Telegram's script did not load")));
    script.onerror = () => reject(new Error("Telegram's script could not be loaded"));
    document.head.append(script);
  });
}

export function applyTelegramTheme(webApp) {
  const root = document.documentElement;
  for (const [name, value] of Object.entries(webApp.themeParams || {})) {
    if (typeof value === "string" && /^#[0-9a-fA-F]{3,8}$/.test(value)) {
      root.style.setProperty(`--tg-theme-${name.replace(/_/g, "-")}`, value);
    }
  }
  if (webApp.colorScheme) root.dataset.scheme = webApp.colorScheme;
}

function remember(token) {
  try { sessionStorage.setItem(KEY, token); } catch { /* memory only */ }
}

export function forget() {
  try { sessionStorage.removeItem(KEY); } catch { /* nothing kept */ }
}

function kept(key) {
  try { return sessionStorage.getItem(key); } catch { return null; }
}

function fromFragment() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get("access_token");
  const refresh = fragment.get("refresh_token");
  if (token && refresh) {
    try { sessionStorage.setItem(REFRESH_KEY, refresh); } catch { /* no refresh then */ }
  }
  const error = fragment.get("error_description") || fragment.get("error");
  if (token || error) history.replaceState(null, "", location.pathname + location.search);
  if (error) toast(`Sign-in failed: ${error}`, "error");
  return token;
}

// A session token, or null when the person must sign in on the form.
export async function signIn(api, config) {
  if (insideTelegram()) {
    const webApp = await loadTelegram();
    applyTelegramTheme(webApp);
    webApp.ready();
    if (webApp.expand) webApp.expand();
    if (!webApp.initData) throw new Error("Telegram did not pass initData to the studio");
    const signed = await api.post("/api/auth/telegram", { initData: webApp.initData });
    remember(signed.session_token);
    return { token: signed.session_token, method: "telegram", webApp };
  }
  const fragmentToken = fromFragment();
  if (fragmentToken) {
    remember(fragmentToken);
    return { token: fragmentToken, method: "supabase" };
  }
  const token = kept(KEY);
  if (token) return { token, method: "kept" };
  if (config.demo) {
    const demo = await api.get("/studio/demo-session");
    remember(demo.session_token);
    return { token: demo.session_token, method: "demo" };
  }
  return null;
}

// A new token when the one in use is refused (expired): Telegram's initData again, a
// Supabase refresh, or the demo's session; null when the person must sign in again.
export async function renew(api, config, session) {
  let token = null;
  try {
    if (session.method === "telegram" && session.webApp) {
      const signed = await api.post("/api/auth/telegram", { initData: session.webApp.initData }, { quiet: [401] });
      token = signed.session_token;
    } else if (config.supabase && kept(REFRESH_KEY)) {
      const response = await fetch(`${config.supabase.url}/auth/v1/token?grant_type=refresh_token`, {
        method: "POST",
        headers: { "Content-Type": "application/json", apikey: config.supabase.anon_key, Authorization: `Bearer ${config.supabase.anon_key}` },
        body: JSON.stringify({ refresh_token: kept(REFRESH_KEY) }),
      });
      if (response.ok) {
        const answer = await response.json();
        token = answer.access_token || null;
        if (answer.refresh_token) sessionStorage.setItem(REFRESH_KEY, answer.refresh_token);
      }
    } else if (config.demo) {
      token = (await api.get("/studio/demo-session", { quiet: [401, 403] })).session_token;
    }
  } catch {
    token = null;
  }
  if (token) remember(token);
  else forget();
  return token;
}

export function renderSignIn(config) {
  const body = clear(document.getElementById("signin-body"));
  if (!config.supabase) {
    body.append(h("p", { text: "Open the studio from its Telegram bot, or ask the operator to configure email sign-in (BASE_SUPABASE_URL and BASE_SUPABASE_ANON_KEY)." }));
    return;
  }
  const email = h("input", { id: "signin-email", type: "email", name: "email", required: true, autocomplete: "email" });
  const note = h("p", { class: "muted", "aria-live": "polite" });
  const form = h("form", { class: "stack" },
    h("label", { for: "signin-email", text: "Email" }), email,
    h("button", { type: "submit", class: "primary", text: "Send me a sign-in link" }), note);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    note.textContent = "Sending…";
    const redirect = `${location.origin}${location.pathname}`;
    try {
      const response = await fetch(
        `${config.supabase.url}/auth/v1/otp?redirect_to=${encodeURIComponent(redirect)}`, {
          method: "POST",
          headers: { "Content-Type": "application/json", apikey: config.supabase.anon_key, Authorization: `Bearer ${config.supabase.anon_key}` },
          body: JSON.stringify({ email: email.value, create_user: true }),
        });
      note.textContent = response.ok ? "Check your inbox: the link signs you in here." : "The link could not be sent; try again.";
    } catch {
      note.textContent = "Supabase could not be reached.";
    }
  });
  body.append(form);
}
