// The page's side of the app: slider drags, the 2-D map and the interpolation scrubber decode here,
// with static/decoder.js, and never call the server. app.py calls window.vaePage.* from js-only
// event listeners after the server has set slider values (reset, random point, encode, model switch).
// Until a model's decoder has loaded (a thin line under the digit counts its bytes), the digit is the
// server's: its decodings (hidden images) are drawn into the canvas, and drags go to the server's /decode;
// then the page draws the same picture itself. If the weights cannot be loaded or a decode fails, the
// server keeps drawing.
(() => {
  "use strict";

  const MODELS = window.VAE_MODELS || {};  // name -> webapp/decoder_spec.page_spec, in <head> (webapp/page.py)
  const FIRST = window.VAE_FIRST;  // the model the page shows first (webapp/page.page_head)
  const MAP_RANGE = 4;  // the map shows z1, z2 in [-4, 4], as the z1/z2 sliders do
  const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  // Until the page decodes: the server's decodings (hidden images) are drawn into the canvases the user sees.
  // Each: the server's image, the element whose canvas shows it, and how many screen px the server gives a pixel.
  const SERVER_IMAGES = [["#decoded-server", "#decoded", 8], ["#point", "#map-view", 8], ["#samples-server", "#samples-grid", 3]];
  const GRID_PAD = 2, GRID_BACKGROUND = 64;  // vae/render.make_grid: 2 px between digits, on grey 0.25
  const decoders = new Map();  // model name -> Promise of its decoder (fetched once per page)
  const ready = new Map();  // model name -> decoder, once loaded
  const progress = new Map();  // model name -> [bytes so far, of total] of its decoder's weights
  // synced: the server's images show state.model (false from a model switch until the server has answered it).
  // The page opens on the first model at its origin, class 0, as the server's first answer will show it.
  // asked: how many times the page has asked the server again for the last move (serverDigit).
  const state = {model: FIRST ?? null, synced: true, label: 0, values: [], map: null, mapBackground: null, path: null,
                 fallback: null, shown: 0, copied: {}, samples: null, asked: 0};
  const mapCodes = new Map();  // model name -> Promise of {mu, labels} for the 2-D map
  // What the page has done, for tests and benchmarks: paints of its own decodes and of the server's decodes,
  // times in ms since navigation start (the first of either, the first of each kind), weight bytes per model, and
  // how many chains of server answers have ended (show: the first is the first load's).
  window.vaeStats = {firstPaint: null, lastPaint: null, first: {paints: null, serverPaints: null}, paints: 0,
                     serverPaints: 0, serverSrc: null, bytes: {}, answers: 0};

  function painted(kind) {
    const now = performance.now(), stats = window.vaeStats;
    stats.firstPaint = stats.firstPaint ?? now;
    stats.first[kind] = stats.first[kind] ?? now;
    stats.lastPaint = now;
    stats[kind]++;
  }

  const $ = sel => document.querySelector(sel);

  function decoderFor(name) {
    if (!decoders.has(name)) {
      const spec = MODELS[name];
      const report = (got, total) => {
        progress.set(name, [got, total]);
        if (name === state.model) drawProgress();
      };
      if (spec) report(0, spec.bytes);
      const promise = spec ? window.VAEDecoder.load(spec, report) : Promise.reject(new Error(`no weights for ${name}`));
      decoders.set(name, promise.then(d => {
        ready.set(name, d);
        window.vaeStats.bytes[name] = d.bytes;
        drawProgress();
        if (name === state.model && state.synced && !state.fallback) paintSliders();  // take over at once
        return d;
      }));
    }
    return decoders.get(name);
  }

  function pageDecodes() {
    // Whether the page draws the current model's digits itself: its decoder has loaded, and nothing failed.
    return !state.fallback && ready.has(state.model);
  }

  function serverDecode(button) {
    // The server decodes what the sliders say: click its hidden button after Gradio has stored the value.
    setTimeout(() => $(button)?.click(), 0);
  }

  function drawProgress() {
    // A thin line under the digit while the current model's decoder loads: bytes so far, of the total.
    const canvas = $("#decoded canvas.vae-digit"), p = progress.get(state.model);
    let bar = $("#decoded .vae-progress");
    if (!canvas || !p || pageDecodes() || state.fallback) return bar?.remove();
    if (!bar) {
      bar = document.createElement("div");
      bar.className = "vae-progress";
      bar.setAttribute("role", "progressbar");
      bar.setAttribute("aria-label", "In-page decoder");
      bar.style.cssText = "max-width: 280px; margin: 4px auto 0; font-size: 0.8em; opacity: 0.8;";
      bar.innerHTML = '<div style="height: 3px; background: var(--border-color-primary, #ddd);">'
        + '<div class="vae-progress-line" style="height: 100%; width: 0; background: var(--color-accent, #f97316);'
        + ' transition: width 0.2s;"></div></div><span class="vae-progress-text"></span>';
      canvas.after(bar);
    }
    const [got, total] = p, text = `${(got / 1e6).toFixed(2)} of ${(total / 1e6).toFixed(2)} MB`;
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", String(total));
    bar.setAttribute("aria-valuenow", String(got));
    bar.setAttribute("aria-valuetext", text);
    bar.querySelector(".vae-progress-line").style.width = `${Math.min(100, 100 * got / total)}%`;
    bar.querySelector(".vae-progress-text").textContent = `Loading the in-page decoder: ${text}; the server draws until then.`;
  }

  function status(selector, text) {
    const el = $(`${selector} .vae-status`);
    if (el) el.textContent = text;
  }

  function fallBack(error) {
    // Say once, quietly, that the server decodes from now on.
    if (state.fallback) return;
    state.fallback = String(error && error.message || error);
    console.warn("vae: decoding on the server:", state.fallback);
    status("#decoded", `Decoding on the server (this browser could not: ${state.fallback}).`);
    drawProgress();
    copyServerImage();
  }

  function paint(canvas, probs, x = 0, y = 0) {
    // 28x28 probabilities -> grey pixels at (x, y), white ink on black, as vae/render.to_image draws them.
    if (!canvas) return;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(28, 28), px = img.data;
    for (let i = 0; i < 784; i++) {
      const v = Math.floor(Math.min(Math.max(probs[i], 0), 1) * 255 + 0.5);
      px[4 * i] = px[4 * i + 1] = px[4 * i + 2] = v;
      px[4 * i + 3] = 255;
    }
    ctx.putImageData(img, x, y);
  }

  function blank(selector) {
    const canvas = $(`${selector} canvas.vae-digit`);
    if (canvas) canvas.getContext("2d").clearRect(0, 0, 28, 28);
  }

  function sliderCode(spec) {
    // Slider i sets latent dimension ranking[i], as vae/explore.code_from_sliders does.
    const z = new Float32Array(spec.latent_dim);
    spec.ranking.forEach((d, i) => { z[d] = Number(state.values[i]) || 0; });
    return z;
  }

  function decodeInto(selector, z, label) {
    // Decode z with the current model into the canvas under `selector`; false if the page cannot.
    const d = ready.get(state.model);
    if (!d || state.fallback) return false;
    try {
      paint($(`${selector} canvas.vae-digit`), d.decode(z, label));
    } catch (e) {
      fallBack(e);
      return false;
    }
    return true;
  }

  function paintSliders() {
    if (!decodeInto("#decoded", sliderCode(MODELS[state.model]), state.label)) return;
    painted("paints");
    status("#decoded", "");
  }

  async function show(model, label, values, origin = false) {
    // The server has set the model, class and sliders, and drawn them: show its digit until the model's
    // decoder has loaded, then draw the same digit in the page. origin: the server drew the origin whatever the
    // sliders say (a model's first answer, webapp/demo.py); if a visitor has moved them meanwhile, the page asks for
    // theirs.
    const shown = ++state.shown;
    window.vaeStats.answers++;
    if (model !== state.model) loading(model);
    state.label = Number(label) || 0;
    state.values = values.map(Number);
    state.synced = true;
    const moved = origin && state.values.some(v => v);
    if (moved) state.copied["#decoded-server"] = $("#decoded-server img")?.src;  // the origin: not drawn
    copyServerImage();
    if (moved && !pageDecodes()) {
      state.asked = 0;
      serverDecode("#server-decode-page");
    }
    if (state.fallback) return;
    try {
      await decoderFor(model);
    } catch (e) {
      fallBack(e);
      return;
    }
    if (shown !== state.shown) return;  // a newer call has drawn, or will
    paintSliders();
    mapShow(model);
    document.dispatchEvent(new CustomEvent("vae-shown", {detail: current()}));  // static/teach.js follows it
  }

  function loading(model) {
    // A new model: blank every canvas at once, so no view ever shows the old model's digit, until the
    // server's digit of the new model (show) or the page's own.
    state.model = model;
    state.synced = false;
    // The server's images in the page now are the old model's: count them as copied, so that only a new answer is
    // drawn (a chain of the old model's answers may end in show() after the switch; docs/engineering.md).
    state.copied = Object.fromEntries(SERVER_IMAGES.map(([from]) => [from, $(`${from} img`)?.src]));
    state.path = null;
    state.mapBackground = null;
    for (const sel of ["#decoded", "#map-view", "#interp-scrub"]) blank(sel);
    if (state.fallback) return;
    decoderFor(model).catch(fallBack);
    drawProgress();
  }

  function onInput(e) {
    // Native input events on the sliders: decode right here, no request (Gradio's own slider events
    // would add a few ms of its bookkeeping first).
    const block = e.target.closest && e.target.closest("[id^='z-'], #map-z1, #map-z2, #interp-scrub, #samples-temperature");
    if (!block) return;
    if (block.id === "interp-scrub") return scrub(Number(e.target.value));
    if (block.id === "samples-temperature") {
      if (state.samples) state.samples.temperature = Number(e.target.value);
      return drawSamples();
    }
    if (block.id.startsWith("map-")) {
      if (!pageDecodes()) return serverDecode("#server-decode-2d");
      const [z1, z2] = state.map || [0, 0];
      return mapPoint(block.id === "map-z1" ? Number(e.target.value) : z1,
                      block.id === "map-z2" ? Number(e.target.value) : z2);
    }
    state.values[Number(block.id.slice(2))] = Number(e.target.value);
    if (pageDecodes()) return paintSliders();
    state.asked = 0;
    serverDecode("#server-decode-page");
  }

  function paintGrey(grey) {
    // The server's digit as 784 grey levels in base64 (webapp/decoder_spec.grey_base64), into the sliders' canvas.
    paint($("#decoded canvas.vae-digit"), Array.from(atob(grey), c => c.charCodeAt(0) / 255));
    painted("serverPaints");
  }

  function showOrigin() {
    // Before anything else is drawn: the first model's origin as the server drew it at start-up (page_spec.origin),
    // which is what the sliders say until they move, and what the server's first answer will show.
    const spec = MODELS[state.model];
    if (!$("#decoded canvas.vae-digit") || !spec?.origin || window.vaeStats.firstPaint !== null || state.shown
        || state.values.some(v => v)) return;
    paintGrey(spec.origin);
  }

  function serverDigit(answer) {
    // The server's decoding of a drag ("model:values:grey levels", webapp/views/sliders.py), drawn while the page
    // cannot. A request can leave before Gradio has stored the last move (a busy page): then it asks again, a few times.
    const [model, values, grey] = String(answer || "").split(":");
    if (grey === undefined || model !== state.model || pageDecodes() || !state.synced) return;
    paintGrey(grey);
    const stale = values.split(",").some((v, i) => Math.abs(Number(v) - (Number(state.values[i]) || 0)) > 1e-6);
    if (stale && state.asked++ < 3) serverDecode("#server-decode-page");
  }

  function copyServerImage() {
    // Until the page decodes: show each new server decoding of the current model in the canvas the user sees.
    if (pageDecodes() || !state.synced) return;
    for (const [from, to, scale] of SERVER_IMAGES) {
      const img = $(`${from} img`), canvas = $(`${to} canvas.vae-digit`);
      if (!img || !img.src || !canvas || img.src === state.copied[from]) continue;
      const src = state.copied[from] = img.src, source = new Image();
      source.onload = () => {
        // Drawn only if still the newest, and the page has not taken over (nor the model changed) meanwhile.
        if (src !== state.copied[from] || pageDecodes() || !state.synced) return;
        canvas.width = source.naturalWidth / scale;
        canvas.height = source.naturalHeight / scale;
        const ctx = canvas.getContext("2d");
        ctx.imageSmoothingEnabled = false;
        ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
        window.vaeStats.serverSrc = source.src;
        painted("serverPaints");
      };
      source.src = src;
    }
  }

  // ---- the 2-D map ----

  function toMap(canvas, z1, z2) {
    return [(z1 + MAP_RANGE) / (2 * MAP_RANGE) * canvas.width, (MAP_RANGE - z2) / (2 * MAP_RANGE) * canvas.height];
  }

  async function mapShow(model) {
    // Draw the test-set codes of a 2-D model (from its weights file's extras) and the current point.
    const spec = MODELS[model], canvas = $("#map-view canvas.vae-map");
    if (!canvas || !spec || spec.latent_dim !== 2 || !spec.has_codes) return;
    if (!mapCodes.has(model)) {
      mapCodes.set(model, decoderFor(model).then(d => d.extras(["extra.test_mu", "extra.test_labels"])).then(t => {
        window.vaeStats.bytes[model] = ready.get(model).bytes;
        return drawCodes(canvas, t["extra.test_mu"], t["extra.test_labels"], spec.class_names);
      }));
    }
    state.mapBackground = await mapCodes.get(model);
    if (state.model === model) mapPoint(...(state.map || [0, 0]));
  }

  function drawCodes(canvas, mu, labels, names) {
    // The codes as dots coloured by class on an offscreen canvas reused under the marker, and their legend.
    const bg = document.createElement("canvas");
    bg.width = canvas.width;
    bg.height = canvas.height;
    const ctx = bg.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, bg.width, bg.height);
    ctx.strokeStyle = "#ccc";
    for (let v = -MAP_RANGE; v <= MAP_RANGE; v++) {
      const [x, y] = toMap(bg, v, v);
      ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, bg.height); ctx.moveTo(0, y); ctx.lineTo(bg.width, y); ctx.stroke();
    }
    ctx.globalAlpha = 0.6;
    for (let i = 0; i < labels.length; i++) {
      const [x, y] = toMap(bg, mu[2 * i], mu[2 * i + 1]);
      ctx.fillStyle = COLOURS[labels[i] % COLOURS.length];
      ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
    }
    ctx.globalAlpha = 1;
    legend(canvas, names);
    return bg;
  }

  function legend(canvas, names) {
    // The class colours as text after a map's canvas (.vae-legend), so they read at any screen size.
    const list = canvas.parentElement.querySelector(".vae-legend");
    if (!list) return;
    list.replaceChildren(...names.map((name, i) => {
      const item = document.createElement("li"), swatch = document.createElement("span");
      swatch.style.background = COLOURS[i % COLOURS.length];
      item.append(swatch, name);
      return item;
    }));
  }

  function ticks(canvas, ctx) {
    // The axes' labels, at 12 CSS pixels however large the canvas is shown (a phone shows its 480 pixels in about
    // 330): drawn with each point, as the shown size changes with the screen.
    const px = Math.round(12 * Math.max(1, canvas.width / (canvas.clientWidth || canvas.width)));
    ctx.fillStyle = "#555";
    ctx.font = `${px}px sans-serif`;
    for (let v = -MAP_RANGE + 1; v < MAP_RANGE; v++) {  // z1 along the bottom, z2 up the left
      const [x, y] = toMap(canvas, v, v);
      ctx.fillText(String(v), x + 2, canvas.height - 4);
      ctx.fillText(String(v), 2, y - 2);
    }
    ctx.fillText("z1 →", canvas.width - ctx.measureText("z1 →").width - 4, canvas.height - px - 8);
    ctx.fillText("z2 ↑", ctx.measureText("-3").width + 10, px + 2);
  }

  function mapPoint(z1, z2) {
    // Decode (z1, z2) (latent dims 0 and 1, as /decode_2d does), and mark it on the map.
    state.map = [z1, z2];
    const spec = MODELS[state.model];
    if (!spec || spec.latent_dim !== 2) return;
    decodeInto("#map-view", [z1, z2], state.label);
    const canvas = $("#map-view canvas.vae-map");
    if (canvas && state.mapBackground) {
      const ctx = canvas.getContext("2d"), [x, y] = toMap(canvas, z1, z2);
      ctx.drawImage(state.mapBackground, 0, 0);
      ticks(canvas, ctx);
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(x, y, 7, 0, 2 * Math.PI); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(x - 11, y); ctx.lineTo(x + 11, y); ctx.moveTo(x, y - 11); ctx.lineTo(x, y + 11); ctx.stroke();
    }
    const where = $("#map-view .vae-where");
    if (where) where.textContent = `z1 = ${z1.toFixed(2)}, z2 = ${z2.toFixed(2)}`;
    // The z1/z2 number boxes follow the pointer (shown only: the page, not the server, uses the point).
    [["#map-z1", z1], ["#map-z2", z2]].forEach(([sel, v]) => {
      const box = $(`${sel} input[type=number]`);
      if (box && document.activeElement !== box) box.value = v;
    });
  }

  function onPointer(e) {
    // Hovering, dragging or touching the map decodes the point under the pointer.
    const canvas = e.target.closest && e.target.closest("#map-view canvas.vae-map");
    if (!canvas || (e.type === "pointermove" && e.pointerType !== "mouse" && !e.buttons)) return;
    const r = canvas.getBoundingClientRect();
    const z1 = ((e.clientX - r.left) / r.width * 2 - 1) * MAP_RANGE, z2 = (1 - (e.clientY - r.top) / r.height * 2) * MAP_RANGE;
    mapPoint(Math.round(z1 * 100) / 100, Math.round(z2 * 100) / 100);
  }

  // ---- the interpolation scrubber ----

  function setPath(path) {
    // The server's dense path between the two codes ({codes, labels}); the scrubber walks it.
    state.path = path && path.codes && path.codes.length ? path : null;
    const range = $("#interp-scrub input[type=range]");
    if (!range || !state.path) return;
    range.max = String(state.path.codes.length - 1);
    range.disabled = false;
    status("#interp-scrub", state.fallback ? "The scrubber needs the page's decoder; see the strip and GIF." : "");
    decoderFor(state.model).then(() => scrub(Number(range.value))).catch(fallBack);
  }

  function scrub(i) {
    const path = state.path;
    if (!path) return;
    i = Math.max(0, Math.min(path.codes.length - 1, i));
    decodeInto("#interp-scrub", path.codes[i], path.labels ? path.labels[i] : 0);
  }

  // ---- random samples: the server's draws from N(0, I), scaled by the temperature and decoded here ----

  function setSamples(codes, temperature, label) {
    // New draws (the seed, the count or the model changed): keep them, and decode them at the temperature.
    state.samples = codes && codes.length ? {codes, temperature: Number(temperature), label: Number(label) || 0}
                                          : null;
    drawSamples();
  }

  function drawSamples() {
    // The grid as vae/render.grid_image lays it out (8 a row, 2 px apart on grey), one pixel per pixel.
    const s = state.samples, canvas = $("#samples-grid canvas.vae-digit");
    if (!s || !canvas) return;
    if (state.fallback) return setTimeout(() => $("#samples-server-button")?.click(), 0);
    const d = ready.get(state.model);
    if (!d) return decoderFor(state.model).then(drawSamples).catch(fallBack);
    const n = s.codes.length, cols = Math.min(n, 8), rows = Math.ceil(n / cols), pitch = 28 + GRID_PAD;
    canvas.width = cols * pitch + GRID_PAD;
    canvas.height = rows * pitch + GRID_PAD;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = `rgb(${GRID_BACKGROUND}, ${GRID_BACKGROUND}, ${GRID_BACKGROUND})`;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    try {
      s.codes.forEach((z, i) => {
        paint(canvas, d.sample(z, s.temperature, s.label),
              GRID_PAD + (i % cols) * pitch, GRID_PAD + Math.floor(i / cols) * pitch);
      });
    } catch (e) {
      fallBack(e);
      return;
    }
    painted("paints");
  }

  function reveal(selector) {
    // Scroll an element into view when it is not wholly on screen (a result below the fold, on a phone).
    const el = $(selector);
    if (!el) return;
    const r = el.getBoundingClientRect();
    if (r.top < 0 || r.bottom > innerHeight) el.scrollIntoView({block: "start"});  // what follows it shows too
  }

  // ---- names for pictures that Gradio leaves unnamed ----

  function exampleName(src) {
    // "digit-3-2-test0030.png" -> "digit 3"; "4-coat-1-test0006.png" -> "coat".
    const stem = decodeURIComponent(src.split("/").pop()).replace(/\.png$/, "").replace(/-\d+-test\d+$/, "");
    return stem.replace(/^\d+-/, "").replace(/-/g, " ");
  }

  function nameUnnamed() {
    // The example thumbnails (a gr.Dataset gallery) are buttons holding an unnamed picture.
    for (const img of document.querySelectorAll(".vae-examples button img")) {
      const name = `Example: ${exampleName(img.src)}`;
      if (img.alt === name) continue;
      img.alt = name;
      img.closest("button").setAttribute("aria-label", name);
    }
    // An image output with no picture yet is a div that Gradio names "Empty value" without a role, and a name
    // on a plain div is not read out: it is the picture's empty place, so it is an image.
    for (const empty of document.querySelectorAll(".empty[aria-label]:not([role])")) empty.setAttribute("role", "img");
  }

  const drawn = new WeakSet();  // map canvases drawn so far: Gradio renders a tab's content when first opened

  function onMutation() {
    // Once Gradio has rendered the sliders (its own scripts are in), fetch the first model's decoder while the
    // server answers with its first digit; show() awaits the same fetch, and reports a failure.
    if (FIRST && !decoders.has(FIRST) && $("#decoded canvas.vae-digit")) decoderFor(FIRST).catch(() => {});
    showOrigin();
    copyServerImage();
    nameUnnamed();
    const map = $("#map-view canvas.vae-map");
    if (map && !drawn.has(map)) {
      drawn.add(map);
      new ResizeObserver(() => state.map && mapPoint(...state.map)).observe(map);  // shown, hidden, resized: redraw
      if (state.model) mapShow(state.model);
    }
  }

  async function decodeWith(model, z, label) {
    // For the page's other scripts (static/overview.js): decode z with `model`, here in the page.
    return (await decoderFor(model)).decode(z, label);
  }

  function current() {
    // What the sliders show now, for static/teach.js's shareable address: the model, its class, the code z.
    const spec = MODELS[state.model];
    return {model: state.model, label: state.label, z: spec ? Array.from(sliderCode(spec)) : []};
  }

  document.addEventListener("input", onInput);
  document.addEventListener("pointermove", onPointer);
  document.addEventListener("pointerdown", onPointer);
  new MutationObserver(onMutation).observe(document.documentElement,
                                                {subtree: true, childList: true, attributes: true, attributeFilter: ["src"]});
  window.vaePage = {show, loading, setPath, mapPoint, serverDigit, setSamples, reveal, decoder: decoderFor, paint,
                   colours: COLOURS, legend, current, decode: decodeWith};
})();
