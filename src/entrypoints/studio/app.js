// The studio's entry point: read the server's config, sign in, then build the views.
import { Api } from "./api.js";
import { forget, renderSignIn, renew, signIn } from "./auth.js";
import { credits, h, toast } from "./dom.js";
import { Live } from "./live.js";
import { initCreate } from "./create.js";
import { initGallery } from "./gallery.js";
import { initCredits } from "./credits.js";
import { initAdmin } from "./admin.js";

const VIEWS = ["signin", "create", "gallery", "credits", "admin"];

const app = {
  api: new Api(),
  config: null,
  me: null,
  models: [],
  webApp: null,
  live: null,
  show,
  refreshMe,
};
window.addEventListener("error", (event) => toast(`Something went wrong: ${event.message}`, "error"));

function show(view) {
  for (const name of VIEWS) {
    const section = document.getElementById(`view-${name}`);
    if (section) section.hidden = name !== view;
  }
  for (const button of document.querySelectorAll("#nav button")) {
    if (button.dataset.view === view) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  app.current = view;
  if (app.onShow && app.onShow[view]) app.onShow[view]();
}

async function refreshMe() {
  const me = await app.api.get("/api/me");
  app.me = { ...me.user, is_admin: Boolean(me.is_admin) };
  const balance = document.getElementById("balance");
  balance.textContent = credits(app.me.credits);
  balance.hidden = false;
  for (const listener of app.balanceListeners || []) listener(app.me.credits);
  return app.me;
}

function onBalance(listener) {
  (app.balanceListeners ||= []).push(listener);
}
app.onBalance = onBalance;

async function startSession() {
  const session = await signIn(app.api, app.config);
  if (!session) return false;
  app.api.token = session.token;
  app.webApp = session.webApp || null;
  app.api.renew = async () => {
    app.api.token = await renew(app.api, app.config, session);
    return app.api.token;
  };
  try {
    await refreshMe();
  } catch (error) {
    if (error.status !== 401) throw error;
    return false;  // refused, and no way to a new token: the sign-in form
  }
  return true;
}

async function boot() {
  app.config = await app.api.get("/studio/config.json");
  document.getElementById("loading").hidden = true;
  if (!(await startSession())) {
    renderSignIn(app.config);
    show("signin");
    document.body.dataset.ready = "true";
    return;
  }
  app.models = (await app.api.get("/api/models/list")).models;
  const nav = document.getElementById("nav");
  nav.hidden = false;
  nav.querySelector('[data-view="admin"]').hidden = !app.me.is_admin;
  nav.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-view]");
    if (button) show(button.dataset.view);
  });
  document.getElementById("balance").addEventListener("click", () => show("credits"));
  app.onShow = {};
  app.gallery = initGallery(app);
  app.create = initCreate(app);
  app.credits = initCredits(app);
  if (app.me.is_admin) app.admin = initAdmin(app);
  app.live = new Live(app.api, app.config.features.events, (generation) => app.gallery.update(generation));
  app.live.start();
  // A page left behind (or kept in the back-forward cache) must not hold its stream open:
  // browsers allow only a few connections per host. Coming back reloads it.
  window.addEventListener("pagehide", () => app.live.stop());
  window.addEventListener("pageshow", (event) => { if (event.persisted) location.reload(); });
  app.api.addEventListener("payment-required", (event) => app.credits.needMore(event.detail));
  app.api.addEventListener("unauthorized", () => {
    forget();
    toast("Your session ended: reload the page to sign in again.", "error");
  });
  await app.gallery.load();
  app.credits.resumePurchase();
  show("create");
  document.body.dataset.ready = "true";
}

boot().catch((error) => {
  document.getElementById("loading").hidden = true;
  const main = document.getElementById("main");
  main.append(h("p", { class: "error", role: "alert", text: `The studio could not start: ${error.message}` }));
});

export { app };
