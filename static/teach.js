// The page's way in (webapp/views/guide.py): the guided start's and "switch to" buttons (choose a model, open a view,
// bring it into sight), links from a term to the glossary, and a shareable address: the model, the view and the code
// z live in the URL's hash (#model=mlp-2d&view=map&z=0.5,-1.2), read once the page is ready, kept up to date after.
// The model and the sliders are set through hidden Gradio buttons (#set-model, #set-code) whose js reads `wanted`; a
// view is opened by a click on its tab, or through #set-view when its tab is not on screen.
(() => {
  "use strict";

  const WAIT_MS = 30000;  // a model switch fetches the model's weights first
  const GROW_MS = 3000;  // how long a view brought into sight is kept there while it grows
  const wanted = {model: null, view: null, label: null, code: null};
  const state = {applying: true, timer: null};

  const $ = sel => document.querySelector(sel);
  const visible = el => !!el && el.getClientRects().length > 0;
  const frame = () => new Promise(resolve => requestAnimationFrame(() => resolve()));

  function until(test, ms = WAIT_MS) {
    // Resolves once test() is true (checked each frame), rejects after ms.
    return new Promise((resolve, reject) => {
      const start = performance.now();
      const check = () => {
        if (test()) return resolve();
        if (performance.now() - start > ms) return reject(new Error("vae: timed out waiting for the page"));
        requestAnimationFrame(check);
      };
      check();
    });
  }

  function shown(model) {
    // Resolves at the next "the page has drawn `model`" (static/page.js).
    return new Promise(resolve => {
      const on = e => {
        if (e.detail.model !== model) return;
        document.removeEventListener("vae-shown", on);
        resolve(e.detail);
      };
      document.addEventListener("vae-shown", on);
    });
  }

  async function setModel(model) {
    if (!model || window.vaePage?.current().model === model) return;
    const done = shown(model);
    wanted.model = model;
    $("#set-model")?.click();
    await done;
  }

  async function setCode(model, label, z) {
    const done = shown(model);
    wanted.label = label;
    wanted.code = z;
    $("#set-code")?.click();
    await done;
  }

  async function selectView(view) {
    // Open the view whose tab has the id (and elem_id) `view`: a click on its tab, at once, when the tab is on
    // screen (the views' tabs wrap, never hide); else through the server (a round trip, queued behind a switch).
    if (currentView() === view) return;
    const tab = document.getElementById(`${view}-button`);
    if (visible(tab)) {
      tab.click();
    } else {
      wanted.view = view;
      $("#set-view")?.click();
    }
    await until(() => currentView() === view, 10000);
  }

  async function bringIntoView(view) {
    // The view's tab bar at the top of the screen, once the view has laid itself out.
    await frame();
    await new Promise(resolve => setTimeout(resolve, 300));
    const panel = document.getElementById(view);
    const bar = panel?.parentElement?.querySelector(":scope > .tab-wrapper") || panel;
    if (!bar) return;
    bar.scrollIntoView({block: "start"});
    keepAtTop(bar);
  }

  function keepAtTop(bar) {
    // A view still growing (its pictures arriving) can leave the page too short for its bar to reach the top: the
    // scroll stops short. Scroll again each time the page grows, for up to GROW_MS, unless the visitor scrolls
    // meanwhile. A ResizeObserver wakes only when sizes change: no work at each frame while the page loads.
    let at = scrollY;
    const observer = new ResizeObserver(() => {
      if (scrollY !== at) return observer.disconnect();  // the visitor scrolled
      if (Math.abs(bar.getBoundingClientRect().top) > 2) bar.scrollIntoView({block: "start"});
      at = scrollY;
    });
    observer.observe(document.body);
    observer.observe(bar.parentElement || bar);
    setTimeout(() => observer.disconnect(), GROW_MS);
  }

  async function go(model, view, draw) {
    // A guided-start or "switch to" button: that model, that view, in sight (and its drawing pad open).
    await setModel(model);
    await selectView(view);
    if (draw) {
      const pad = [...document.querySelectorAll(`#${view} [role=tab]`)].find(t => t.textContent.trim() === "Draw");
      pad?.click();
      await frame();
    }
    await bringIntoView(view);
    writeHash();
  }

  async function openGlossary(anchor) {
    // Open "Words used on this page" at the entry `anchor`, and mark it for a moment.
    const glossary = $("#glossary");
    if (!glossary) return;
    if (!visible(document.getElementById(anchor))) glossary.querySelector("button, .label-wrap")?.click();
    await until(() => visible(document.getElementById(anchor)), 3000).catch(() => null);
    const entry = document.getElementById(anchor);
    if (!entry) return;
    entry.scrollIntoView({block: "center"});
    entry.classList.add("vae-flash");
    setTimeout(() => entry.classList.remove("vae-flash"), 2000);
  }

  // ---- the address ----

  function currentView() {
    // The id of the view on show (its tab panel is the visible one).
    const panel = [...document.querySelectorAll("#views > .tabitem[id^='tab-']")].find(visible);
    return panel ? panel.id : null;
  }

  function writeHash() {
    // The model, the view and the code now on view, in the address (no new history entry).
    if (state.applying || !window.vaePage) return;
    const now = window.vaePage.current();
    if (!now.model) return;
    const params = new URLSearchParams({model: now.model});
    const view = currentView();
    if (view) params.set("view", view.slice(4));
    if (now.label) params.set("class", String(now.label));
    const z = now.z.map(v => Math.round(v * 100) / 100);
    while (z.length && z[z.length - 1] === 0) z.pop();  // the dimensions after the last non-zero are 0
    if (z.length) params.set("z", z.join(","));
    const hash = "#" + params.toString().replaceAll("%2C", ",");
    if (hash !== location.hash) history.replaceState(null, "", hash);
  }

  function writeSoon() {
    clearTimeout(state.timer);
    state.timer = setTimeout(writeHash, 150);
  }

  function firstVisit() {
    // "How a VAE works" stays open on a first visit only: a returning visitor finds it closed (one click opens it).
    try {
      if (localStorage.getItem("vae-overview-seen")) $("#overview .label-wrap")?.click();
      localStorage.setItem("vae-overview-seen", "1");
    } catch (e) {
      console.warn("vae: no local storage:", e);
    }
  }

  async function applyHash() {
    // A shared address: the same model, view and point of its latent space.
    firstVisit();
    const params = new URLSearchParams(location.hash.slice(1));
    const model = params.get("model"), z = params.get("z");
    // A model or view this page does not have (a link from another version of it) is left out; the rest opens.
    const tab = `tab-${params.get("view")}`;
    const view = document.getElementById(`${tab}-button`) || document.getElementById(tab) ? tab : null;
    try {
      if (model && window.VAE_MODELS?.[model]) await setModel(model);
      if (view) await selectView(view);
      if (z || params.get("class")) await setCode(model || window.vaePage.current().model, params.get("class"), z || "");
      if (view) await bringIntoView(view);
    } catch (e) {
      console.warn("vae: could not open the shared address:", e);
    }
    state.applying = false;
    writeHash();
  }

  // ---- the run history ----

  function nameSliders(e) {
    // Gradio's run history names a run's inputs by the labels in the page's config, which keep the labels the
    // sliders were made with (slider i, not the dimension it moves for this model). Its client reads the same
    // component objects as window.gradio_config, so they get the dimension names the sliders show
    // (webapp.compute.dimension_name: z1, z2, ...).
    const ranking = window.VAE_MODELS?.[e.detail.model]?.ranking;
    for (const c of (ranking && window.gradio_config?.components) || []) {
      const i = /^z-(\d+)$/.exec(c.props?.elem_id || "")?.[1];
      if (i !== undefined && Number(i) < ranking.length) c.props.label = `z${ranking[Number(i)] + 1}`;
    }
  }

  // ---- wiring ----

  document.addEventListener("click", e => {
    const target = e.target.closest ? e.target : null;
    const button = target?.closest(".vae-go");
    if (button) {
      // Busy until the view is in sight: a first switch to a model can take seconds (its map, its weights).
      button.setAttribute("aria-busy", "true");
      go(button.dataset.model, button.dataset.view, button.dataset.draw).catch(err => console.warn("vae:", err))
        .finally(() => button.removeAttribute("aria-busy"));
      return;
    }
    const link = target?.closest("a[href^='#']");
    const href = link?.getAttribute("href") || "";
    if (href.startsWith("#g-")) {
      e.preventDefault();
      openGlossary(href.slice(1));
    } else if (href === "#views") {  // the guided start's "all the views": their tab bar to the top
      e.preventDefault();
      document.querySelector("#views > .tab-wrapper")?.scrollIntoView({block: "start"});
    } else if (href.startsWith("#view=")) {
      e.preventDefault();
      const view = `tab-${href.slice(6)}`;
      selectView(view).then(() => bringIntoView(view)).catch(err => console.warn("vae:", err));
    } else if (target?.closest("#views > .tab-wrapper")) {
      writeSoon();
    }
  }, true);
  document.addEventListener("input", e => {
    if (e.target.closest && e.target.closest("[id^='z-']")) writeSoon();
  });
  document.addEventListener("vae-shown", writeSoon);
  document.addEventListener("vae-shown", nameSliders);
  document.addEventListener("vae-shown", applyHash, {once: true});  // the page's first drawing: it is ready
  window.vaeTeach = {wanted, go, openGlossary};
})();
