// Drawing pads for the digit inputs: they draw at the first stroke with a mouse, a pen or a finger
// (pointer events), with Clear and Undo. app.py mounts one per "Draw" tab (gr.HTML js_on_load calls
// vaeDraw.mount) and gives each image event a js function, vaeDraw.inputs, which hands the drawing to
// the server with the event itself: a click right after a stroke always sends that stroke. When a
// stroke ends (and after Undo or Clear) the pad calls its gr.HTML's `vaeStroke`, which app.py sets to
// trigger the view's event, so the view updates without a button press.
(() => {
  "use strict";

  const SIZE = 280;  // canvas pixels; the digit is cropped and scaled to MNIST's 20x20 box on the server
  const LINE = 20;  // pen width in canvas pixels, chosen with benchmarks/pen_width.py (docs/views.md, "Drawing")
  const pads = new Map();  // pad id -> {strokes, canvas}; kept if Gradio mounts the tab's content again

  function paint(pad) {
    pad.painted = (pad.painted || 0) + 1;  // a new state of the drawing
    const ctx = pad.canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, SIZE, SIZE);
    ctx.strokeStyle = "#000";
    ctx.fillStyle = "#000";
    ctx.lineWidth = LINE;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const points of pad.strokes) {
      if (points.length === 1) {  // a tap leaves a dot
        ctx.beginPath();
        ctx.arc(points[0][0], points[0][1], LINE / 2, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      ctx.beginPath();
      ctx.moveTo(points[0][0], points[0][1]);
      for (const [x, y] of points.slice(1)) ctx.lineTo(x, y);
      ctx.stroke();
    }
  }

  function point(canvas, event) {
    // Page pixels -> canvas pixels: the canvas is shown smaller than SIZE on a phone.
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * SIZE / box.width, (event.clientY - box.top) * SIZE / box.height];
  }

  function listen(pad) {
    const canvas = pad.canvas;
    let stroke = null, pointer = null;  // the stroke being drawn, by one pointer (a second finger is ignored)
    canvas.addEventListener("pointerdown", event => {
      if (event.button > 0 || stroke) return;  // only the primary button, pen tip or finger draws
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      pointer = event.pointerId;
      stroke = [point(canvas, event)];
      pad.strokes.push(stroke);
      paint(pad);
    });
    canvas.addEventListener("pointermove", event => {
      if (!stroke || event.pointerId !== pointer) return;
      const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      for (const e of events.length ? events : [event]) stroke.push(point(canvas, e));
      paint(pad);
    });
    const end = event => {
      if (event.pointerId !== pointer || !stroke) return;
      stroke = null;
      changed(pad);
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
  }

  function changed(pad) {
    // Tell the pad's gr.HTML (an ancestor, whichever of it and this script loaded first) that the drawing changed.
    let element = pad.canvas;
    while (element && !element.vaeStroke) element = element.parentElement;
    element?.vaeStroke();
  }

  function button(text, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "vae-pad-button";
    b.textContent = text;
    b.addEventListener("click", onClick);
    return b;
  }

  // Build a pad in each <div class="vae-pad" data-pad="ID"> inside `element` not built yet.
  function mount(element) {
    element.querySelectorAll(".vae-pad:not([data-mounted])").forEach(build);
  }

  function build(host) {
    host.dataset.mounted = "1";
    const id = host.dataset.pad;
    const pad = pads.get(id) || {strokes: []};
    pads.set(id, pad);
    pad.canvas = document.createElement("canvas");
    pad.canvas.width = pad.canvas.height = SIZE;
    pad.canvas.className = "vae-pad-canvas";
    pad.canvas.setAttribute("aria-label", "Drawing pad");
    pad.canvas.setAttribute("role", "img");
    const tools = document.createElement("div");
    tools.className = "vae-pad-tools";
    tools.append(button("Undo", () => { pad.strokes.pop(); paint(pad); changed(pad); }),
                 button("Clear", () => { pad.strokes.length = 0; paint(pad); changed(pad); }));
    host.replaceChildren(pad.canvas, tools);
    listen(pad);
    paint(pad);
  }

  function shown(pad) {
    // The Draw tab is open: its canvas is in the page and displayed.
    return !!pad && pad.canvas.isConnected && pad.canvas.getClientRects().length > 0;
  }

  function drawing(pad) {
    // The Sketchpad value the server reads (gradio uploads the File with the event). Encoded once per
    // state of the pad: the views' events at a stroke's end (and a click right after) share one PNG.
    if (!pad.strokes.length) return Promise.resolve(null);
    if (pad.encoded?.painted !== pad.painted) {
      pad.encoded = {painted: pad.painted, png: new Promise(resolve => pad.canvas.toBlob(blob => resolve(
        {background: null, layers: [], composite: new File([blob], "drawing.png", {type: "image/png"})})))};
    }
    return pad.encoded.png;
  }

  // The event's input values, with each digit input's slots filled from what the user sees:
  // the drawing when its Draw tab is open (and no upload), else the upload (and no drawing).
  // slots: [[pad id, index of the upload value, index of the drawing value], ...].
  async function inputs(values, slots) {
    const out = [...values];
    for (const [id, upload, sketch] of slots) {
      const pad = pads.get(id);
      if (shown(pad)) {
        out[upload] = null;
        out[sketch] = await drawing(pad);
      } else {
        out[sketch] = null;
      }
    }
    return out;
  }

  window.vaeDraw = {mount, inputs};
  mount(document);  // Gradio may have shown a pad before this script loaded
})();
