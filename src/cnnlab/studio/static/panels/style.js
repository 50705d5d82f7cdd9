/* Style: the current image in the style of a sample or an upload, as a cancellable job streaming snapshots. */
"use strict";
(() => {
  const { $, el, api, withImage } = Studio;
  let current = null;
  let filled = false;

  const preview = (ref) => `/api/images/${encodeURIComponent(ref)}/preview?max_side=256`;

  async function fillStyles() {
    if (filled) return;
    const doc = await api.get("/api/samples");
    const sel = $("#style-style");
    sel.replaceChildren(...doc.samples.map((s) => el("option", { value: `sample:${s}` }, s)));
    sel.value = doc.samples.includes("brick") ? "sample:brick" : `sample:${doc.samples[0]}`;
    filled = true;
    showStyle();
  }

  function showStyle() {
    const sel = $("#style-style");
    $("#style-preview").src = preview(sel.value);
    $("#style-preview-caption").textContent = `Style: ${sel.options[sel.selectedIndex].textContent}`;
  }

  async function refresh() {
    await fillStyles();
    $("#style-content").src = preview(Studio.state.image);
  }

  async function uploadStyle(file) {
    if (!file) return;
    const form = new FormData();
    form.append("file", file, file.name || "style");
    try {
      const doc = await api.post("/api/images", form);
      const sel = $("#style-style");
      sel.append(el("option", { value: doc.image }, `${doc.name} (upload)`));
      sel.value = doc.image;
      showStyle();
    } catch (e) {
      Studio.showError(`could not use ${file.name || "the file"} as the style: ${e.message}`);
    } finally {
      $("#style-upload").value = "";
    }
  }

  async function run() {
    const btn = $("#style-run");
    btn.disabled = true;
    $("#style-cancel").hidden = false;
    $("#style-progress").hidden = false;
    $("#style-progress").value = 0;
    const reset = () => { btn.disabled = false; $("#style-cancel").hidden = true; };
    const body = withImage({ style: $("#style-style").value, size: Number($("#style-size").value),
                             steps: Number($("#style-steps").value), preserve_color: $("#style-color").checked });
    delete body.model;  // the style panel uses the pretrained features, whatever the classifier panels show
    try {
      current = await Studio.job("/api/style", body, {
        onProgress: (j) => {
          $("#style-progress").value = j.progress;
          $("#style-status").textContent = j.message;
          if (j.partial && j.partial.image) {
            $("#style-out-figure").hidden = false;
            $("#style-out").src = j.partial.image;
            $("#style-out-caption").textContent = `after ${j.partial.step} steps…`;
          }
        },
        onDone: (res) => {
          $("#style-out-figure").hidden = false;
          $("#style-out").src = res.image;
          const last = res.history.length ? res.history[res.history.length - 1].total : NaN;
          $("#style-out-caption").textContent = `${res.settings.steps} ${res.settings.optimizer} steps at ` +
            `${res.size[1]}x${res.size[0]} in ${res.seconds} s; final loss ${last.toPrecision(4)}`;
          $("#style-out").dataset.done = "true";
        },
        onEnd: (j) => {
          reset();
          $("#style-progress").hidden = j.status === "done";
          $("#style-status").textContent = j.status === "done" ? "" : j.status;
        },
      });
    } catch (e) {
      reset();
      $("#style-progress").hidden = true;
      Studio.showError(e.message);
    }
  }

  $("#style-style").addEventListener("change", showStyle);
  $("#style-upload").addEventListener("change", (e) => uploadStyle(e.target.files[0]));
  $("#style-run").addEventListener("click", run);
  $("#style-cancel").addEventListener("click", () => current && current.cancel());
  Studio.panel("style", { refresh });
})();
