"""static/decoder.js on its own in headless Chromium, decoding one weights file: no app, no server.

Playwright answers the page's requests itself (page.route), so a test or a benchmark can run the page's decoder
on any model, one trained a moment ago included, in seconds instead of the minutes the app takes to start.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.harness import ROOT
from vae.loaded import LoadedModel
from webapp.decoder_spec import page_spec

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

ORIGIN = "http://localhost:8999"  # never contacted: the route below answers every request
WEIGHTS_URL = f"{ORIGIN}/weights.safetensors"
DECODE_ALL = """async ([spec, codes, labels]) => {
  const d = await window.VAEDecoder.load(spec);
  return codes.map((z, i) => Array.from(d.decode(z, labels[i])));
}"""
# Milliseconds per decode, timed in the page around each call, after `warm` calls that are not counted.
DECODE_TIMES = """async ([spec, codes, warm]) => {
  const d = await window.VAEDecoder.load(spec);
  codes.slice(0, warm).forEach(z => d.decode(z, 0));
  return codes.slice(warm).map(z => { const t = performance.now(); d.decode(z, 0); return performance.now() - t; });
}"""


@contextmanager
def decoder_page(browser: "Browser", weights: Path) -> Iterator["Page"]:
    """A blank page with static/decoder.js loaded, whose fetches of WEIGHTS_URL get the file at `weights`."""
    page = browser.new_page()
    files = {"/decoder.js": (ROOT / "static" / "decoder.js", "text/javascript"),
             "/weights.safetensors": (weights, "application/octet-stream")}

    def answer(route: "Route") -> None:
        path = route.request.url.removeprefix(ORIGIN)
        if path == "/":
            route.fulfill(body="<!doctype html><title>decoder</title>", content_type="text/html")
        elif path in files:
            route.fulfill(path=str(files[path][0]), content_type=files[path][1])
        else:
            route.abort()

    page.route(f"{ORIGIN}/**", answer)
    try:
        page.goto(f"{ORIGIN}/")
        page.add_script_tag(url=f"{ORIGIN}/decoder.js")
        yield page
    finally:
        page.close()


def spec_for(loaded: LoadedModel, weights: Path) -> dict:
    """What the app tells the page about `loaded`, with its weights at WEIGHTS_URL (the file `weights`)."""
    return page_spec(loaded, weights, WEIGHTS_URL)
