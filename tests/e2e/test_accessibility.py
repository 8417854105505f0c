"""Accessibility of every view on a desktop (1280x900) and a phone (390x844): an axe-core run finds no serious or
critical violation, every picture has a text alternative, and the latent sliders work from the keyboard (~3 min).

axe-core's script comes inside the axe-playwright-python wheel (requirements-dev.txt), so nothing is fetched.
"""

import importlib.util
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from benchmarks.harness import CHROMIUM, canvas_pixels, chromium, open_app, select_model, serve_app, wait_new_pixels

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="the playwright package is not installed (pip install playwright)"),
    pytest.mark.skipif(importlib.util.find_spec("axe_playwright_python") is None,
                       reason="axe-playwright-python is not installed (pip install -r requirements-dev.txt)"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]

# Each view with the model that shows it.
VIEWS = [("mlp-20d", "Latent sliders"), ("mlp-20d", "Random samples"), ("mlp-20d", "Reconstruct"),
         ("mlp-20d", "Interpolate"), ("mlp-20d", "Compare"), ("mlp-2d", "Latent map"), ("cmlp-20d", "Every class")]
# Pictures the page shows without a name, on view: <img> without alt text, <canvas> without role="img" and a name.
UNNAMED = """() => [...document.querySelectorAll('img, canvas')].filter(e => e.getClientRects().length
    && getComputedStyle(e).visibility !== 'hidden')
  .filter(e => e.tagName === 'IMG' ? !e.alt : !(e.getAttribute('role') === 'img' && e.getAttribute('aria-label')))
  .map(e => e.outerHTML.slice(0, 120))"""


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    """The app, started once for this module."""
    with serve_app() as (url, _, _):
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    """One headless Chromium for the module."""
    with chromium() as b:
        yield b


def open_view(page: "Page", name: str) -> None:
    """Choose a view by its tab, through the "..." menu where the tab has overflowed into it."""
    tab = page.get_by_role("tab", name=name, exact=True)
    if not (tab.count() and tab.first.is_visible()):
        page.get_by_role("button", name="More tabs").first.click()
        tab = page.locator(".overflow-dropdown button", has_text=name)
    tab.first.click()
    page.locator("[role=tab][aria-selected=true]", has_text=name).first.wait_for(state="attached")
    page.wait_for_timeout(1000)  # the view's pictures arrive


def serious(page: "Page") -> list[str]:
    """axe-core's serious and critical violations on the page as it is now: rule, impact, where."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {n['target']} {n['html'][:100]}"
            for v in found if v["impact"] in ("serious", "critical") for n in v["nodes"]]


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_no_serious_violation_and_every_picture_named_on_any_view(browser: "Browser", app_url: str,
                                                                    phone: bool) -> None:
    page, errors = open_app(browser, app_url, phone=phone)
    problems = {}
    for model, view in VIEWS:
        select_model(page, model)
        open_view(page, view)
        if found := serious(page) + page.evaluate(UNNAMED):
            problems[view] = found
    page.close()
    assert problems == {}
    assert not errors, errors


def test_latent_sliders_work_from_the_keyboard(browser: "Browser", app_url: str) -> None:
    """The first latent slider is in the Tab order; with the focus on it, the arrow keys move it by a step each,
    and the decoded digit follows."""
    page, errors = open_app(browser, app_url)
    slider = page.locator("#z-0 input[type=range]")
    assert slider.evaluate("e => e.tabIndex") >= 0
    slider.focus()
    old = canvas_pixels(page, "#decoded")
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    assert float(slider.input_value()) == pytest.approx(0.5)
    assert wait_new_pixels(page, "#decoded", old) != old
    page.close()
    assert not errors, errors
