"""How quickly does the app answer a latent slider, and what does it cost to run?

Prints (a) the slider handler alone, in-process; (b) the full round trip in headless Chromium,
from the slider's `input` event to the new decoded image's `load` event; (c) seconds from starting
`python3 app.py` to its first HTTP 200; (d) the server's resident memory after start and after (b).

    python3 benchmarks/app_latency.py [--handler-samples 500] [--browser-samples 80]
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
    ROOT,
    SLIDER_STEP,
    chromium,
    image_src,
    open_app,
    rss_mb,
    serve_app,
    set_slider,
    summary,
    timed,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

TARGETS_MS = {"handler p95": 5.0, "browser round trip p95": 100.0}

# Stamps the slider's `input` event and the decoded image's `load` event (capture phase: `load` does not bubble).
TIMING_HOOK = """() => {
  performance.setResourceTimingBufferSize(100000);
  document.addEventListener('input', () => { window.__t0 = performance.now(); }, true);
  document.addEventListener('load', e => {
    if (e.target.closest && e.target.closest('#decoded')) {
      window.__t1 = performance.now(); window.__src = e.target.src;
    }
  }, true);
}"""
# The in-page round trip and its parts: until the browser requests the new PNG (event, queue, handler, Gradio's
# post-processing, the SSE message), and the PNG's fetch (Resource Timing).
# A PNG the browser had cached has no new entry: then only the round trip counts.
PARTS = """() => { const r = performance.getEntriesByName(window.__src).filter(e => e.startTime >= window.__t0).at(-1);
  const out = {'round trip': window.__t1 - window.__t0};
  return r ? {...out, 'to image request': r.startTime - window.__t0, 'image fetch': r.responseEnd - r.startTime} : out;
}"""


# ---- the benchmark ----

def bench_handler(samples: int, seed: int = 0) -> list[float]:
    """app.on_slide alone, in this process, with random slider values (after 20 warm-up calls)."""
    sys.path.insert(0, str(ROOT))
    import app

    name, rng = app.explore.default_model(app.MODELS), random.Random(seed)
    calls = [[rng.uniform(-3, 3) for _ in range(app.MAX_DIMS)] for _ in range(samples + 20)]
    ms = [timed(lambda v=values: app.on_slide(name, 0, *v)) for values in calls]
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
    """Round trips of a slider move in ms: in-page (input event to image load) split into its parts, and wall clock."""
    page.evaluate(TIMING_HOOK)
    out: dict[str, list[float]] = {"round trip": [], "to image request": [], "image fetch": [], "wall": []}
    for i, (index, value) in enumerate(slider_values(samples + 5)):
        old = image_src(page, "#decoded")
        start = time.perf_counter()
        set_slider(page, index, value)
        page.wait_for_function("old => window.__src && window.__src !== old", arg=old, timeout=15_000)
        wall = (time.perf_counter() - start) * 1000
        parts = page.evaluate(PARTS)
        if i >= 5:  # the first few warm up the browser's and the server's caches
            out["wall"].append(wall)
            for key, value_ms in parts.items():
                out[key].append(value_ms)
    return out


def main() -> None:
    """Run the four measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--handler-samples", type=int, default=500)
    parser.add_argument("--browser-samples", type=int, default=80)
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
        ms = bench_browser(page, args.browser_samples)
        print(summary("(b) browser: input event -> img load", ms["round trip"], TARGETS_MS["browser round trip p95"]))
        print(summary("    of which: until the PNG is requested", ms["to image request"]))
        print(summary("    of which: fetching the PNG", ms["image fetch"]))
        print(summary("    same round trip, Playwright wall clock", ms["wall"]))
        print(f"(d) server RSS after the browser benchmark: {rss_mb(proc.pid):.0f} MiB")
        if errors:
            print("console errors during the run:", *errors, sep="\n  ")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
