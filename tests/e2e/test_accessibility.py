"""Accessibility of every view on a desktop (1280x900) and a phone (390x844): an axe-core run finds no serious or
critical violation, every picture has a text alternative, no heading skips a level, and the latent sliders work
from the keyboard (~3 min).

axe-core's script comes inside the axe-playwright-python wheel (requirements-dev.txt), so nothing is fetched.
"""

import importlib.util
from typing import TYPE_CHECKING

import pytest

from benchmarks.harness import (
    canvas_pixels,
    open_app,
    open_view,
    select_model,
    wait_new_pixels,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("axe_playwright_python") is None,
                       reason="axe-playwright-python is not installed (pip install -r requirements-dev.txt)"),
]

# Each view with the model that shows it and its panel's id, grouped by model: three model switches in all.
VIEWS = [("conv-32d", "Compress", "tab-compress"), ("conv-32d", "Code map", "tab-code-map"),
         ("mlp-20d", "Latent sliders", "tab-sliders"), ("mlp-20d", "Random samples", "tab-samples"),
         ("mlp-20d", "Reconstruct", "tab-reconstruct"), ("mlp-20d", "Interpolate", "tab-interpolate"),
         ("mlp-20d", "Posterior collapse & beta", "tab-compare"), ("mlp-20d", "Watch it learn", "tab-learn"),
         ("mlp-2d", "Latent map", "tab-map"), ("mlp-2d", "Why a VAE?", "tab-why"),
         ("cmlp-20d", "Every class", "tab-every")]
# Pictures the page shows without a name, on view: <img> without alt text, <canvas> without role="img" and a name.
UNNAMED = """() => [...document.querySelectorAll('img, canvas')].filter(e => e.getClientRects().length
    && getComputedStyle(e).visibility !== 'hidden')
  .filter(e => e.tagName === 'IMG' ? !e.alt : !(e.getAttribute('role') === 'img' && e.getAttribute('aria-label')))
  .map(e => e.outerHTML.slice(0, 120))"""

# Headings on view that go more than one level below the heading before them (a view's h3 under the page's h1).
SKIPPED_HEADINGS = """() => [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')]
  .filter(h => h.getClientRects().length).map(h => [Number(h.tagName[1]), h.textContent.trim().slice(0, 40)])
  .filter(([level], i, all) => i && level > all[i - 1][0] + 1).map(([level, text]) => `h${level} ${text}`)"""


def serious(page: "Page", context: str | None = None) -> list[str]:
    """axe-core's serious and critical violations in `context` (a CSS selector; None: the whole page) as it is now:
    rule, impact, where. axe-core's script (570 KB) goes into the page once."""
    from axe_playwright_python.sync_playwright import Axe

    if not page.evaluate("() => !!window.axe"):
        page.evaluate(Axe().axe_script)
    found = page.evaluate("c => axe.run(c || document, {resultTypes: ['violations']}).then(r => r.violations)",
                          context)
    return [f"{v['id']} ({v['impact']}): {n['target']} {n['html'][:100]}"
            for v in found if v["impact"] in ("serious", "critical") for n in v["nodes"]]


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_no_serious_violation_and_every_picture_named_on_any_view(browser: "Browser", app_url: str,
                                                                    phone: bool) -> None:
    page, errors = open_app(browser, app_url, phone=phone)
    problems = {}
    for i, (model, view, panel) in enumerate(VIEWS):
        if page.evaluate("() => window.vaePage.current().model") != model:
            select_model(page, model)
        open_view(page, view)
        page.wait_for_function("() => !document.querySelector('.pending')", timeout=30_000)  # Gradio's dimmed blocks
        page.wait_for_timeout(1000)  # the view's pictures arrive
        # The whole page once (its header, pickers and guided start are the same on every view), then each panel.
        found = serious(page, f"#{panel}" if i else None) + page.evaluate(UNNAMED) + page.evaluate(SKIPPED_HEADINGS)
        if found:
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
