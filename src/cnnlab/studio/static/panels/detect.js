/* Detect: a detector from --runs on the current image (a job), boxes above the score slider. */
"use strict";
(() => {
  const { $, el, api, withImage } = Studio;
  let timer = null;
  let current = null;
  let seq = 0;

  const score = () => Number($("#detect-score").value) / 100;

  function showScore() { $("#detect-score-text").textContent = score().toFixed(2); }

  async function listDetectors() {
    const doc = await api.get("/api/models");
    const dets = doc.models.filter((m) => m.task === "detector");
    const sel = $("#detect-model");
    const keep = sel.value;
    sel.replaceChildren(...dets.map((m) => el("option", { value: m.name }, m.label)));
    if (dets.some((m) => m.name === keep)) sel.value = keep;
    $("#detect-none").hidden = dets.length > 0;
    $("#detect-controls").hidden = dets.length === 0;
    return dets.length > 0;
  }

  async function refresh() {
    if (!(await listDetectors())) return;
    const mine = ++seq;
    if (current) current.cancel();
    $("#detect-progress").hidden = false;
    $("#detect-progress").value = 0;
    $("#detect-cancel").hidden = false;
    const body = { model: $("#detect-model").value, image: Studio.state.image, score: score() };
    await new Promise((resolve) => {
      Studio.job("/api/detect", body, {
        onProgress: (j) => { $("#detect-progress").value = j.progress; $("#detect-status").textContent = j.message; },
        onDone: (res) => { if (mine === seq) render(res); },
        onEnd: (j) => {
          if (mine === seq) {
            $("#detect-progress").hidden = true;
            $("#detect-cancel").hidden = true;
            $("#detect-status").textContent = j.status === "done" ? "" : j.status;
            current = null;
          }
          resolve();
        },
      }).then((h) => { current = h; }).catch((e) => { Studio.showError(e.message); resolve(); });
    });
  }

  function render(res) {
    $("#detect-picture").src = res.picture;
    const n = res.detections.length;
    const per = Object.entries(res.counts).map(([k, v]) => `${k}: ${v}`).join(", ");
    $("#detect-caption").textContent = `${res.model} (${res.arch}): ${n} detection${n === 1 ? "" : "s"} ` +
      `with score ≥ ${res.score.toFixed(2)}` + (per ? ` (${per})` : "");
    const head = el("tr", {}, el("th", {}, "class"), el("th", {}, "score"), el("th", {}, "box (x1, y1, x2, y2)"));
    const rows = res.detections.map((d) => el("tr", {}, el("td", {}, d.class), el("td", {}, d.score.toFixed(3)),
      el("td", {}, d.box.map((v) => v.toFixed(0)).join(", "))));
    if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 3 }, "nothing above the threshold: lower it")));
    $("#detect-table").replaceChildren(head, ...rows);
    $("#detect-table").dataset.score = String(res.score);
    $("#detect-table").dataset.count = String(n);
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(() => Studio.refresh("detect"), 250);
  }

  $("#detect-score").addEventListener("input", () => { showScore(); soon(); });
  $("#detect-model").addEventListener("change", soon);
  $("#detect-cancel").addEventListener("click", () => current && current.cancel());
  $("#detect-rescan").addEventListener("click", () => Studio.refresh("detect"));
  showScore();
  Studio.panel("detect", { refresh });
})();
