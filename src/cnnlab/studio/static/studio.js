/* cnnlab studio: the page's core. Holds the current model and image, talks to the JSON API, shows errors,
 * runs long jobs (server-sent events, with polling as a fallback) and switches the panels' tabs.
 *
 * A panel's script registers itself with
 *   Studio.panel("name", { refresh(root) { ... } });
 * refresh runs when the panel's tab is shown and the model or the image changed since its last run.
 */
"use strict";

const Studio = (() => {
  const state = { model: null, image: "sample:chelsea", imageName: "chelsea", info: null, models: [] };
  const panels = {};
  const stale = {};
  const running = {};  // panel -> true while its refresh is in flight
  const again = {};  // panel -> true when a change came during that refresh
  let active = null;

  const $ = (sel, root = document) => root.querySelector(sel);

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  class ApiError extends Error {
    constructor(message, status) { super(message); this.status = status; }
  }

  async function request(method, path, body) {
    const opts = { method, headers: {} };
    if (body instanceof FormData) opts.body = body;
    else if (body !== undefined) {
      opts.headers["content-type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      throw new ApiError(`the studio server does not answer (${e.message})`, 0);
    }
    const text = await res.text();
    let doc = null;
    try { doc = JSON.parse(text); } catch (_) { /* not JSON */ }
    if (!res.ok) throw new ApiError((doc && doc.error) || `${res.status} ${res.statusText}`, res.status);
    return doc;
  }

  const api = {
    get: (path) => request("GET", path),
    post: (path, body) => request("POST", path, body),
    del: (path) => request("DELETE", path),
  };

  function showError(message) {
    $("#error-text").textContent = message;
    $("#error").hidden = false;
  }

  function clearError() {
    $("#error").hidden = true;
    $("#error-text").textContent = "";
  }

  function status(text) { $("#status").textContent = text || ""; }

  /** The body of a request about the current model and image, plus `extra`. */
  function withImage(extra = {}) {
    return { model: state.model, image: state.image, ...extra };
  }

  function percent(p) {
    if (p >= 0.995) return (100 * p).toFixed(1) + "%";
    if (p >= 0.001) return (100 * p).toFixed(1) + "%";
    return "<0.1%";
  }

  /** Horizontal probability bars for [{class, index, prob}]. */
  function bars(container, topk) {
    container.replaceChildren(...topk.map((p) => el("div", { class: "bar-row" },
      el("span", { class: "bar-label", title: `${p.class} (class ${p.index})`, text: p.class }),
      el("span", { class: "bar-track" }, (() => {
        const b = el("span", { class: "bar" });
        b.style.width = Math.max(0.5, 100 * p.prob).toFixed(1) + "%";
        return b;
      })()),
      el("span", { class: "bar-value", text: percent(p.prob) }))));
  }

  /** A titled image figure. */
  function figure(src, caption, cls = "") {
    return el("figure", { class: "shot " + cls }, el("img", { src, alt: caption }), el("figcaption", {}, caption));
  }

  function panel(name, def) {
    panels[name] = def;
    stale[name] = true;
  }

  /** Run `fn(root)` with the panel marked busy (its results dimmed); an error goes to the banner. */
  async function busy(name, fn) {
    const root = document.getElementById(`panel-${name}`);
    root.classList.add("busy");
    try {
      await fn(root);
      return true;
    } catch (e) {
      showError(e.message);
      return false;
    } finally {
      root.classList.remove("busy");
    }
  }

  /** Run the panel's refresh now (after a change of one of its own controls). */
  async function refresh(name) {
    const def = panels[name];
    if (!def || !state.model) return;
    if (running[name]) {  // one refresh per panel at a time: a late answer must not overwrite a newer one
      again[name] = true;
      return;
    }
    running[name] = true;
    try {
      do {
        again[name] = false;
        stale[name] = false;
        if (!(await busy(name, def.refresh))) stale[name] = true;
      } while (again[name]);
    } finally {
      running[name] = false;
    }
  }

  function activate(name) {
    if (!panels[name]) name = Object.keys(panels)[0];
    active = name;
    for (const tab of document.querySelectorAll(".tab")) {
      tab.setAttribute("aria-selected", tab.dataset.panel === name ? "true" : "false");
    }
    for (const section of document.querySelectorAll(".panel")) section.hidden = section.id !== `panel-${name}`;
    if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
    if (stale[name]) refresh(name);
  }

  function changed() {
    for (const name of Object.keys(panels)) stale[name] = true;
    if (active) refresh(active);
  }

  async function setModel(name) {
    status("loading " + name + "…");
    try {
      state.info = await api.get("/api/models/" + encodeURIComponent(name));
      state.model = name;
      clearError();
    } finally {
      status("");
    }
    const note = $("#model-note");
    if (!state.info.pretrained) {
      note.textContent = `${name} has random weights (untrained): its predictions mean nothing; its architecture, ` +
        "feature maps and receptive fields are still real.";
      note.hidden = false;
    } else {
      note.hidden = true;
    }
    changed();
  }

  function setImage(ref, name, preview) {
    state.image = ref;
    state.imageName = name;
    $("#current-thumb").src = preview || `/api/images/${encodeURIComponent(ref)}/preview?max_side=160`;
    $("#current-name").textContent = name;
    clearError();
    changed();
  }

  async function upload(file) {
    if (!file) return;
    const form = new FormData();
    form.append("file", file, file.name || "upload");
    status("uploading " + (file.name || "image") + "…");
    try {
      const doc = await api.post("/api/images", form);
      setImage(doc.image, doc.name, doc.preview);
      const sel = $("#sample-select");
      if (![...sel.options].some((o) => o.value === "")) sel.prepend(el("option", { value: "" }, "(upload)"));
      sel.value = "";
    } catch (e) {
      showError(`could not use ${file.name || "the file"}: ${e.message}`);
    } finally {
      status("");
      $("#upload-input").value = "";
    }
  }

  /** Start a long job at `path` and follow it; returns a handle with cancel(). */
  async function job(path, body, { onProgress = () => {}, onDone = () => {}, onEnd = () => {} } = {}) {
    const doc = await api.post(path, body);
    const id = doc.job.id;
    let finished = false;
    let source = null;
    let timer = null;

    function handle(j) {
      if (finished) return;
      onProgress(j);
      if (["done", "error", "cancelled"].includes(j.status)) {
        finished = true;
        if (source) source.close();
        if (timer) clearInterval(timer);
        if (j.status === "done") onDone(j.result, j);
        else if (j.status === "error") showError(`${doc.job.kind}: ${j.error}`);
        onEnd(j);
      }
    }

    function poll() {  // the fallback when the event stream breaks
      if (timer) return;
      timer = setInterval(async () => {
        try { handle(await api.get(`/api/jobs/${id}`)); } catch (e) { clearInterval(timer); showError(e.message); }
      }, 500);
    }

    if (window.EventSource) {
      source = new EventSource(`/api/jobs/${id}/events`);
      source.onmessage = (e) => handle(JSON.parse(e.data));
      source.onerror = () => { source.close(); if (!finished) poll(); };
    } else {
      poll();
    }
    return {
      id,
      cancel: () => (finished ? Promise.resolve() : api.del(`/api/jobs/${id}`)),  // the stream reports the end
    };
  }

  /** Draw `box` = [y0, x0, y1, x1] (input pixels, end exclusive) over an image of `size` = [C, H, W]. */
  function placeBox(node, box, size) {
    if (!box) { node.hidden = true; return; }
    const [, h, w] = size;
    node.style.top = (100 * box[0] / h) + "%";
    node.style.left = (100 * box[1] / w) + "%";
    node.style.height = (100 * (box[2] - box[0]) / h) + "%";
    node.style.width = (100 * (box[3] - box[1]) / w) + "%";
    node.hidden = false;
  }

  async function start() {
    $("#error-close").addEventListener("click", clearError);
    for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => activate(tab.dataset.panel));
    const [models, samples] = await Promise.all([api.get("/api/models"), api.get("/api/samples")]);
    state.models = models.models;
    const select = $("#model-select");
    const groups = { pretrained: [], random: [], run: [] };
    for (const m of models.models) {
      if (m.task && m.task !== "classifier") continue;  // detectors and segmenters: their own panels list them
      groups[m.kind === "run" ? "run" : m.pretrained ? "pretrained" : "random"].push(m);
    }
    const titles = { pretrained: "pretrained", random: "random weights (untrained)", run: "checkpoints in --runs" };
    for (const [key, list] of Object.entries(groups)) {
      if (!list.length) continue;
      select.append(el("optgroup", { label: titles[key] }, list.map((m) => el("option", { value: m.name }, m.label))));
    }
    select.value = models.default;
    select.addEventListener("change", () => setModel(select.value).catch((e) => showError(e.message)));
    const samplesSel = $("#sample-select");
    samplesSel.append(...samples.samples.map((s) => el("option", { value: s }, s)));
    samplesSel.value = "chelsea";
    samplesSel.addEventListener("change", () => {
      if (samplesSel.value) setImage(`sample:${samplesSel.value}`, samplesSel.value);
    });
    $("#upload-input").addEventListener("change", (e) => upload(e.target.files[0]));
    const hint = $("#drop-hint");
    document.addEventListener("dragover", (e) => { e.preventDefault(); hint.hidden = false; });
    document.addEventListener("dragleave", (e) => { if (!e.relatedTarget) hint.hidden = true; });
    document.addEventListener("drop", (e) => {
      e.preventDefault();
      hint.hidden = true;
      if (e.dataTransfer.files.length) upload(e.dataTransfer.files[0]);
    });
    state.image = "sample:chelsea";
    $("#current-thumb").src = "/api/images/sample%3Achelsea/preview?max_side=160";
    $("#current-name").textContent = "chelsea";
    active = (location.hash || "").slice(1) || Object.keys(panels)[0];
    await setModel(models.default);
    activate(active);
    document.body.dataset.ready = "true";
  }

  return { state, api, el, $, panel, job, bars, figure, percent, placeBox, showError, clearError, status, withImage,
           start, upload, setModel, setImage, activate, refresh, busy };
})();
