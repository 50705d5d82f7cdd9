/* Segment: a segmenter from --runs on the current image; segments from the classifier's gradients (a job). */
"use strict";
(() => {
  const { $, el, api, withImage } = Studio;
  let timer = null;
  let saJob = null;

  const alpha = () => Number($("#segment-alpha").value) / 100;
  function showAlpha() { $("#segment-alpha-text").textContent = Math.round(alpha() * 100) + "%"; }
  const undo = () => Number($("#segment-undo").value) / 100;
  function showUndo() { $("#segment-undo-text").textContent = "tau " + undo().toFixed(2); }

  async function listSegmenters() {
    const doc = await api.get("/api/models");
    const segs = doc.models.filter((m) => m.task === "segmenter");
    const sel = $("#segment-model");
    const keep = sel.value;
    sel.replaceChildren(...segs.map((m) => el("option", { value: m.name }, m.label)));
    if (segs.some((m) => m.name === keep)) sel.value = keep;
    $("#segment-none").hidden = segs.length > 0;
    $("#segment-controls").hidden = segs.length === 0;
    return segs.length > 0;
  }

  async function refresh() {
    if (!(await listSegmenters())) return;
    const model = $("#segment-model").value;
    const control = $("#segment-undo-control");
    // the slider belongs to one run: another run starts from its own predictions (tau 0)
    if (control.dataset.model !== model) { $("#segment-undo").value = 0; showUndo(); }
    const doc = await api.post("/api/segment", { model, image: Studio.state.image, alpha: alpha(),
                                               undo_weights: control.dataset.model === model ? undo() : 0 });
    control.dataset.model = model;
    control.hidden = !doc.class_weights;
    $("#segment-overlay").src = doc.overlay;
    $("#segment-labels").src = doc.labels;
    const undone = doc.undo_weights ? `; class weights undone, tau ${doc.undo_weights.toFixed(2)}` : "";
    $("#segment-caption").textContent = `${doc.model}: the classes over the image at ${Math.round(doc.alpha * 100)}% ` +
      `opacity (${doc.size[1]}x${doc.size[0]}; the network saw ${doc.input_size[2]}x${doc.input_size[1]}${undone})`;
    $("#segment-caption").dataset.undo = String(doc.undo_weights || 0);
    $("#segment-legend").replaceChildren(...doc.legend.map((c) => el("div", { class: "legend-row" },
      (() => { const s = el("span", { class: "swatch", title: c.color }); s.style.background = c.color; return s; })(),
      el("span", {}, c.class), el("span", { class: "bar-value" }, Studio.percent(c.fraction)))));
    $("#segment-legend").dataset.classes = String(doc.legend.length);
  }

  async function fromGradients() {
    const btn = $("#sa-run");
    btn.disabled = true;
    $("#sa-cancel").hidden = false;
    $("#sa-progress").hidden = false;
    $("#sa-progress").value = 0;
    const done = () => { btn.disabled = false; $("#sa-cancel").hidden = true; };
    try {
      saJob = await Studio.job("/api/segment/attribution", withImage({
        method: $("#sa-method").value, refine: $("#sa-refine").value, threshold: Number($("#sa-threshold").value),
      }), {
        onProgress: (j) => { $("#sa-progress").value = j.progress; $("#sa-status").textContent = j.message; },
        onDone: render,
        onEnd: (j) => {
          done();
          $("#sa-progress").hidden = j.status === "done";
          $("#sa-status").textContent = j.status === "done" ? "" : j.status;
        },
      });
    } catch (e) {
      done();
      $("#sa-progress").hidden = true;
      Studio.showError(e.message);
    }
  }

  function render(res) {
    $("#sa-result").hidden = false;
    $("#sa-boxed").src = res.boxed;
    $("#sa-heat").src = res.heat;
    $("#sa-segment").src = res.segment;
    $("#sa-caption").textContent = `${res.class} ${Studio.percent(res.prob)}: ` + (res.found
      ? `box (${res.box.map((v) => v.toFixed(0)).join(", ")})` : "no segment found (the box is the whole image)");
    $("#sa-heat-caption").textContent = `${res.method} map of ${res.model}`;
    $("#sa-segment-caption").textContent = `${res.refine === "grabcut" ? "GrabCut" : "threshold"} segment: ` +
      `${Studio.percent(res.coverage)} of the pixels`;
    $("#sa-result").dataset.found = String(res.found);
  }

  $("#segment-alpha").addEventListener("input", () => {
    showAlpha();
    clearTimeout(timer);
    timer = setTimeout(() => Studio.refresh("segment"), 250);
  });
  $("#segment-undo").addEventListener("input", () => {
    showUndo();
    clearTimeout(timer);
    timer = setTimeout(() => Studio.refresh("segment"), 250);
  });
  $("#segment-model").addEventListener("change", () => Studio.refresh("segment"));
  $("#sa-run").addEventListener("click", fromGradients);
  $("#sa-cancel").addEventListener("click", () => saJob && saJob.cancel());
  $("#segment-rescan").addEventListener("click", () => Studio.refresh("segment"));
  showAlpha();
  showUndo();
  Studio.panel("segment", { refresh });
})();
