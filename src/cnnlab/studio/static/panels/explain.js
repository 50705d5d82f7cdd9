/* Explain: methods side by side for a class and a layer; the sanity check as a job. */
"use strict";
(() => {
  const { $, el, api, state, withImage } = Studio;
  const DEFAULT = ["saliency", "guided", "gradcam", "guided-gradcam"];
  let controlsFor = null;  // the model + image the controls were built for
  let sanityJob = null;

  function selectedMethods() {
    return [...document.querySelectorAll("#explain-methods input:checked")].map((i) => i.value);
  }

  async function buildControls() {
    const info = state.info;
    const keep = controlsFor && controlsFor.model === state.model ? selectedMethods() : DEFAULT;
    $("#explain-methods").replaceChildren(...info.methods.map((m) => {
      const box = el("input", { type: "checkbox", value: m.name, checked: keep.includes(m.name) && m.applies,
        disabled: !m.applies });
      return el("label", { class: m.applies ? "" : "disabled", title: m.applies ? `${m.kind} method`
        : "needs a global-average-pooling + linear head" }, box, m.name);
    }));
    const pred = await api.post("/api/predict", withImage({ topk: 5 }));
    $("#explain-target").replaceChildren(el("option", { value: "" }, `predicted: ${pred.topk[0].class}`),
      ...pred.topk.map((p) => el("option", { value: String(p.index) }, `${p.class} (${Studio.percent(p.prob)})`)));
    const layers = info.feature_layers.map((f) => f.module);
    const layerSel = $("#explain-layer");
    layerSel.replaceChildren(...layers.map((l, i) => el("option", { value: l },
      `${l}${i === layers.length - 1 ? " (default)" : ""} · ${info.feature_layers[i].channels} ch, stride ` +
      `${info.feature_layers[i].stride}`)));
    layerSel.value = layers[layers.length - 1];
    $("#explain-index").max = String(info.num_classes - 1);
    controlsFor = { model: state.model, image: state.image };
  }

  function request() {
    const index = $("#explain-index").value.trim();
    const target = index !== "" ? Number(index) : $("#explain-target").value === "" ? null
      : Number($("#explain-target").value);
    return withImage({ methods: selectedMethods(), target, layer: $("#explain-layer").value || null });
  }

  function render(doc) {
    const show = $("#explain-show").value;
    $("#explain-summary").textContent = `Explaining class ${doc.target.index} (${doc.target.class}); layer methods ` +
      `at ${doc.layer}.`;
    $("#explain-grid").replaceChildren(...doc.methods.map((m) => el("div", { class: "card method-card", "data-method": m.method },
      el("h3", {}, m.method),
      m.error ? el("p", { class: "err" }, m.error)
        : [el("img", { src: show === "heat" ? m.heat : m.overlay, alt: `${m.method} map` }),
          el("p", { class: "note" }, `${m.class} ${Studio.percent(m.prob)} · ${Math.round(m.ms)} ms` +
            (m.layer ? ` · ${m.layer}` : ""))])));
    $("#explain-grid").dataset.done = String(Date.now());
  }

  let last = null;
  async function run() {
    if (!selectedMethods().length) { Studio.showError("pick at least one method"); return; }
    last = await api.post("/api/explain", request());
    render(last);
  }

  async function refresh() {
    if (!controlsFor || controlsFor.model !== state.model || controlsFor.image !== state.image) {
      await buildControls();
      $("#explain-index").value = "";
    }
    await run();
  }

  async function sanity() {
    const btn = $("#sanity-run");
    btn.disabled = true;
    $("#sanity-cancel").hidden = false;
    $("#sanity-progress").hidden = false;
    $("#sanity-progress").value = 0;
    $("#sanity-result").replaceChildren();
    const methods = selectedMethods().filter((m) => m !== "occlusion");
    try {
      sanityJob = await Studio.job("/api/explain/sanity", withImage({
        methods: methods.length ? methods : ["saliency", "guided", "gradcam"],
        steps: Number($("#sanity-steps").value), target: request().target,
      }), {
        onProgress: (j) => { $("#sanity-progress").value = j.progress; $("#sanity-status").textContent = j.message; },
        onDone: renderSanity,
        onEnd: (j) => {
          btn.disabled = false;
          $("#sanity-cancel").hidden = true;
          $("#sanity-progress").hidden = j.status === "done";
          $("#sanity-status").textContent = j.status === "done" ? "" : j.status;
        },
      });
    } catch (e) {
      btn.disabled = false;
      $("#sanity-cancel").hidden = true;
      $("#sanity-progress").hidden = true;
      Studio.showError(e.message);
    }
  }

  function renderSanity(res) {
    const head = el("tr", {}, el("th", {}, "randomised down to"), res.methods.map((m) => el("th", {}, m)));
    const rows = res.rows.map((r) => el("tr", {}, r.map((v, i) => el("td", {}, i === 0 ? v : v.toFixed(3)))));
    const cascade = el("div", { class: "cascade" });
    cascade.style.gridTemplateColumns = `8rem repeat(${res.steps.length}, 84px)`;
    cascade.append(el("span", {}), ...res.steps.map((s) => el("span", { class: "head", title: s }, s)));
    for (const m of res.methods) {
      cascade.append(el("span", { class: "head" }, m), ...res.maps[m].map((src, i) => el("img", { src,
        alt: `${m} after randomising down to ${res.steps[i]}` })));
    }
    $("#sanity-result").replaceChildren(
      el("div", { class: "cols" },
        el("table", { class: "sanity" }, el("thead", {}, head), el("tbody", {}, rows)),
        el("img", { class: "sanity-plot", src: res.plot, alt: "rank correlation against randomisation depth" })),
      cascade);
  }

  $("#explain-run").addEventListener("click", () => Studio.busy("explain", run));
  $("#explain-show").addEventListener("change", () => { if (last) render(last); });
  $("#sanity-run").addEventListener("click", sanity);
  $("#sanity-cancel").addEventListener("click", () => sanityJob && sanityJob.cancel());
  Studio.panel("explain", { refresh });
})();
