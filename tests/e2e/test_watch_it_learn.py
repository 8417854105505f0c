"""End to end: the Watch it learn view in headless Chromium: Train draws the map forming and the samples changing,
Stop stops it and the last state stays, and the trained model can then be explored in the other views."""

import importlib.util
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from benchmarks.harness import CHROMIUM, chromium, open_app, open_tab, serve_app

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="the playwright package is not installed (pip install playwright)"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]

# A digest of a canvas's pixels, or null while there is no such canvas.
DIGEST = """sel => { const c = document.querySelector(sel); if (!c) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let h = 0;
  for (let i = 0; i < d.length; i += 3) h = (h * 31 + d[i]) | 0; return h; }"""
CODES, SAMPLES = "#learn-view canvas.vae-learn-codes", "#learn-view canvas.vae-learn-samples"
FIRST_UPDATE_S = 60  # from the click: the trainer may still be importing torch on a machine just started
CHANGE_S = 5  # the bound: the scatter and the samples change within 5 s


def stats(page: "Page") -> dict:
    return page.evaluate("window.vaeLearnStats")


def state_text(page: "Page") -> str:
    return page.locator("#learn-view .vae-learn-state").first.inner_text()


@pytest.fixture(scope="module")
def page() -> Iterator["Page"]:
    with serve_app() as (url, _, _), chromium() as browser:
        page, errors = open_app(browser, url)
        open_tab(page, "Watch it learn")
        yield page
        assert errors == []


def test_train_draws_the_map_forming_and_stop_stops_it(page: "Page") -> None:
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_function("(window.vaeLearnStats?.updates || 0) > 0", timeout=FIRST_UPDATE_S * 1000)
    first = page.evaluate(DIGEST, CODES), page.evaluate(DIGEST, SAMPLES)
    start = time.perf_counter()
    page.wait_for_function(f"([c, s]) => ({DIGEST})('{CODES}') !== c && ({DIGEST})('{SAMPLES}') !== s",
                           arg=list(first), timeout=CHANGE_S * 1000)
    assert time.perf_counter() - start < CHANGE_S
    assert stats(page)["steps"][0] > 0 and "epoch" in state_text(page)
    # Under the map, the page's legend: each class's colour and name in one item (not a swatch ending a line and
    # its "8" starting the next).
    assert page.locator("#learn-view .vae-learn-run .vae-legend li").all_inner_texts() == [str(d) for d in range(10)]

    page.get_by_role("button", name="Stop", exact=True).click()
    page.wait_for_function("() => /stopped/.test(document.querySelector('#learn-view .vae-learn-state')"
                           "?.textContent || '')", timeout=10_000)
    stopped = stats(page)["steps"], page.evaluate(DIGEST, CODES), page.evaluate(DIGEST, SAMPLES)
    page.wait_for_timeout(2000)
    assert (stats(page)["steps"], page.evaluate(DIGEST, CODES), page.evaluate(DIGEST, SAMPLES)) == stopped


def test_the_trained_model_can_be_explored_in_the_sliders(page: "Page") -> None:
    explore = page.locator("#learn-explore")
    explore.wait_for(state="visible", timeout=30_000)
    painted = page.evaluate("window.vaeStats.paints")
    explore.click()
    picker = page.get_by_role("combobox", name="Model", exact=True)
    page.wait_for_function("() => /trained-/.test(document.querySelector('input[aria-label=\"Model\"]')?.value"
                           " || '')", timeout=30_000)
    assert picker.input_value().startswith("trained-")
    open_tab(page, "Latent sliders")
    page.wait_for_function(f"() => window.vaeStats.paints > {painted}", timeout=30_000)  # its own decoder
    # (the server may draw the first digit while the trained model's decoder loads, but the page never falls back)
    assert "server" not in page.locator("#decoded .vae-status").inner_text()
