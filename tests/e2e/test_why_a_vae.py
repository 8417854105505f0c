"""End to end, in headless Chromium: the "Why a VAE?" view shows the plain autoencoder and the 2-D VAE side by side
on a desktop (1280 x 900) and one above the other on a phone (390 x 844, touch): both code maps and both decodings
of the same random draws, and "New draws" redraws them."""

from typing import TYPE_CHECKING

import pytest

from benchmarks.harness import ROOT, image_src, open_app, wait_new_image

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.skipif(not (ROOT / "weights" / "ae-2d.safetensors").exists(),
                                reason="weights/ae-2d.safetensors not trained yet")

PICTURES = ["#why-map-ae", "#why-map-vae", "#why-draws-ae", "#why-draws-vae"]
LOADED = "sel => { const i = document.querySelector(sel + ' img'); return !!i && i.complete && i.naturalWidth > 0; }"


def open_why(browser: "Browser", url: str, phone: bool) -> tuple["Page", list[str]]:
    """The app on a desktop or a phone, on the "Why a VAE?" tab, its four pictures loaded."""
    page, errors = open_app(browser, url, phone=phone)
    press = (lambda locator: locator.tap()) if phone else (lambda locator: locator.click())
    tab = page.get_by_role("tab", name="Why a VAE?", exact=True)
    if not tab.count():  # a narrow screen: Gradio lists the tabs that do not fit under "More tabs"
        # From another tab than Latent sliders, whose pinned digit panel covers that menu (issue 27, point 7).
        press(page.get_by_role("tab", name="Random samples", exact=True))
        press(page.get_by_role("button", name="More tabs"))
        tab = page.locator(".overflow-dropdown button", has_text="Why a VAE?")
    press(tab)
    for selector in PICTURES:
        page.wait_for_function(LOADED, arg=selector, timeout=30_000)
    return page, errors


def box(page: "Page", selector: str) -> dict:
    """The element's box on the page (scrolled into view first)."""
    element = page.locator(selector)
    element.scroll_into_view_if_needed()
    found = element.bounding_box()
    assert found is not None and found["width"] > 100 and found["height"] > 100, (selector, found)
    return found


def test_desktop_shows_the_two_models_side_by_side(browser: "Browser", app_url: str) -> None:
    page, errors = open_why(browser, app_url, phone=False)
    ae, vae = box(page, "#why-map-ae"), box(page, "#why-map-vae")
    assert abs(ae["y"] - vae["y"]) < 5 and vae["x"] >= ae["x"] + ae["width"]  # beside each other
    assert abs(ae["width"] - vae["width"]) < 2  # one scale: maps of one size
    assert page.get_by_text("What the prior and the KL term buy").is_visible()
    old = [image_src(page, s) for s in PICTURES]
    page.get_by_role("button", name="New draws", exact=True).click()
    for selector, src in zip(PICTURES, old, strict=True):
        wait_new_image(page, selector, src, timeout=30_000)
    assert page.locator("#why-seed input").input_value() == "1"
    page.close()
    assert not errors, errors


def test_phone_shows_one_model_above_the_other(browser: "Browser", app_url: str) -> None:
    page, errors = open_why(browser, app_url, phone=True)
    width = page.evaluate("() => document.documentElement.clientWidth")
    ae_map, ae_draws, vae_map = box(page, "#why-map-ae"), box(page, "#why-draws-ae"), box(page, "#why-map-vae")
    page.evaluate("() => window.scrollTo(0, 0)")
    tops = page.evaluate("sels => sels.map(s => document.querySelector(s).getBoundingClientRect().top)",
                         ["#why-map-ae", "#why-draws-ae", "#why-map-vae", "#why-draws-vae"])
    assert tops == sorted(tops)  # the autoencoder's map and draws, then the VAE's
    for found in (ae_map, ae_draws, vae_map):
        assert found["x"] >= 0 and found["x"] + found["width"] <= width + 1  # within the screen's width
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width  # nothing overflows sideways
    page.close()
    assert not errors, errors
