// Credits: the balance, the ledger (GET /api/credits/history) and the packs
// (GET /api/credits/packs, POST /api/credits/purchase): Telegram.WebApp.openInvoice inside
// Telegram, a redirect to Stripe Checkout in a browser. A 402 anywhere leads here.
import { append, clear, credits, h, newestLoad, safeUrl, toast, when } from "./dom.js";

const KINDS = {
  initial_grant: "Welcome credits",
  hold: "Held for a generation",
  settle: "Charged",
  refund: "Refunded",
  void: "Refunded",
  purchase: "Bought",
  purchase_refund: "Purchase refunded",
  admin_grant: "Granted by an admin",
  admin_deduction: "Deducted by an admin",
  admin: "Adjusted by an admin",
};

function price(pack, provider) {
  if (provider === "telegram") return pack.stars == null ? null : `${pack.stars} ⭐`;
  if (pack.amount == null || !pack.currency) return null;
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: pack.currency.toUpperCase() }).format(pack.amount / 100);
  } catch {
    return `${pack.amount / 100} ${pack.currency}`;
  }
}

export function initCredits(app) {
  const root = document.getElementById("view-credits");
  const features = app.config.features;
  const provider = app.webApp ? "telegram" : "stripe";
  const balance = h("p", { id: "credits-balance", class: "big" });
  const notice = h("p", { id: "credits-notice", class: "notice", role: "alert", hidden: true });
  const packs = h("div", { id: "packs", class: "packs" });
  const history = h("ol", { id: "credit-history", class: "history" });
  const historyPager = h("nav", { class: "pager", "aria-label": "History pages" });
  append(root, [
    h("h2", { text: "Your balance" }), balance, notice,
    h("h2", { text: "Buy credits" }), packs,
    h("h2", { text: "History" }), history, historyPager,
  ]);
  const state = { page: 1 };
  app.onBalance((n) => { balance.textContent = credits(n); });
  balance.textContent = credits(app.me.credits);

  // Each list is emptied and filled only once its newest load has its answer: two loads
  // at once (the view opened twice, a payment landing while it opens) show one list.
  const beginPacks = newestLoad();
  const beginHistory = newestLoad();

  async function loadPacks() {
    const current = beginPacks();
    if (!features.packs) {
      clear(packs);
      packs.append(h("p", { class: "muted", text: "Buying credits is not available on this server." }));
      return;
    }
    let listed;
    try {
      listed = await app.api.get("/api/credits/packs", { quiet: [404, 405] });
    } catch (error) {
      if (!current()) return;
      clear(packs);
      packs.append(h("p", { class: "muted", text: error.status === 404 ? "Buying credits is not available on this server." : `The packs could not be loaded: ${error.message}` }));
      return;
    }
    if (!current()) return;
    clear(packs);
    for (const pack of listed.packs || []) {
      const cost = price(pack, provider);
      append(packs, [h("div", { class: "pack", "data-pack": pack.id },
        h("strong", { text: pack.title }),
        h("span", { text: credits(pack.credits) }),
        h("button", { type: "button", class: "primary", disabled: !cost,
          text: cost ? `Buy for ${cost}` : "Not for sale here", onclick: () => buy(pack) }))]);
    }
  }

  async function buy(pack) {
    let purchase;
    try {
      purchase = await app.api.post("/api/credits/purchase", { pack_id: pack.id, provider });
    } catch (error) {
      toast(`The purchase could not start: ${error.message}`, "error");
      return;
    }
    if (provider === "telegram") {
      app.webApp.openInvoice(purchase.invoice_link, (status) => {
        if (status === "paid") watchPayment(purchase.purchase_id);
        else if (status === "failed") toast("The payment failed.", "error");
      });
      return;
    }
    const target = safeUrl(purchase.checkout_url);
    if (target) location.assign(target);
    else toast("The checkout address is not valid.", "error");
  }

  // The credits arrive with the provider's webhook; the balance follows.
  async function watchPayment(purchaseId) {
    toast("Payment received: waiting for your credits…");
    const before = app.me.credits;
    for (let i = 0; i < 120; i += 1) {
      try {
        const purchase = await app.api.get(`/api/credits/purchases/${encodeURIComponent(purchaseId)}`);
        if (purchase.status !== "pending") {
          await app.refreshMe();
          if (purchase.status === "paid") toast(`${credits(app.me.credits - before)} added.`, "success");
          else toast(`The purchase ended as ${purchase.status}.`, "error");
          notice.hidden = true;
          loadHistory();
          return;
        }
      } catch (error) {
        if (error.status === 404) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
  }

  async function loadHistory() {
    const current = beginHistory();
    if (!features.credit_history) {
      clear(history);
      clear(historyPager);
      history.append(h("li", { class: "muted", text: "The credit history is not available on this server." }));
      return;
    }
    let page;
    try {
      page = await app.api.get(`/api/credits/history?page=${state.page}&limit=20`, { quiet: [404] });
    } catch (error) {
      if (!current()) return;
      clear(history);
      clear(historyPager);
      history.append(h("li", { class: "muted", text: `The history could not be loaded: ${error.message}` }));
      return;
    }
    if (!current()) return;
    clear(history);
    clear(historyPager);
    const entries = page.entries || page.items || page.history || [];
    if (!entries.length) history.append(h("li", { class: "muted", text: "No entries yet." }));
    for (const entry of entries) {
      const amount = Number(entry.amount) || 0;
      const after = entry.balance_after ?? entry.balance;
      history.append(h("li", {},
        h("span", { class: amount < 0 ? "minus" : "plus", text: `${amount > 0 ? "+" : ""}${amount}` }),
        h("span", { text: KINDS[entry.kind] || String(entry.kind || "") }),
        after != null ? h("span", { class: "muted", text: `→ ${after}` }) : null,
        h("span", { class: "muted small", text: when(entry.created_at || entry.at || entry.time) })));
    }
    const pages = Math.max(1, page.totalPages || 1);
    append(historyPager, [
      h("button", { type: "button", text: "Newer", disabled: state.page <= 1, onclick: () => { state.page -= 1; loadHistory(); } }),
      h("span", { class: "muted", text: `Page ${state.page} of ${pages}` }),
      h("button", { type: "button", text: "Older", disabled: state.page >= pages, onclick: () => { state.page += 1; loadHistory(); } }),
    ]);
  }

  app.onShow.credits = () => { loadPacks(); loadHistory(); };
  return {
    // A 402: not an error, the packs.
    needMore(error) {
      const { needed, available } = error.problem || {};
      notice.textContent = needed != null
        ? `That needs ${credits(needed)}; you have ${credits(available ?? app.me.credits)}. Buy a pack to go on.`
        : "You do not have enough credits for that. Buy a pack to go on.";
      notice.hidden = false;
      app.show("credits");
      app.refreshMe().catch(() => {});
    },
    // Back from Stripe Checkout: ?purchase_id=... names the purchase to wait for.
    resumePurchase() {
      const params = new URLSearchParams(location.search);
      const id = params.get("purchase_id") || params.get("purchase");
      if (!id) return;
      params.delete("purchase_id");
      params.delete("purchase");
      const rest = params.toString();
      window.history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : ""));
      watchPayment(id);
    },
  };
}
