// The gallery: the caller's history (GET /api/generations/list) with the action and status
// filters and paging, live updates from live.js, full-size view, download, delete.
import { ACTIONS, STATUSES, append, clear, credits, h, isTerminal, newestLoad, safeUrl, toast, when } from "./dom.js";

const LIMIT = 12;

export function initGallery(app) {
  const root = document.getElementById("view-gallery");
  const state = { page: 1, totalPages: 1, total: 0, action: "", status: "", items: [] };
  const known = new Map();  // every generation seen, for "an earlier result"

  const actionFilter = h("select", { id: "filter-action", name: "action" },
    h("option", { value: "", text: "All actions" }),
    Object.entries(ACTIONS).map(([value, text]) => h("option", { value, text })));
  const statusFilter = h("select", { id: "filter-status", name: "status" },
    h("option", { value: "", text: "All statuses" }),
    STATUSES.map((value) => h("option", { value, text: value })));
  const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter the gallery" },
    h("div", { class: "stack" }, h("label", { for: "filter-action", text: "Action" }), actionFilter),
    h("div", { class: "stack" }, h("label", { for: "filter-status", text: "Status" }), statusFilter));
  for (const select of [actionFilter, statusFilter]) {
    select.addEventListener("change", () => {
      state.action = actionFilter.value;
      state.status = statusFilter.value;
      state.page = 1;
      load();
    });
  }
  const list = h("div", { id: "gallery-list", class: "grid", "aria-live": "polite" });
  const previous = h("button", { type: "button", text: "Previous page", onclick: () => { state.page -= 1; load(); } });
  const next = h("button", { type: "button", text: "Next page", onclick: () => { state.page += 1; load(); } });
  const where = h("span", { class: "muted" });
  const pager = h("nav", { class: "pager", "aria-label": "Gallery pages" }, previous, where, next);
  append(root, [filters, list, pager]);

  const viewer = document.getElementById("viewer");
  document.getElementById("viewer-close").addEventListener("click", () => viewer.close());
  viewer.addEventListener("click", (event) => { if (event.target === viewer) viewer.close(); });

  function open(url, alt) {
    const image = document.getElementById("viewer-image");
    image.src = url;
    image.alt = alt;
    document.getElementById("viewer-download").href = url;
    viewer.showModal();
  }

  const beginLoad = newestLoad();

  async function load() {
    const current = beginLoad();
    const params = new URLSearchParams({ page: String(state.page), limit: String(LIMIT) });
    if (state.action) params.set("action", state.action);
    if (state.status) params.set("status", state.status);
    const asked = app.live ? app.live.now() : 0;
    const page = await app.api.get(`/api/generations/list?${params}`);
    if (!current()) return;
    state.items = page.generations.map((generation) => newest(generation, asked));
    state.total = page.total;
    state.totalPages = Math.max(1, page.totalPages || 1);
    if (state.page > state.totalPages && state.page > 1) {
      state.page = state.totalPages;
      return load();
    }
    for (const generation of state.items) {
      known.set(generation.id, generation);
      app.live && app.live.watch(generation);
    }
    render();
  }

  // The generation a read asked at `asked` brought, unless newer news of it came meanwhile.
  function newest(generation, asked) {
    const heard = app.live && app.live.heardSince(generation.id, asked) && known.get(generation.id);
    return heard || generation;
  }

  function matches(generation) {
    return (!state.action || generation.action === state.action)
      && (!state.status || generation.status === state.status);
  }

  function render() {
    clear(list);
    if (!state.items.length) list.append(h("p", { class: "muted", text: state.total ? "Nothing on this page." : "Nothing here yet: create something." }));
    for (const generation of state.items) list.append(card(generation));
    where.textContent = `Page ${state.page} of ${state.totalPages} · ${state.total} in all`;
    previous.disabled = state.page <= 1;
    next.disabled = state.page >= state.totalPages;
  }

  function modelName(generation) {
    const model = app.models.find((m) => m.id === generation.model_id);
    return model ? model.displayName : generation.model_name;
  }

  function label(generation) {
    const text = generation.prompt ? generation.prompt.slice(0, 60) : generation.model_name;
    return `${ACTIONS[generation.action] || generation.action}: ${text}`;
  }

  function card(generation) {
    const urls = (generation.output_urls || []).map(safeUrl).filter(Boolean);
    const done = generation.status === "completed" && urls.length > 0;
    const running = !isTerminal(generation.status);
    const media = done
      ? h("div", { class: "media" }, urls.map((url, index) => h("button", {
        type: "button", class: "thumb", "aria-label": `View result ${index + 1} full size`,
        onclick: () => open(url, label(generation)),
      }, h("img", { src: url, alt: label(generation), loading: "lazy", decoding: "async" }))))
      : h("div", { class: `media placeholder ${running ? "busy" : ""}`, text: running ? "Working…" : generation.status });
    const body = h("div", { class: "body" },
      h("p", { class: "meta" },
        h("span", { class: `badge status-${generation.status}`, text: generation.status }), " ",
        h("span", { text: `${ACTIONS[generation.action] || generation.action} · ${modelName(generation)}` })),
      generation.prompt ? h("p", { class: "prompt", text: generation.prompt }) : null,
      h("p", { class: "muted small", text: `${when(generation.created_at)} · ${credits(generation.cost)}` }));
    if (generation.status === "failed") {
      append(body, [
        h("p", { class: "error", text: generation.error_message || "The generation failed." }),
        h("p", { class: "refund", text: `${credits(generation.cost)} came back to your balance.` }),
      ]);
    } else if (generation.status === "canceled") {
      body.append(h("p", { class: "refund", text: `Canceled: ${credits(generation.cost)} came back to your balance.` }));
    }
    const tools = h("div", { class: "tools" });
    if (done) {
      const first = urls[0];
      append(tools, [
        h("a", { class: "button", href: first, download: "", text: "Download" }),
        h("button", { type: "button", text: "Upscale this", onclick: () => app.create.useResult("upscale", first) }),
        h("button", { type: "button", text: "Remove background", onclick: () => app.create.useResult("remove_bg", first) }),
        h("button", { type: "button", text: "Edit this", onclick: () => app.create.useResult("edit", first) }),
      ]);
    }
    tools.append(deleteButton(generation, running));
    return h("article", { class: "card", "data-id": generation.id, "data-status": generation.status, "aria-label": label(generation) },
      media, body, tools);
  }

  function deleteButton(generation, running) {
    const idle = running ? "Cancel" : "Delete";
    const button = h("button", { type: "button", class: "danger", text: idle });
    let armed = null;
    button.addEventListener("click", async () => {
      if (!armed) {
        button.textContent = running ? "Cancel: sure?" : "Delete: sure?";
        armed = setTimeout(() => { armed = null; button.textContent = idle; }, 4000);
        return;
      }
      clearTimeout(armed);
      button.disabled = true;
      const before = app.me.credits;
      try {
        await app.api.delete(`/api/generations/${encodeURIComponent(generation.id)}`);
      } catch (error) {
        button.disabled = false;
        toast(`Not deleted: ${error.message}`, "error");
        return;
      }
      app.live.forget(generation.id);
      known.delete(generation.id);
      await app.refreshMe();
      const refund = app.me.credits - before;
      toast(refund > 0 ? `${running ? "Canceled and deleted" : "Deleted"}: ${credits(refund)} refunded.`
        : "Deleted.", "success");
      await load();
    });
    return button;
  }

  return {
    load,
    // A generation just created (read at `asked`): shown at once, on the first page
    // without filters; what is shown is returned.
    add(read, asked) {
      const generation = newest(read, asked);
      known.set(generation.id, generation);
      if (state.page !== 1 || !matches(generation)) {
        state.page = 1;
        state.action = actionFilter.value = "";
        state.status = statusFilter.value = "";
        load();
        return generation;
      }
      state.items = [generation, ...state.items.filter((g) => g.id !== generation.id)].slice(0, LIMIT);
      state.total += 1;
      render();
      return generation;
    },
    update(generation) {
      const before = known.get(generation.id);
      known.set(generation.id, generation);
      const index = state.items.findIndex((g) => g.id === generation.id);
      if (index >= 0) {
        state.items[index] = generation;
        const old = list.querySelector(`[data-id="${CSS.escape(generation.id)}"]`);
        if (old) old.replaceWith(card(generation));
      }
      if (before && !isTerminal(before.status) && isTerminal(generation.status)) {
        app.refreshMe();
        if (generation.status === "failed") {
          toast(`Failed: ${generation.error_message || "no reason given"}. ${credits(generation.cost)} came back.`, "error");
        }
      }
    },
    results() {
      const out = [];
      for (const generation of known.values()) {
        if (generation.status !== "completed") continue;
        for (const url of generation.output_urls || []) {
          if (safeUrl(url)) out.push({ url, label: label(generation) });
        }
      }
      return out;
    },
  };
}
