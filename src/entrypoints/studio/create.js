// Creating: what to do → which model → its settings form, generated from the model's
// settings schema (GET /api/models/list), with the price shown before anything is sent.
import { ACTIONS, append, clear, credits, h, safeUrl, toast } from "./dom.js";

const PROMPT = "prompt";
const IMAGE = "input_image_url";

function randomKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function initCreate(app) {
  const root = document.getElementById("view-create");
  const actions = Object.keys(ACTIONS).filter((a) => app.models.some((m) => m.action === a));
  const state = { action: actions[0] || "create", modelId: null, image: null };
  const container = h("div", { class: "stack" });
  append(root, [container]);

  function modelsFor(action) {
    return app.models.filter((m) => m.action === action);
  }

  function field(spec, id) {
    const common = { id, name: spec.name, required: spec.required || null };
    if (spec.type === "select" && Array.isArray(spec.options)) {
      const select = h("select", common, spec.options.map((option, index) =>
        h("option", { value: String(index), text: String(option), selected: option === spec.default })));
      select.read = () => spec.options[Number(select.value)];
      return select;
    }
    if (spec.type === "boolean") {
      const box = h("input", { ...common, type: "checkbox", checked: Boolean(spec.default), required: null });
      box.read = () => box.checked;
      return box;
    }
    if (spec.type === "integer" || spec.type === "number") {
      const input = h("input", {
        ...common, type: "number", inputmode: spec.type === "integer" ? "numeric" : "decimal",
        min: spec.min ?? null, max: spec.max ?? null, step: spec.type === "integer" ? "1" : "any",
        value: spec.default ?? "",
      });
      input.read = () => (input.value === "" ? undefined
        : spec.type === "integer" ? Number.parseInt(input.value, 10) : Number(input.value));
      return input;
    }
    const input = spec.type === "textarea"
      ? h("textarea", { ...common, rows: 3 })
      : h("input", { ...common, type: spec.type === "image" ? "url" : "text" });
    input.value = spec.default ?? "";
    input.read = () => (input.value.trim() === "" ? undefined : input.value);
    return input;
  }

  function imagePicker(spec) {
    const box = h("fieldset", { class: "stack picker" }, h("legend", { text: spec.label || "Input image" }));
    const preview = h("img", { class: "preview", alt: "The chosen input image", hidden: !state.image });
    if (state.image) preview.src = state.image;
    const choose = (url) => {
      state.image = safeUrl(url);
      preview.hidden = !state.image;
      if (state.image) preview.src = state.image;
      else preview.removeAttribute("src");
    };
    if (app.config.features.uploads) {
      const file = h("input", { id: "create-upload", type: "file", accept: "image/png,image/jpeg,image/webp" });
      file.addEventListener("change", async () => {
        const picked = file.files && file.files[0];
        if (!picked) return;
        try {
          const uploaded = await app.api.post("/api/uploads", picked, { headers: { "Content-Type": picked.type || "application/octet-stream" } });
          choose(uploaded.url);
          earlier.value = "";
          toast("Photo uploaded.");
        } catch (error) {
          if (error.status === 404 || error.status === 405) app.config.features.uploads = false;
          toast(`The photo was not accepted: ${error.message}`, "error");
        }
      });
      append(box, [h("label", { for: "create-upload", text: "A photo from your device" }), file]);
    }
    const results = app.gallery.results();
    const earlier = h("select", { id: "create-earlier" },
      h("option", { value: "", text: results.length ? "Choose one of your results" : "No results yet: create one first" }),
      results.map((r) => h("option", { value: r.url, text: r.label, selected: r.url === state.image })));
    earlier.addEventListener("change", () => choose(earlier.value || null));
    append(box, [h("label", { for: "create-earlier", text: "An earlier result" }), earlier, preview]);
    return box;
  }

  // Re-rendered on every choice; `focus` names the control that keeps the keyboard focus.
  function render(focus = null) {
    clear(container);
    if (focus) queueMicrotask(() => { const el = container.querySelector(focus); if (el) el.focus(); });
    const model = modelsFor(state.action).find((m) => m.id === state.modelId) || modelsFor(state.action)[0];
    state.modelId = model ? model.id : null;

    const tabs = h("fieldset", { class: "actions" }, h("legend", { text: "What to do" }),
      actions.map((action) => h("label", { class: "choice" },
        h("input", { type: "radio", name: "action", value: action, checked: action === state.action,
          onchange: () => { state.action = action; state.modelId = null; render(`input[name="action"][value="${action}"]`); } }),
        h("span", { text: ACTIONS[action] }))));
    const modelSelect = h("select", { id: "create-model", name: "model" },
      modelsFor(state.action).map((m) => h("option", { value: m.id, text: `${m.displayName} · ${credits(m.price)}`, selected: m.id === state.modelId })));
    modelSelect.addEventListener("change", () => { state.modelId = modelSelect.value; render("#create-model"); });
    append(container, [tabs, h("div", { class: "stack" }, h("label", { for: "create-model", text: "Model" }), modelSelect)]);
    if (!model) {
      container.append(h("p", { text: "No model does this here." }));
      return;
    }
    if (model.description) container.append(h("p", { class: "muted", text: model.description }));

    const form = h("form", { id: "create-form", class: "stack", novalidate: true });
    const inputs = [];
    let picker = null;
    for (const spec of model.settings) {
      if (spec.name === IMAGE) {
        picker = imagePicker(spec);
        form.append(picker);
        continue;
      }
      const id = `setting-${spec.name}`;
      const input = field(spec, id);
      inputs.push([spec, input]);
      const label = h("label", { for: id, text: spec.label || spec.name });
      const numeric = spec.type === "integer" || spec.type === "number";
      if (!numeric && spec.max != null) input.maxLength = spec.max;
      const hint = numeric && (spec.min != null || spec.max != null)
        ? h("span", { class: "muted hint", text: ` (${spec.min ?? "…"}–${spec.max ?? "…"})` }) : null;
      if (spec.type === "boolean") form.append(h("div", { class: "check" }, input, label));
      else form.append(h("div", { class: "stack" }, h("div", {}, label, hint), input));
      input.addEventListener("input", showPrice);
    }
    const price = h("p", { id: "create-price", class: "price", "aria-live": "polite" });
    const problem = h("p", { id: "create-problem", class: "error", role: "alert", hidden: true });
    const submit = h("button", { type: "submit", class: "primary", text: ACTIONS[state.action] });
    append(form, [price, problem, submit]);
    container.append(form);

    function cost() {
      const count = inputs.find(([spec]) => spec.name === "num_outputs");
      const n = count ? Number(count[1].read() ?? count[0].default ?? 1) : 1;
      return model.price * (Number.isFinite(n) && n > 0 ? n : 1);
    }
    function showPrice() {
      const total = cost();
      const balance = app.me.credits;
      price.textContent = `Costs ${credits(total)} · your balance: ${credits(balance)}`;
      price.classList.toggle("short", total > balance);
    }
    showPrice();
    state.showPrice = showPrice;

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      problem.hidden = true;
      const body = { action: state.action, model_id: model.id, settings: {} };
      for (const [spec, input] of inputs) {
        const value = input.read();
        if (value === undefined) continue;
        if (spec.name === PROMPT) body.prompt = value;
        else body.settings[spec.name] = value;
      }
      if (picker) {
        if (!state.image) {
          problem.textContent = "Choose an input image first.";
          problem.hidden = false;
          return;
        }
        body.input_image_url = state.image;
      }
      submit.disabled = true;
      try {
        const created = await app.api.post("/api/generations/create", body, { headers: { "Idempotency-Key": randomKey() } });
        const asked = app.live.now();
        const read = await app.api.get(`/api/generations/${encodeURIComponent(created.id)}`);
        app.live.watch(app.gallery.add(read, asked));
        await app.refreshMe();
        toast(`Started: ${ACTIONS[state.action]} with ${model.displayName}.`);
        app.show("gallery");
      } catch (error) {
        if (error.status !== 402) {
          const where = error.problem.field ? ` (${error.problem.field})` : "";
          problem.textContent = `${error.message}${where}`;
          problem.hidden = false;
        }
      } finally {
        submit.disabled = false;
      }
    });
  }

  app.onBalance(() => state.showPrice && state.showPrice());
  render();
  app.onShow.create = render;
  return {
    // "Upscale this", "Remove its background", "Edit this" on a gallery item.
    useResult(action, url) {
      state.action = action;
      state.modelId = null;
      state.image = safeUrl(url);
      app.show("create");
    },
  };
}
