// The Code map tab's side in the page (webapp/views/code_map.py). It fetches a model's stored map of test codes
// (weights/projections, through VAEDecoder.tensors), draws it, shows the test digit under the pointer beside its
// reconstruction (decoded here), places the digit on view, and decodes the class-direction slider here, with no
// request. The server calls window.vaeCodeMap.* from js-only listeners: show(spec) on a model switch, current(code)
// when a digit was read, method(name) and direction(from, to) when those pickers change.
(() => {
  "use strict";

  const HIT_RADIUS = 12;  // canvas pixels: how near the pointer must be to a dot to point at it
  const MARGIN = 12;  // canvas pixels round the dots
  const UMAP_NEIGHBOURS = 5;  // a new code goes on the UMAP map at the mean place of its nearest stored codes
  const maps = new Map();  // model name -> Promise of its map data, fetched once per page
  const state = {spec: null, data: null, decoder: null, how: "umap", hover: -1, picked: null, current: null,
                 from: 3, to: 8, t: 0};
  // For tests: paints of the digit under the pointer and of the direction slider's digit.
  window.vaeCodeMapStats = {hoverPaints: 0, directionPaints: 0};

  const $ = sel => document.querySelector(sel);

  function load(spec) {
    if (!maps.has(spec.model)) {
      const files = [window.VAEDecoder.tensors(spec.files.map), window.VAEDecoder.tensors(spec.files.digits)];
      maps.set(spec.model, Promise.all(files).then(([map, digits]) => {
        const n = map.test_indices.length;
        return {...map, images: digits.images, labels: digits.labels, n, dim: map.codes.length / n, frames: {}};
      }));
    }
    return maps.get(spec.model);
  }

  async function show(spec) {
    // A model switch: its map, once its files and decoder are here.
    Object.assign(state, {spec, data: null, decoder: null, hover: -1, current: null});
    draw();
    // Nothing to fetch until the tab has been opened once (Gradio renders its canvas then: see onMutation).
    if (!spec || spec.error || !$("#code-map-view canvas.vae-map")) return;
    const [data, decoder] = await Promise.all([load(spec), window.vaePage.decoder(spec.model).catch(() => null)]);
    if (state.spec !== spec) return;
    Object.assign(state, {data, decoder});
    // It opens on the digit nearest the average code of the direction's first class: a typical one of that class.
    pointAt(nearestCodes(data, data.class_means.subarray(state.from * data.dim, (state.from + 1) * data.dim), 1)[0]);
    paintDirection();
  }

  function code(data, i) {
    return data.codes.subarray(i * data.dim, (i + 1) * data.dim);
  }

  function points(data, how) {
    // Each stored digit's place on the chosen map, (x, y) pairs.
    if (how !== "exact") return data[how];
    const xy = new Float32Array(2 * data.n);
    for (let i = 0; i < data.n; i++) [xy[2 * i], xy[2 * i + 1]] = code(data, i);
    return xy;
  }

  function frame(data, how, canvas) {
    // The map's points and a function from map to canvas coordinates, one scale for both axes (a circle stays round).
    if (data.frames[how]) return data.frames[how];
    const xy = points(data, how);
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (let i = 0; i < data.n; i++) {
      x0 = Math.min(x0, xy[2 * i]); x1 = Math.max(x1, xy[2 * i]);
      y0 = Math.min(y0, xy[2 * i + 1]); y1 = Math.max(y1, xy[2 * i + 1]);
    }
    const width = canvas.width - 2 * MARGIN, height = canvas.height - 2 * MARGIN;
    const scale = Math.min(width / (x1 - x0 || 1), height / (y1 - y0 || 1));
    const [cx, cy] = [(x0 + x1) / 2, (y0 + y1) / 2];
    const at = (x, y) => [MARGIN + width / 2 + (x - cx) * scale, canvas.height / 2 - (y - cy) * scale];
    data.frames[how] = {xy, at, background: background(data, xy, at, canvas)};
    return data.frames[how];
  }

  function background(data, xy, at, canvas) {
    // The dots coloured by class, drawn once per map on an offscreen canvas, and their legend.
    const bg = document.createElement("canvas"), colours = window.vaePage.colours;
    [bg.width, bg.height] = [canvas.width, canvas.height];
    const ctx = bg.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, bg.width, bg.height);
    ctx.globalAlpha = 0.7;
    for (let i = 0; i < data.n; i++) {
      const [x, y] = at(xy[2 * i], xy[2 * i + 1]);
      ctx.fillStyle = colours[data.labels[i] % colours.length];
      ctx.fillRect(x - 2, y - 2, 4, 4);
    }
    window.vaePage.legend(canvas, state.spec.class_names);
    return bg;
  }

  function place(data, z, how) {
    // Where a code lands on the map: exactly for z1, z2 and PCA; on UMAP, among its nearest stored codes.
    if (how === "exact") return [z[0], z[1]];
    if (how === "pca") {
      const xy = [0, 0];
      for (let d = 0; d < data.dim; d++) for (const k of [0, 1]) xy[k] += (z[d] - data.pca_mean[d]) * data.pca_axes[k * data.dim + d];
      return xy;
    }
    const nearest = nearestCodes(data, z, UMAP_NEIGHBOURS), xy = [0, 0];
    for (const i of nearest) for (const k of [0, 1]) xy[k] += data.umap[2 * i + k] / nearest.length;
    return xy;
  }

  function nearestCodes(data, z, k) {
    const distance = i => code(data, i).reduce((s, v, d) => s + (v - z[d]) ** 2, 0);
    return Array.from({length: data.n}, (_, i) => [distance(i), i]).sort((a, b) => a[0] - b[0]).slice(0, k).map(p => p[1]);
  }

  function direction() {
    // The code the slider shows: the current digit (or the first class's average) plus t times the class step.
    const data = state.data, means = data.class_means, dim = data.dim;
    const start = state.current ? state.current.code : means.subarray(state.from * dim, (state.from + 1) * dim);
    const z = new Float32Array(dim);
    for (let d = 0; d < dim; d++) z[d] = start[d] + state.t * (means[state.to * dim + d] - means[state.from * dim + d]);
    return {start, z, label: state.current ? state.current.label : state.from};
  }

  function draw() {
    const canvas = $("#code-map-view canvas.vae-map");
    if (!canvas) return;
    const ctx = canvas.getContext("2d"), data = state.data;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!data) return;
    const {xy, at, background: bg} = frame(data, state.how, canvas);
    ctx.drawImage(bg, 0, 0);
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 2;
    if (state.hover >= 0) {
      const [x, y] = at(xy[2 * state.hover], xy[2 * state.hover + 1]);
      ctx.beginPath(); ctx.arc(x, y, 6, 0, 2 * Math.PI); ctx.stroke();
    }
    if (state.current || state.t) {
      const {start, z} = direction();
      const [x0, y0] = at(...place(data, start, state.how)), [x1, y1] = at(...place(data, z, state.how));
      ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(x1 - 10, y1); ctx.lineTo(x1 + 10, y1); ctx.moveTo(x1, y1 - 10); ctx.lineTo(x1, y1 + 10); ctx.stroke();
    }
  }

  function paintDigit(selector, probs) {
    window.vaePage.paint($(selector), probs);
  }

  function decode(z, label) {
    // The current model's decoding of z, or null if the page cannot decode.
    try {
      return state.decoder && state.decoder.decode(z, state.spec.conditional ? label : 0);
    } catch (e) {
      return null;
    }
  }

  function pointAt(i) {
    // Show test digit i of the map and its reconstruction, and say which it is.
    const data = state.data;
    state.hover = i;
    draw();
    const image = data.images.subarray(i * 784, (i + 1) * 784).map(v => v / 255);
    paintDigit("#code-map-view canvas.vae-test", image);
    const recon = decode(code(data, i), data.labels[i]);
    if (recon) paintDigit("#code-map-view canvas.vae-digit:not(.vae-test)", recon);
    window.vaeCodeMapStats.hoverPaints++;
    const where = $("#code-map-view .vae-where");
    if (where) where.textContent = `Test ${state.spec.picture} #${data.test_indices[i]}, `
      + `a ${state.spec.class_names[data.labels[i]]}. Point at another dot (or touch it) to see its picture; click a `
      + "dot to set the sliders (Latent sliders tab) to its code and to move it with the class direction below.";
  }

  function nearestDot(e, canvas) {
    // The dot nearest the pointer, and its squared distance in canvas pixels.
    const r = canvas.getBoundingClientRect(), {xy, at} = frame(state.data, state.how, canvas);
    const px = (e.clientX - r.left) * canvas.width / r.width, py = (e.clientY - r.top) * canvas.height / r.height;
    let best = -1, bestDistance = Infinity;
    for (let i = 0; i < state.data.n; i++) {
      const [x, y] = at(xy[2 * i], xy[2 * i + 1]), d = (x - px) ** 2 + (y - py) ** 2;
      if (d < bestDistance) [best, bestDistance] = [i, d];
    }
    return [best, bestDistance];
  }

  function onPointer(e) {
    const canvas = e.target.closest && e.target.closest("#code-map-view canvas.vae-map");
    if (!canvas || !state.data) return;
    const [i, distance] = nearestDot(e, canvas);
    if (distance <= HIT_RADIUS ** 2 && i !== state.hover) pointAt(i);
    // A click picks the digit on show, if it is the nearest, a little beyond the pointing radius (a pointer
    // moves by fractions of a pixel, a click lands on whole pixels).
    if (e.type !== "click" || i !== state.hover || distance > (2 * HIT_RADIUS) ** 2) return;
    // This digit becomes the one the slider moves, and the server sets the sliders to its code.
    state.current = {code: Array.from(code(state.data, i)), label: state.data.labels[i]};
    state.picked = state.data.test_indices[i];
    paintDirection();
    $("#code-map-pick")?.click();
  }

  function paintDirection() {
    if (!state.data) return;
    const {z, label} = direction(), probs = decode(z, label);
    if (probs) {
      paintDigit("#code-map-direction canvas.vae-digit", probs);
      window.vaeCodeMapStats.directionPaints++;
    }
    draw();
  }

  function onInput(e) {
    // The direction slider: decode right here, no request.
    if (!(e.target.closest && e.target.closest("#code-map-t"))) return;
    state.t = Number(e.target.value) || 0;
    paintDirection();
  }

  const drawn = new WeakSet();  // Gradio renders a tab's content when it is first opened: draw the new canvas then

  function onMutation() {
    const canvas = $("#code-map-view canvas.vae-map");
    if (canvas && !drawn.has(canvas)) {
      drawn.add(canvas);
      if (state.data) state.data.frames = {};
      if (!state.data && state.spec) show(state.spec);
      paintDirection();
    }
  }

  new MutationObserver(onMutation).observe(document.documentElement, {subtree: true, childList: true});
  document.addEventListener("pointermove", onPointer);
  document.addEventListener("click", onPointer);
  document.addEventListener("input", onInput);
  window.vaeCodeMap = {
    show,
    current(c) { state.current = c && c.code ? c : null; paintDirection(); },
    method(how) { state.how = how || "umap"; state.hover = -1; draw(); },
    direction(from, to) { [state.from, state.to] = [Number(from) || 0, Number(to) || 0]; paintDirection(); },
    picked: () => state.picked,
  };
})();
