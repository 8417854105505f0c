// "How a VAE works" (webapp/views/overview.py): the server sends a digit's encoding (mean and sd per dimension);
// here the page draws epsilon, forms z = mean + sd * epsilon, decodes z with static/decoder.js (through
// window.vaePage) and writes the loss's two parts. A two-layer model's encoding carries the encoder's features h:
// its lower layer (u on the page, z1 in vae/) is drawn from q(z1|x, z) with its own noise, and its KL is the loss's
// third part.
// "New ε" redraws z and x' without a request.
(() => {
  "use strict";

  const RANGE = 3;  // the bars show -3 ... +3, as the sliders do
  const PINK = "#e0457b", GREY = "#d0d0d0", DARK = "#333";
  const state = {q: null, eps: null, eps1: null, draws: 0};
  window.vaeStats = window.vaeStats || {};

  const $ = sel => document.querySelector(sel);

  function gaussian() {
    // One draw of N(0, 1) (Box-Muller).
    const u = 1 - Math.random(), v = Math.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  function noise(q) {
    // New draws for z, and for a two-layer model's z1.
    state.eps = q.mean.map(gaussian);
    state.eps1 = Array.from({length: q.lower_dim || 0}, gaussian);
  }

  function newEpsilon() {
    if (!state.q) return;
    noise(state.q);
    draw();
  }

  function axes(ctx, w, h) {
    // White ground, the prior's +-1 band in grey, the zero line.
    const y = v => (RANGE - v) / (2 * RANGE) * h;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, h);
    ctx.fillStyle = "#f0f0f0";
    ctx.fillRect(0, y(1), w, y(-1) - y(1));
    ctx.strokeStyle = "#999";
    ctx.beginPath(); ctx.moveTo(0, y(0)); ctx.lineTo(w, y(0)); ctx.stroke();
    ctx.fillStyle = "#777";
    ctx.font = "10px sans-serif";
    ctx.fillText(`+${RANGE}`, 2, 10);
    ctx.fillText(`-${RANGE}`, 2, h - 3);
    return y;
  }

  function bars(canvas, order, each) {
    // One column per latent dimension (slider order: most informative first), drawn by each(ctx, x, width, y, d).
    if (!canvas) return;
    const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height, left = 18;
    const y = axes(ctx, w, h), step = (w - left) / order.length;
    const clip = v => Math.max(-RANGE, Math.min(RANGE, v));
    order.forEach((d, i) => each(ctx, left + i * step, step, v => y(clip(v)), d));
  }

  function drawPosterior(q) {
    bars($("#ov-q canvas"), q.ranking, (ctx, x, step, y, d) => {
      const m = q.mean[d], s = q.sd[d];
      ctx.fillStyle = "#f4a3c0";
      ctx.fillRect(x + step * 0.15, y(m + s), step * 0.7, Math.max(1, y(m - s) - y(m + s)));
      ctx.fillStyle = PINK;
      ctx.fillRect(x + step * 0.1, y(m) - 1, step * 0.8, 2);
    });
  }

  function drawCode(q, eps, z) {
    bars($("#ov-z canvas"), q.ranking, (ctx, x, step, y, d) => {
      ctx.fillStyle = GREY;
      const top = Math.min(y(0), y(eps[d]));
      ctx.fillRect(x + step * 0.3, top, step * 0.4, Math.max(1, Math.abs(y(eps[d]) - y(0))));
      ctx.fillStyle = DARK;
      ctx.beginPath();
      ctx.arc(x + step / 2, y(z[d]), Math.max(1.5, Math.min(4, step / 3)), 0, 2 * Math.PI);
      ctx.fill();
    });
  }

  function reconstructionCost(x, probs) {
    // -log p(x|z) of a Bernoulli decoder, in nats, as vae/loss.reconstruction_nll computes it.
    let sum = 0;
    for (let i = 0; i < x.length; i++) {
      const p = Math.min(Math.max(probs[i], 1e-7), 1 - 1e-7);
      sum -= x[i] * Math.log(p) + (1 - x[i]) * Math.log(1 - p);
    }
    return sum;
  }

  function lossLine(recon, kl, lowerKl) {
    // The loss of this draw in words; a two-layer model's has a third part, the lower layer's KL.
    const el = $(".vae-ov-loss");
    if (!el) return;
    const lower = lowerKl === null ? "" : ` + lower layer's KL <b id="ov-kl-lower">${lowerKl.toFixed(1)}</b> nats ` +
      "(how far q(u|x, z) is from p(u|z), what the lower layer u adds)";
    el.innerHTML = `Reconstruction cost <b id="ov-recon">${recon.toFixed(1)}</b> nats (how badly x' matches x) + ` +
      `<a href="#g-kl">KL</a> <b id="ov-kl">${kl.toFixed(1)}</b> nats (how far q(z|x) is from the prior N(0, 1))` +
      `${lower} = <b id="ov-total">${(recon + kl + (lowerKl || 0)).toFixed(1)}</b> nats, the ` +
      '<a href="#g-nelbo">negative ELBO</a> of this draw: training makes it small.';
  }

  async function decoded(q, z) {
    // x' for the code z: decoded from z, or for a two-layer model from z1 drawn given x and z, with that KL.
    if (!q.h) return {probs: await window.vaePage.decode(q.model, z, q.label), lowerKl: null};
    return (await window.vaePage.decoder(q.model)).posterior(q.h, z, state.eps1, q.label);
  }

  async function draw() {
    const q = state.q, eps = state.eps;
    const z = q.mean.map((m, d) => m + q.sd[d] * eps[d]);
    window.vaePage?.paint($("#ov-x canvas.vae-digit"), q.x);
    const seen = $("#ov-x figcaption");  // the page opens on an example: say so, and that a visitor's own is welcome
    if (seen) seen.textContent = q.opening ? "x: a test example; try yours" : "x: the picture the model sees";
    drawPosterior(q);
    drawCode(q, eps, z);
    let out;
    try {
      out = await decoded(q, z);
    } catch (e) {
      const el = $(".vae-ov-loss");
      if (el) el.textContent = `This browser could not decode here (${e && e.message || e}).`;
      return;
    }
    if (q !== state.q || eps !== state.eps) return;  // a newer digit or epsilon is being drawn
    window.vaePage.paint($("#ov-xr canvas.vae-digit"), out.probs);
    const caption = $("#ov-xr figcaption");
    if (caption) caption.textContent = q.h ? "x': decoded from z, via u" : "x': decoded from z";
    lossLine(reconstructionCost(q.x, out.probs), q.kl, out.lowerKl);
    window.vaeStats.overviewDraws = ++state.draws;
    const row = $(".vae-ov");
    if (row) {  // what was decoded, for tests: z, and the lower layer's noise (none for one layer)
      row.dataset.z = z.map(v => v.toFixed(4)).join(",");
      row.dataset.eps1 = state.eps1.map(v => v.toFixed(4)).join(",");
    }
  }

  function show(q) {
    // A new encoding from the server (a new digit, or a new model): keep epsilon if the dimensions still fit.
    if (!q || !q.mean) return;
    if (!state.eps || state.eps.length !== q.mean.length || state.eps1.length !== (q.lower_dim || 0)) noise(q);
    state.q = q;
    draw();
  }

  document.addEventListener("click", e => {
    if (e.target.closest && e.target.closest(".vae-ov-eps")) newEpsilon();
  });
  window.vaeOverview = {show, newEpsilon};
})();
