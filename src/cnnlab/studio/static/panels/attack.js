/* Attack: FGSM / PGD at the slider's epsilon; the one-pixel attack as a job. */
"use strict";
(() => {
  const { $, el, api, bars, withImage } = Studio;
  let seq = 0;
  let timer = null;
  let opJob = null;

  const method = () => document.querySelector("input[name=attack-method]:checked").value;
  const eps = () => Number($("#attack-eps").value) / 255;

  function showEps() {
    const v = Number($("#attack-eps").value);
    $("#attack-eps-text").textContent = `${v}/255 = ${(v / 255).toFixed(4)}`;
  }

  async function refresh() {
    const mine = ++seq;
    const body = withImage({ method: method(), eps: eps() });
    if (method() === "pgd") body.steps = Number($("#attack-steps").value);
    const doc = await api.post("/api/attack", body);
    if (mine !== seq) return;  // a newer slider position already asked
    $("#attack-original").src = doc.original;
    $("#attack-perturbation").src = doc.perturbation;
    $("#attack-adversarial").src = doc.adversarial;
    $("#attack-clean").textContent = `${doc.clean[0].class} ${Studio.percent(doc.clean[0].prob)}`;
    const top = doc.adversarial_topk[0];
    const adv = $("#attack-adv");
    adv.textContent = `${top.class} ${Studio.percent(top.prob)}` + (doc.success ? " (fooled)" : " (not fooled)");
    adv.className = "big-label " + (doc.success ? "bad" : "good");
    $("#attack-amp").textContent = doc.amplification ? `x${doc.amplification}` : "(none: eps is 0)";
    bars($("#attack-bars"), doc.adversarial_topk);
    $("#attack-norms").textContent = `${doc.method.toUpperCase()} at eps = ${doc.eps.toFixed(4)}` +
      (doc.steps ? `, ${doc.steps} steps` : "") + `: L-inf ${doc.linf.toFixed(4)}, L2 ${doc.l2.toFixed(3)} ` +
      "(cnnlab.robust.attack_images, as cnnlab attack).";
    $("#attack-bars").dataset.eps = String(doc.eps);
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(() => Studio.refresh("attack"), 250);
  }

  async function onepixel() {
    const btn = $("#op-run");
    btn.disabled = true;
    $("#op-cancel").hidden = false;
    $("#op-progress").hidden = false;
    $("#op-progress").value = 0;
    try {
      opJob = await Studio.job("/api/attack/onepixel", withImage({
        pixels: Number($("#op-pixels").value), popsize: Number($("#op-popsize").value),
        steps: Number($("#op-steps").value),
      }), {
        onProgress: (j) => { $("#op-progress").value = j.progress; $("#op-status").textContent = j.message; },
        onDone: renderOnePixel,
        onEnd: (j) => {
          btn.disabled = false;
          $("#op-cancel").hidden = true;
          $("#op-progress").hidden = j.status === "done";
          $("#op-status").textContent = j.status === "done" ? "" : j.status;
        },
      });
    } catch (e) {
      btn.disabled = false;
      $("#op-cancel").hidden = true;
      $("#op-progress").hidden = true;
      Studio.showError(e.message);
    }
  }

  function renderOnePixel(res) {
    $("#op-result").hidden = false;
    $("#op-original").src = res.original;
    $("#op-adversarial").src = res.adversarial;
    $("#op-clean").textContent = `${res.clean_class} ${Studio.percent(res.clean_prob)}`;
    const adv = $("#op-adv");
    adv.textContent = `${res.adv_class} ${Studio.percent(res.adv_prob)}` + (res.success ? " (fooled)" : " (not fooled)");
    adv.className = "big-label " + (res.success ? "bad" : "good");
    const [, h, w] = res.input_size;
    $("#op-marks").replaceChildren(...res.pixels.map((p) => {
      const mark = el("span", { class: "pixel-mark", title: `(${p.y}, ${p.x})` });
      mark.style.top = (100 * (p.y + 0.5) / h) + "%";
      mark.style.left = (100 * (p.x + 0.5) / w) + "%";
      return mark;
    }));
    const fmt = (v) => "(" + v.map((x) => x.toFixed(2)).join(", ") + ")";
    $("#op-pixels-text").replaceChildren(...(res.pixels.length ? res.pixels.map((p) => el("div", {},
      `row ${p.y}, column ${p.x}: ${fmt(p.before)} → ${fmt(p.after)}`)) : [el("div", {}, "no pixel changed")]),
    el("div", {}, `population ${res.settings.popsize}, ${res.settings.steps} generations`));
  }

  for (const r of document.querySelectorAll("input[name=attack-method]")) {
    r.addEventListener("change", () => { $("#attack-steps-label").hidden = method() !== "pgd"; soon(); });
  }
  $("#attack-eps").addEventListener("input", () => { showEps(); soon(); });
  $("#attack-steps").addEventListener("change", soon);
  $("#op-run").addEventListener("click", onepixel);
  $("#op-cancel").addEventListener("click", () => opJob && opJob.cancel());
  showEps();
  Studio.panel("attack", { refresh });
})();
