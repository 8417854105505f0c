"""End to end: `python3 app.py` in a subprocess, driven in headless Chromium the way a user drives it (~1 min)."""

import importlib.util
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from benchmarks.harness import (
    CHROMIUM,
    SCORE_SHOWN,
    choose_example,
    chromium,
    click_and_wait,
    draw_digit,
    image_src,
    open_app,
    open_tab,
    serve_app,
    set_slider,
    wait_new_image,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="the playwright package is not installed (pip install playwright)"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    """The app, started once for this module on a free port, stopped at the end."""
    with serve_app() as (url, _, _):
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    """One headless Chromium for the module."""
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: "Browser", app_url: str) -> Iterator["Page"]:
    """A fresh page in its initial state, closed after the test; fails the test on console or page errors."""
    pg, errors = open_app(browser, app_url)
    yield pg
    pg.close()
    assert not errors, errors


def test_page_loads_without_console_errors(browser: "Browser", app_url: str) -> None:
    """The initial page logs no errors (see app_latency.console_error for the external ones it ignores)."""
    pg, errors = open_app(browser, app_url)
    pg.wait_for_timeout(1000)  # errors from late scripts
    pg.close()
    assert errors == []


def test_slider_changes_decoded_image(page: "Page") -> None:
    """Dragging a latent slider redraws the decoded digit."""
    old = image_src(page, "#decoded")
    set_slider(page, 0, 2.0)
    assert wait_new_image(page, "#decoded", old) != old


def test_drawn_digit_is_reconstructed_and_scored(page: "Page") -> None:
    """A digit drawn with the mouse on the Sketchpad gets a reconstruction and a score in nats."""
    open_tab(page, "Reconstruct")
    draw_digit(page, "#tab-reconstruct")
    click_and_wait(page, "Reconstruct", "#recon")
    page.wait_for_function(SCORE_SHOWN)
    assert "nats" in page.locator("#score").inner_text()


def test_interpolation_shows_gif(page: "Page") -> None:
    """Two examples chosen as From and To interpolate into an animated GIF."""
    open_tab(page, "Interpolate")
    choose_example(page, "#interp-from", "digit-3-1-test0018.png")
    choose_example(page, "#interp-to", "digit-8-1-test0061.png")
    assert click_and_wait(page, "Interpolate", "#gif").endswith(".gif")
