// The operators' pages, shown to admins only (the API refuses everyone else anyway):
// the Replicate token pool, purchases with refunds, and granting credits.
import { append, clear, h, newestLoad, toast, when } from "./dom.js";

export function initAdmin(app) {
  const root = document.getElementById("view-admin");
  const features = app.config.features;
  const tokens = h("div", { id: "admin-tokens", class: "scroll" });
  const totals = h("p", { class: "muted" });
  const purchases = h("div", { id: "admin-purchases", class: "scroll" });

  const tokenInput = h("input", { id: "admin-token", type: "password", required: true, autocomplete: "off" });
  const labelInput = h("input", { id: "admin-label", type: "text" });
  const addForm = h("form", { class: "stack" },
    h("label", { for: "admin-token", text: "Replicate token" }), tokenInput,
    h("label", { for: "admin-label", text: "Label" }), labelInput,
    h("button", { type: "submit", text: "Add token" }));
  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await app.api.post("/api/admin/tokens", { token: tokenInput.value, label: labelInput.value || null });
      tokenInput.value = "";
      labelInput.value = "";
      toast("Token added.", "success");
      loadTokens();
    } catch (error) {
      toast(`Not added: ${error.message}`, "error");
    }
  });

  const userInput = h("input", { id: "grant-user", type: "text", required: true });
  const amountInput = h("input", { id: "grant-amount", type: "number", step: "1", required: true });
  const reasonInput = h("input", { id: "grant-reason", type: "text" });
  const grantForm = h("form", { class: "stack" },
    h("label", { for: "grant-user", text: "User id" }), userInput,
    h("label", { for: "grant-amount", text: "Credits (negative deducts)" }), amountInput,
    h("label", { for: "grant-reason", text: "Reason" }), reasonInput,
    h("button", { type: "submit", text: "Apply" }));
  grantForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const done = await app.api.post("/api/admin/credits",
        { user_id: userInput.value.trim(), amount: Number.parseInt(amountInput.value, 10), reason: reasonInput.value },
        { headers: { "Idempotency-Key": `${userInput.value}:${amountInput.value}:${Date.now()}` } });
      toast(`Balance of ${done.user_id} is now ${done.credits}.`, "success");
      if (done.user_id === app.me.id) app.refreshMe();
    } catch (error) {
      toast(`Not applied: ${error.message}`, "error");
    }
  });

  append(root, [
    h("h2", { text: "Token pool" }), totals, tokens, addForm,
    h("h2", { text: "Purchases" }), purchases,
    h("h2", { text: "Grant or deduct credits" }), grantForm,
  ]);

  // As in credits.js: each list shows its newest load's answer only.
  const beginTokens = newestLoad();
  const beginPurchases = newestLoad();

  async function loadTokens() {
    const current = beginTokens();
    const stats = await app.api.get("/api/admin/tokens/stats");
    if (!current()) return;
    const t = stats.totals;
    totals.textContent = `${t.active_tokens} of ${t.total_tokens} active · ${t.total_requests} requests · ${t.total_errors} errors`;
    const rows = stats.tokens.map((token) => h("tr", {},
      h("td", { text: token.label }), h("td", { text: token.token }),
      h("td", { text: String(token.request_count) }), h("td", { text: String(token.error_count) }),
      h("td", { text: token.error_rate_percent == null ? "–" : `${token.error_rate_percent}%` }),
      h("td", { text: when(token.last_used_at) || "never" }),
      h("td", { text: when(token.cooldown_until) || "–" }),
      h("td", { text: token.is_active ? "yes" : `no${token.disabled_reason ? ` (${token.disabled_reason})` : ""}` }),
      h("td", {}, h("button", { type: "button", text: token.is_active ? "Deactivate" : "Activate",
        onclick: async () => {
          try {
            await app.api.patch(`/api/admin/tokens/${encodeURIComponent(token.id)}`, { is_active: !token.is_active });
            loadTokens();
          } catch (error) { toast(error.message, "error"); }
        } }))));
    clear(tokens).append(h("table", {},
      h("thead", {}, h("tr", {}, ["Label", "Token", "Requests", "Errors", "Error rate", "Last used", "Cooldown", "Active", ""].map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", {}, rows)));
  }

  async function loadPurchases() {
    const current = beginPurchases();
    if (!features.admin_purchases) {
      clear(purchases);
      purchases.append(h("p", { class: "muted", text: "Purchases are not available on this server." }));
      return;
    }
    let listed;
    try {
      listed = await app.api.get("/api/admin/purchases", { quiet: [404] });
    } catch (error) {
      if (!current()) return;
      clear(purchases);
      purchases.append(h("p", { class: "muted", text: error.message }));
      return;
    }
    if (!current()) return;
    clear(purchases);
    const items = listed.purchases || listed.items || [];
    if (!items.length) purchases.append(h("p", { class: "muted", text: "No purchases yet." }));
    const rows = items.map((p) => h("tr", {},
      h("td", { text: when(p.created_at) }), h("td", { text: p.user_id || "" }),
      h("td", { text: p.pack_id || "" }), h("td", { text: p.provider || "" }),
      h("td", { text: p.status || "" }),
      h("td", { text: p.shortfall ? String(p.shortfall) : "" }),
      h("td", {}, p.status === "paid" ? h("button", { type: "button", class: "danger", text: "Refund",
        onclick: async () => {
          try {
            await app.api.post(`/api/admin/purchases/${encodeURIComponent(p.id || p.purchase_id)}/refund`, {});
            toast("Refund asked of the provider.", "success");
            loadPurchases();
          } catch (error) { toast(error.message, "error"); }
        } }) : null)));
    if (items.length) purchases.append(h("table", {},
      h("thead", {}, h("tr", {}, ["When", "User", "Pack", "Provider", "Status", "Shortfall", ""].map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", {}, rows)));
  }

  app.onShow.admin = () => { loadTokens().catch((e) => toast(e.message, "error")); loadPurchases(); };
  return {};
}
