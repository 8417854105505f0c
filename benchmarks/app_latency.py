"""How quickly does the app answer a latent slider, and what does it cost to run?

Prints (a) the slider handler alone, in-process; (b) the server round trip in headless Chromium,
from the slider's `input` event to the server's digit painted in the canvas (the path a page
takes while it cannot decode itself: its weights are blocked here); (c) seconds from starting
`python3 app.py` to its first HTTP 200; (d) the server's resident memory; (e) the page path: a
mouse drag on a slider, from each `input` event to the page's own decode painted in the canvas,
and to the next animation frame; (f) the page's first painted digit after navigation; (g) the
bytes of weights the page fetches per model, on a first visit and after a reload.

    python3 benchmarks/app_latency.py [--handler-samples 500] [--browser-samples 80] [--page-moves 150]
    VAE_WEIGHTS_DIR=FOLDER python3 benchmarks/app_latency.py   # the app serving another folder of weights
"""
import argparse
import os
import random
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (  # noqa: E402
    PAINTED,
    ROOT,
    SLIDER_STEP,
    VIEWPORT,
    chromium,
    open_app,
    rss_mb,
    select_model,
    serve_app,
    set_slider,
    summary,
    timed,
)
from vae.loaded import default_model, load_models  # noqa: E402
from webapp.compute import decode_sliders  # noqa: E402
from webapp.outputs import big  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

WEIGHTS = Path(os.environ.get("VAE_WEIGHTS_DIR", ROOT / "weights"))  # the folder the app serves, as app.py reads it
TARGETS_MS = {"handler p95": 5.0, "browser round trip p95": 100.0, "page paint p95": 16.0}

# Per slider `input` event: from the event's creation (event.timeStamp) to the end of the page's own
# handler (page.js paints synchronously; a listener on window runs after it) and to the next frame.
PAGE_HOOK = """() => {
  window.__moves = [];
  document.addEventListener('input', e => {
    if (!e.target.closest || !e.target.closest("[id^='z-']")) return;
    const t0 = e.timeStamp, paints = window.vaeStats.paints;
    window.addEventListener('input', () => {
      const painted = performance.now(), ok = window.vaeStats.paints > paints;
      requestAnimationFrame(() => window.__moves.push([ok, painted - t0, performance.now() - t0]));
    }, {once: true});
  }, true);
}"""
# The weights each model's page decoder fetched over the network, in bytes, by file (Resource Timing).
WEIGHT_BYTES = """() => Object.fromEntries(performance.getEntriesByType('resource')
  .filter(e => e.name.includes('.safetensors'))
  .map(e => [decodeURIComponent(e.name).split('/').pop(), e.transferSize]))"""


# Stamps the slider's `input` event; page.js stamps painting the server's decoded image into the canvas.
TIMING_HOOK = """() => {
  performance.setResourceTimingBufferSize(100000);
  document.addEventListener('input', e => { window.__t0 = e.timeStamp; }, true);
}"""
# The in-page round trip and its parts: until the browser requests the new PNG (event, queue, handler, Gradio's
# post-processing, the SSE message), and the PNG's fetch (Resource Timing).
# A PNG the browser had cached has no new entry: then only the round trip counts.
PARTS = """() => { const src = window.vaeStats.serverSrc;
  const r = performance.getEntriesByName(src).filter(e => e.startTime >= window.__t0).at(-1);
  const out = {'round trip': window.vaeStats.lastPaint - window.__t0};
  return r ? {...out, 'to image request': r.startTime - window.__t0, 'image fetch': r.responseEnd - r.startTime} : out;
}"""


# ---- the benchmark ----

def bench_handler(samples: int, seed: int = 0) -> list[float]:
    """The slider handler's work (one decode, one PNG: /decode) alone, in this process, with random slider values
    (after 20 warm-up calls)."""
    models = load_models(WEIGHTS)[0]
    loaded, rng = models[default_model(models)], random.Random(seed)
    dims = max(m.latent_dim for m in models.values())
    calls = [[rng.uniform(-3, 3) for _ in range(dims)] for _ in range(samples + 20)]
    ms = [timed(lambda v=values: big(decode_sliders(loaded, v, 0))) for values in calls]
    return ms[20:]


def slider_values(samples: int, seed: int = 0) -> list[tuple[int, float]]:
    """(slider index, value) pairs on the slider grid, each different from the one before."""
    rng, grid = random.Random(seed), [round(i * SLIDER_STEP, 2) for i in range(-60, 61)]
    out: list[tuple[int, float]] = []
    while len(out) < samples:
        step = (rng.randrange(3), rng.choice(grid))
        if not out or step[1] != out[-1][1]:
            out.append(step)
    return out


def bench_browser(page: "Page", samples: int) -> dict[str, list[float]]:
    """Server round trips of a slider move in ms: in-page (input event to image load) split into its parts,
    and wall clock."""
    page.evaluate(TIMING_HOOK)
    out: dict[str, list[float]] = {"round trip": [], "to image request": [], "image fetch": [], "wall": []}
    for i, (index, value) in enumerate(slider_values(samples + 5)):
        old = page.evaluate("window.vaeStats.serverPaints")
        start = time.perf_counter()
        set_slider(page, index, value)
        page.wait_for_function("old => window.vaeStats.serverPaints > old", arg=old, timeout=15_000)
        wall = (time.perf_counter() - start) * 1000
        parts = page.evaluate(PARTS)
        if i >= 5:  # the first few warm up the browser's and the server's caches
            out["wall"].append(wall)
            for key, value_ms in parts.items():
                out[key].append(value_ms)
    return out


def bench_page(page: "Page", moves: int, seed: int = 0) -> dict[str, list[float]]:
    """A mouse drag back and forth on the first slider: per input event, ms to painted and to the next frame."""
    page.evaluate(PAGE_HOOK)
    slider = page.locator("#z-0 input[type=range]")
    slider.scroll_into_view_if_needed()  # below the fold since the overview sits above the views; a mouse off screen
    box = slider.bounding_box()  # moves nothing, and the drag would wait forever
    rng, y = random.Random(seed), box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    while page.evaluate("window.__moves.length") < moves + 5:
        page.mouse.move(box["x"] + rng.uniform(0.02, 0.98) * box["width"], y, steps=4)
    page.mouse.up()
    done = page.evaluate("window.__moves")[5:]  # the first few warm up the JIT
    if not all(ok for ok, _, _ in done):
        raise RuntimeError("an input event of the drag did not paint")
    return {"painted": [m[1] for m in done], "frame": [m[2] for m in done]}


def weight_bytes(browser: "Browser", url: str, names: list[str]) -> None:
    """Bytes of weights fetched per model: choose each model in turn, then reload and choose them again."""
    context = browser.new_context(viewport=VIEWPORT)
    page, fetched = context.new_page(), {}
    for visit in ("first visit", "after a reload"):
        page.goto(url, wait_until="load")
        page.wait_for_function(PAINTED, timeout=60_000)
        for name in names:
            if not page.evaluate("n => n in window.vaeStats.bytes", name):  # the default model has loaded already
                select_model(page, name)
                page.wait_for_function("n => n in window.vaeStats.bytes", arg=name, timeout=60_000)
        fetched[visit] = (page.evaluate("window.vaeStats.bytes"), page.evaluate(WEIGHT_BYTES))
    for name in names:
        size = (WEIGHTS / f"{name}.safetensors").stat().st_size
        (first, wire), (again, _) = fetched["first visit"], fetched["after a reload"]
        print(f"(g) {name:<16} weights file {size / 1e6:5.2f} MB; the page fetched {first[name] / 1e6:5.2f} MB"
              f" (over the wire {wire.get(name + '.safetensors', 0) / 1e6:5.2f} MB), after a reload"
              f" {again[name] / 1e6:5.2f} MB")
    context.close()


def server_page(browser: "Browser", url: str) -> "Page":
    """A page whose weights requests fail, so it decodes on the server, as the app did before."""
    context = browser.new_context(viewport=VIEWPORT)
    context.route("**/*.safetensors", lambda route: route.abort())
    page = context.new_page()
    page.goto(url, wait_until="load")
    page.locator("#decoded .vae-status").filter(has_text="server").wait_for(timeout=30_000)
    page.wait_for_function("() => window.vaeStats.serverPaints > 0", timeout=30_000)
    return page


def main() -> None:
    """Run the four measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--handler-samples", type=int, default=500)
    parser.add_argument("--browser-samples", type=int, default=80)
    parser.add_argument("--page-moves", type=int, default=150)
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start "
          "(other jobs share it: figures are noisy)")
    print(summary("(a) on_slide handler, in-process", bench_handler(args.handler_samples),
                  TARGETS_MS["handler p95"]))
    with serve_app() as (url, proc, startup), chromium() as browser:
        print(f"(c) python3 app.py to first HTTP 200: {startup:.1f} s")
        rss_start = rss_mb(proc.pid)
        page, errors = open_app(browser, url)
        print(f"(d) server RSS after start: {rss_start:.0f} MiB; after opening the page: {rss_mb(proc.pid):.0f} MiB")
        print(f"(f) page: first digit painted {page.evaluate('window.vaeStats.firstPaint'):.0f} ms after navigation "
              f"start, first by its own decoder {page.evaluate('window.vaeStats.first.paints'):.0f} ms (weights of "
              f"{page.evaluate('Object.keys(window.vaeStats.bytes)')[0]} fetched and decoded)")
        ms = bench_page(page, args.page_moves)
        print(summary("(e) page: input event -> canvas painted", ms["painted"], TARGETS_MS["page paint p95"]))
        print(summary("    same, to the next animation frame", ms["frame"]))
        weight_bytes(browser, url, list(page.evaluate("Object.keys(window.VAE_MODELS)")))
        ms = bench_browser(server_page(browser, url), args.browser_samples)
        print(summary("(b) server: input event -> image painted", ms["round trip"],
                      TARGETS_MS["browser round trip p95"]))
        for part in ("to image request", "image fetch"):  # none since the digit comes in the answer (issue 26)
            if ms[part]:
                print(summary(f"    of which: {part}", ms[part]))
        print(summary("    same round trip, Playwright wall clock", ms["wall"]))
        print(f"(d) server RSS after the browser benchmark: {rss_mb(proc.pid):.0f} MiB")
        if errors:
            print("console errors during the run:", *errors, sep="\n  ")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
