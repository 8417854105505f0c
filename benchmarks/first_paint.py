"""How soon does a phone visitor see a digit, on a phone's network?

Starts `python app.py` from a checkout (this one, or --root another, e.g. main before a change) and opens it in
headless Chromium on a 390 x 844 touch screen, the browser's cache disabled, over the browser's own network
emulation (CDP Network.emulateNetworkConditions: throughput and added round-trip latency). A fresh browser
context per trial, so nothing is cached (HTTP cache or the page's Cache Storage). Two kinds of visit:

- a passive one: when the sliders are on screen (rendered), the first digit in the sliders' canvas (whoever
  drew it: the server or the page's own decoder), the first digit the page's own decoder drew, and the bytes
  transferred until then (all responses, and the weights files alone);
- a dragging one: from the moment the sliders are rendered, a finger drags the first slider back and forth
  (an input event every 100 ms); when does the canvas show a digit different from its first (by more than
  one grey level somewhere: the page redrawing the server's digit does not count)?

Times are ms since navigation start (performance.now() in the page). Prints median and range over the trials.

    python benchmarks/first_paint.py [--root /tmp/main-before] [--trials 2] [--networks localhost 10mbit 4mbit]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import PHONE, ROOT, chromium, serve_app  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# name -> (download and upload throughput in Mbit/s, added round-trip latency in ms); None: no emulation.
NETWORKS = {"localhost": None, "10mbit": (10, 40), "4mbit": (4, 70)}
TIMEOUT_S = 90  # a visit that shows nothing by then is reported as missing
# Watches the page each animation frame, from before its own scripts run, so that it measures the page of any
# version of the app: times (ms since navigation start) when the sliders are rendered, when the sliders' canvas
# first shows a digit, and when it first shows a different one. With `drag`, it moves the first slider every
# 100 ms once the sliders are rendered, as a finger's drag does (input events only).
WATCH = """drag => {
  const t = window.__firstPaint = {sliders: null, digit: null, changed: null};
  let first = null, step = 0;
  function digit() {
    const c = document.querySelector('#decoded canvas.vae-digit');
    if (!c) return null;
    const d = c.getContext('2d').getImageData(0, 0, 28, 28).data, grey = [];
    let drawn = false;
    for (let i = 0; i < d.length; i += 4) { grey.push(d[i]); drawn = drawn || d[i + 3] > 0; }
    return drawn ? grey : null;
  }
  function frame() {
    const now = performance.now(), slider = document.querySelector("[id^='z-'] input[type=range]");
    if (t.sliders === null && slider && slider.getBoundingClientRect().height > 0) t.sliders = now;
    const grey = digit();
    if (grey !== null) {
      t.digit = t.digit ?? now;
      first = first ?? grey;
      // A change is more than a grey level anywhere: the page redrawing the server's digit is not one.
      if (t.changed === null && grey.some((v, i) => Math.abs(v - first[i]) > 1)) t.changed = now;
    }
    if (t.changed === null || !drag) requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
  if (drag) setInterval(() => {
    const slider = document.querySelector("[id^='z-'] input[type=range]");
    if (t.sliders === null || t.changed !== null || !slider) return;
    step++;
    slider.value = String(2.5 * Math.sin(step / 3));  // back and forth, -2.5 to 2.5
    slider.dispatchEvent(new Event('input', {bubbles: true}));
  }, 100);
}"""
# The first paint by the page's own decoder: static/page.js's counters (older versions count it as firstPaint).
OWN_PAINT = "() => { const s = window.vaeStats || {}; return s.first ? s.first.paints : s.firstPaint; }"


def visit(browser: "Browser", url: str, network: tuple[int, int] | None, drag: bool) -> dict[str, float | None]:
    """One visit in a fresh phone context; the times (ms) and, for a passive visit, the bytes transferred."""
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.add_init_script(f"({WATCH})({'true' if drag else 'false'})")
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    if network:
        mbit, latency = network
        rate = mbit * 1e6 / 8  # bytes per second
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": latency,
                                                      "downloadThroughput": rate, "uploadThroughput": rate})
    urls: dict[str, str] = {}
    done: list[tuple[str, float]] = []
    cdp.on("Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]))
    cdp.on("Network.loadingFinished", lambda e: done.append((e["requestId"], e["encodedDataLength"])))
    page.goto(url, wait_until="commit")
    key = "changed" if drag else "digit"
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)
        times = page.evaluate("window.__firstPaint")
        if times[key] is not None and (drag or page.evaluate(OWN_PAINT) is not None):
            break
    times["own"] = page.evaluate(OWN_PAINT)
    if not drag:
        page.wait_for_timeout(1000)  # let the requests in flight finish
        times["MB"] = sum(n for _, n in done) / 1e6
        times["weights MB"] = sum(n for rid, n in done if ".safetensors" in urls.get(rid, "")) / 1e6
    context.close()
    return times


def spread(values: list[float | None], scale: float = 1e-3, unit: str = "s") -> str:
    """Median and range of the trials, e.g. '2.1 s (2.0-2.3)'; 'none' when a trial saw nothing."""
    if not values or any(v is None for v in values):
        return "none"
    v = [x * scale for x in values]
    return f"{statistics.median(v):.2f} {unit} ({min(v):.2f}-{max(v):.2f})"


def main() -> None:
    """Run the visits for each network and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose app.py to serve")
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--networks", nargs="+", choices=list(NETWORKS), default=list(NETWORKS))
    args = parser.parse_args()
    print(f"app: {args.root}; machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start "
          "(other jobs share it: figures are noisy); median (range) of", args.trials, "trials")
    print("| network | sliders on screen | first digit | first digit by the page's decoder | drag shows a change"
          " | transferred (weights) |")
    print("|---|---|---|---|---|---|")
    with serve_app(cwd=args.root) as (url, _, _), chromium() as browser:
        visit(browser, url, None, drag=False)  # a first visit warms the server up (not counted)
        for name in args.networks:
            passive = [visit(browser, url, NETWORKS[name], drag=False) for _ in range(args.trials)]
            dragged = [visit(browser, url, NETWORKS[name], drag=True) for _ in range(args.trials)]
            print(f"| {name} | {spread([t['sliders'] for t in passive])} | {spread([t['digit'] for t in passive])}"
                  f" | {spread([t['own'] for t in passive])} | {spread([t['changed'] for t in dragged])}"
                  f" | {spread([t['MB'] for t in passive], 1, 'MB')}"
                  f" ({spread([t['weights MB'] for t in passive], 1, 'MB')}) |", flush=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
