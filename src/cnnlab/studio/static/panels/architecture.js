/* Architecture: the summary table; a layer's feature maps and a unit's receptive field on the image. */
"use strict";
(() => {
  const { $, el, api, state, withImage, placeBox } = Studio;
  let current = null;  // {layer, shape, input_size, channel, unit}

  const fmt = (n) => n.toLocaleString("en-US");
  const rfText = (v) => (v === null || v === undefined ? "" : Array.isArray(v) ? v.join("x") : String(v));

  async function refresh() {
    const depth = $("#arch-depth").value;
    const doc = await api.post("/api/architecture", { model: state.model, depth });
    const t = doc.totals;
    $("#arch-totals").textContent = `${doc.model} at ${t.input_size.slice(1).join("x")}: ${fmt(t.total_params)} ` +
      `parameters (${(t.param_bytes / 2 ** 20).toFixed(1)} MB), ${fmt(Math.round(t.total_flops / 1e6))} MFLOPs, ` +
      `forward activations ${(t.activation_bytes / 2 ** 20).toFixed(1)} MB`;
    const body = $("#arch-table tbody");
    body.replaceChildren(...doc.rows.map((r) => {
      const shape = Array.isArray(r.output_shape[0]) ? r.output_shape.map((s) => s.join("x")).join(", ")
        : r.output_shape.slice(1).join("x");
      const tr = el("tr", { class: r.clickable ? "clickable" : "dim", "data-layer": r.name, title: r.clickable
        ? "show this layer's feature maps" : "" },
        el("td", {}, r.name), el("td", {}, r.type), el("td", {}, shape), el("td", { class: "num" }, fmt(r.params)),
        el("td", { class: "num" }, fmt(Math.round(r.memory_kb))), el("td", { class: "num" }, (r.flops / 1e6).toFixed(1)),
        el("td", { class: "num" }, rfText(r.rf && r.rf.size)), el("td", { class: "num" }, rfText(r.rf && r.rf.stride)));
      if (r.clickable) tr.addEventListener("click", () => Studio.busy("architecture", () => showLayer(r.name)));
      return tr;
    }));
    if (current && doc.rows.some((r) => r.name === current.layer && r.clickable)) await showLayer(current.layer);
    else { current = null; $("#arch-detail").hidden = true; $("#arch-hint").hidden = false; }
  }

  function drawRF(doc) {
    placeBox($("#arch-box"), doc.box, current.input_size);
    const [, h, w] = current.shape;
    $("#arch-rf-text").textContent = doc.box
      ? `Unit (${doc.unit[0]}, ${doc.unit[1]}) of channel ${current.channel} (map ${h}x${w}) sees input rows ` +
        `${doc.box[0]}–${doc.box[2] - 1}, columns ${doc.box[1]}–${doc.box[3] - 1}: a ${doc.box[2] - doc.box[0]}x` +
        `${doc.box[3] - doc.box[1]} box (cnnlab.analysis.receptive_boxes; clipped at the image border).`
      : `No exact box for this layer: ${doc.rf_note}`;
    for (const fig of document.querySelectorAll("#arch-maps .map")) {
      const on = Number(fig.dataset.channel) === current.channel;
      fig.classList.toggle("selected", on);
      const dot = fig.querySelector(".unit-dot");
      dot.hidden = !on;
      if (on) {
        dot.style.top = (100 * (doc.unit[0] + 0.5) / h) + "%";
        dot.style.left = (100 * (doc.unit[1] + 0.5) / w) + "%";
      }
    }
  }

  async function showLayer(layer) {
    const doc = await api.post("/api/features", withImage({ layer, max_maps: 16 }));
    current = { layer, shape: doc.shape, input_size: doc.input_size, channel: doc.channel, unit: doc.unit };
    for (const tr of document.querySelectorAll("#arch-table tr")) tr.classList.toggle("selected", tr.dataset.layer === layer);
    $("#arch-hint").hidden = true;
    $("#arch-detail").hidden = false;
    $("#arch-layer-title").textContent = `${layer}: ${doc.shape[0]} maps of ${doc.shape[1]}x${doc.shape[2]} ` +
      `(the ${doc.maps.length} most active shown)`;
    $("#arch-seen").src = doc.seen;
    $("#arch-maps").replaceChildren(...doc.maps.map((m) => {
      const img = el("img", { src: m.png, alt: `channel ${m.channel}` });
      const fig = el("figure", { class: "map", "data-channel": m.channel },
        el("div", { class: "map-img" }, img, el("span", { class: "unit-dot", hidden: true })),
        el("figcaption", {}, `ch ${m.channel} · max ${m.max.toFixed(2)}`));
      img.addEventListener("click", (e) => {
        const r = img.getBoundingClientRect();
        const [, h, w] = current.shape;
        const unit = [Math.min(h - 1, Math.floor((e.clientY - r.top) / r.height * h)),
          Math.min(w - 1, Math.floor((e.clientX - r.left) / r.width * w))];
        pickUnit(m.channel, unit).catch((err) => Studio.showError(err.message));
      });
      return fig;
    }));
    drawRF(doc);
  }

  async function pickUnit(channel, unit) {
    const doc = await api.post("/api/receptive-field", { model: state.model, layer: current.layer, unit });
    current.channel = channel;
    current.unit = unit;
    drawRF(doc);
  }

  $("#arch-depth").addEventListener("change", () => Studio.refresh("architecture"));
  Studio.panel("architecture", { refresh });
})();
