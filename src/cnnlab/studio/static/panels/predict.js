/* Predict: the top-k classes and the prepared input. */
"use strict";
(() => {
  const { $, api, bars, state, withImage } = Studio;

  async function refresh() {
    const topk = Number($("#predict-topk").value);
    const doc = await api.post("/api/predict", withImage({ topk, seen: true }));
    $("#predict-original").src = `/api/images/${encodeURIComponent(doc.image)}/preview?max_side=600`;
    $("#predict-seen").src = doc.seen;
    $("#predict-size").textContent = doc.input_size.join(" x ");
    $("#predict-pre").textContent = state.info.preprocessing.text;
    bars($("#predict-bars"), doc.topk);
    $("#predict-bars").dataset.top = doc.topk[0].class;
  }

  $("#predict-topk").addEventListener("change", () => Studio.refresh("predict"));
  Studio.panel("predict", { refresh });
})();
