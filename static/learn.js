// The "Watch it learn" view's drawings (webapp/views/watch_it_learn.py): each update from the server is one
// JSON text (webapp/learn.py) that this script draws on canvases, one panel per run: the test digits' codes
// coloured by class, the prior samples, the two loss terms per step, and the KL of each latent dimension.
// Every update carries the whole picture, so the page keeps nothing between updates.
(() => {
  "use strict";

  const RANGE = 4;  // the scatter shows codes in [-4, 4], as the latent map does: the prior's mass and more
  const DIGITS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];  // the classes of the digits it trains on
  const GRID = 8, SIDE = 28;  // the prior samples: an 8 x 8 grid of 28 x 28 digits
  const RECON = "#1f77b4", KL = "#d62728";
  // For tests: updates drawn, and the step each panel shows.
  window.vaeLearnStats = {updates: 0, steps: [], run: null};

  const state = {labels: []};  // the test digits' classes, the same in every update
  const $ = sel => document.querySelector(sel);

  function panel(root, i) {
    // The i-th run's panel, made the first time it is needed.
    let el = root.querySelector(`.vae-learn-run[data-run="${i}"]`);
    if (el) return el;
    el = document.createElement("div");
    el.className = "vae-learn-run";
    el.dataset.run = String(i);
    el.innerHTML = `<h4 class="vae-learn-title"></h4><p class="vae-learn-state"></p>
      <div class="vae-learn-pictures">
        <figure><canvas class="vae-learn-codes" width="360" height="360" role="img" aria-label="Test digits' codes, coloured by class"></canvas>
          <ul class="vae-legend" aria-label="Colour of each class"></ul>
          <figcaption>Test digits' codes, coloured by class</figcaption></figure>
        <figure><canvas class="vae-learn-samples" width="${GRID * SIDE}" height="${GRID * SIDE}" role="img" aria-label="Samples from the prior"></canvas>
          <figcaption>Samples from the prior (the same codes each time)</figcaption></figure>
      </div>
      <figure><canvas class="vae-learn-loss" width="720" height="200" role="img" aria-label="Reconstruction and KL at each step"></canvas>
        <figcaption><span style="color:${RECON}">Reconstruction</span> (left scale) and
          <span style="color:${KL}">KL</span> (right scale), nats per digit, at each step</figcaption></figure>
      <p class="vae-learn-dims"></p>`;
    root.appendChild(el);
    window.vaePage.legend(el.querySelector("canvas.vae-learn-codes"), DIGITS);  // as on the page's other maps
    return el;
  }

  function drawCodes(canvas, codes, pca) {
    // The codes as dots coloured by class. The view spans [-4, 4] (the prior's mass and more), wider while
    // codes lie further out, so every digit is on it.
    const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height, labels = state.labels;
    const range = Math.max(RANGE, Math.ceil(Math.max(...codes.map(Math.abs))));
    const at = (x, y) => [(x + range) / (2 * range) * w, (range - y) / (2 * range) * h];
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, h);
    ctx.strokeStyle = "#ddd";
    ctx.fillStyle = "#777";
    ctx.font = "11px sans-serif";
    const tick = Math.ceil(range / RANGE);
    for (let v = -range; v <= range; v += tick) {
      const [x, y] = at(v, v);
      ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, h); ctx.moveTo(0, y); ctx.lineTo(w, y); ctx.stroke();
      if (v > -range && v < range) { ctx.fillText(String(v), x + 2, h - 4); ctx.fillText(String(v), 2, y - 2); }
    }
    ctx.fillStyle = "#333";
    ctx.fillText(pca ? "1st principal axis →" : "z1 →", w - (pca ? 112 : 34), h - 16);
    ctx.fillText(pca ? "2nd principal axis ↑" : "z2 ↑", 20, 12);
    ctx.globalAlpha = 0.7;
    for (let i = 0; i < labels.length; i++) {
      const [x, y] = at(codes[2 * i], codes[2 * i + 1]);
      ctx.fillStyle = window.vaePage.colours[labels[i] % window.vaePage.colours.length];
      ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
    }
    ctx.globalAlpha = 1;
  }

  function drawSamples(canvas, b64) {
    const bytes = Uint8Array.from(atob(b64), ch => ch.charCodeAt(0));
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(GRID * SIDE, GRID * SIDE), px = img.data;
    for (let k = 0; k < GRID * GRID; k++) {
      const r0 = Math.floor(k / GRID) * SIDE, c0 = (k % GRID) * SIDE;
      for (let p = 0; p < SIDE * SIDE; p++) {
        const o = 4 * ((r0 + Math.floor(p / SIDE)) * GRID * SIDE + c0 + (p % SIDE)), v = bytes[k * SIDE * SIDE + p];
        px[o] = px[o + 1] = px[o + 2] = v;
        px[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
  }

  function scale(values) {
    // A y range with a little room around the values (and never empty, never below 0: both terms are >= 0).
    let lo = Math.min(...values), hi = Math.max(...values);
    if (!isFinite(lo)) return [0, 1];
    if (hi - lo < 1e-6) { lo -= 0.5; hi += 0.5; }
    const pad = 0.05 * (hi - lo);
    return [Math.max(0, lo - pad), hi + pad];
  }

  function drawLoss(canvas, loss) {
    const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height, left = 44, right = 44, top = 8,
          bottom = 22;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, h);
    const steps = loss.step, last = Math.max(1, steps.length ? steps[steps.length - 1] : 1);
    const x = s => left + (s / last) * (w - left - right);
    ctx.fillStyle = "#555";
    ctx.font = "11px sans-serif";
    ctx.fillText("step 0", left, h - 6);
    ctx.fillText(`step ${Math.round(last).toLocaleString()}`, w - right - 70, h - 6);
    [[loss.recon, RECON, left - 40], [loss.kl, KL, w - right + 4]].forEach(([values, colour, labelX]) => {
      if (!values.length) return;
      const [lo, hi] = scale(values), y = v => top + (hi - v) / (hi - lo) * (h - top - bottom);
      ctx.fillStyle = colour;
      ctx.fillText(hi.toFixed(hi < 20 ? 1 : 0), labelX, top + 10);
      ctx.fillText(lo.toFixed(lo < 20 ? 1 : 0), labelX, h - bottom);
      ctx.strokeStyle = colour;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      values.forEach((v, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, x(steps[i]), y(v)));
      ctx.stroke();
    });
  }

  function dims(kl) {
    // The KL of each latent dimension, in words: a dimension near 0 nats carries nothing (it has collapsed).
    const parts = kl.map((v, d) => `z${d + 1}: ${v.toFixed(2)}`);
    const dead = kl.filter(v => v < 0.1).length;
    return `KL per latent dimension (nats): ${parts.join(", ")}` +
      (dead ? ` — ${dead} of ${kl.length} carry almost nothing (collapsed)` : "");
  }

  function update(text) {
    if (!text) return;
    const data = JSON.parse(text), root = $("#learn-view .vae-learn");
    for (const spec of data.models) (window.VAE_MODELS = window.VAE_MODELS || {})[spec.name] = spec;
    if (!root || !data.runs.length) return;
    state.labels = data.labels;
    if (window.vaeLearnStats.run !== data.run) {  // a new run: its panels only
      root.querySelectorAll(".vae-learn-run").forEach(el => el.remove());
      root.querySelector(".vae-learn-hint")?.remove();
    }
    data.runs.forEach((run, i) => {
      const el = panel(root, i);
      el.querySelector(".vae-learn-title").textContent = run.title;
      const done = {stopped: " — stopped", time: " — time is up", steps: " — done"}[run.finished] || "";
      el.querySelector(".vae-learn-state").textContent =
        `epoch ${run.epoch.toFixed(1)}, step ${run.step.toLocaleString()}, ${run.seconds.toFixed(0)} s${done}`;
      drawCodes(el.querySelector(".vae-learn-codes"), run.codes, run.latent_dim > 2);
      drawSamples(el.querySelector(".vae-learn-samples"), run.samples);
      drawLoss(el.querySelector(".vae-learn-loss"), run.loss);
      el.querySelector(".vae-learn-dims").textContent = dims(run.kl_per_dim);
    });
    const stats = window.vaeLearnStats;
    stats.updates++;
    stats.run = data.run;
    stats.steps = data.runs.map(r => r.step);
  }

  window.vaeLearn = {update};
})();
