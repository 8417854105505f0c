"""The Code map tab in headless Chromium: it opens on a typical digit, its example's neighbours and an analogy;
pointing at the map shows that test digit and its reconstruction, a click sets the sliders, and the
class-direction slider repaints in the page with no request."""

import importlib.util
import io
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.harness import (
    CHROMIUM,
    CODE_MAP_READY,
    ROOT,
    canvas_pixels,
    chromium,
    image_src,
    open_app,
    open_tab,
    point_at_a_dot,
    select_model,
    serve_app,
    settles,
)
from pictures.digitize import load_digit
from tests.e2e.test_browser import assert_shows, eventually, server_requests
from tests.helpers import WEIGHTS
from vae.latent import decode_probs
from vae.loaded import load_model
from vae.projection import class_direction, load_projection, move_along, neighbours
from webapp import compute
from webapp.views import code_map

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright is not installed"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]
MODEL = "conv-32d"
NEIGHBOURS = "#code-map-neighbours .caption-label"  # the nearest test digits' captions


@pytest.fixture(scope="module")
def page() -> Iterator["Page"]:
    """The app on the Code map tab with the 32-D model chosen; fails on console or page errors."""
    with serve_app() as (url, _, _), chromium() as browser:
        pg, errors = open_app(browser, url)
        with settles(pg):  # the switch's and the opening's answers are in: the tests see only what they set off
            select_model(pg, MODEL)
            open_tab(pg, "Code map")
            pg.wait_for_function(CODE_MAP_READY, timeout=60_000)
            # The opening example's neighbours: their answer sets the digit the direction slider moves.
            pg.locator(NEIGHBOURS).nth(code_map.N_NEIGHBOURS - 1).wait_for(timeout=60_000)
        yield pg
        assert not errors, errors


def test_the_view_opens_on_a_typical_digit_its_neighbours_and_an_analogy(page: "Page") -> None:
    """With no pointing or click: the hover panel shows the test digit whose code is nearest the average 3 (the
    direction's first class) and its reconstruction; the opening example's nearest test digits; and 7 - 1 + 4
    worked out from the first such test digits on the map."""
    loaded = load_model(WEIGHTS / f"{MODEL}.safetensors")
    proj = load_projection(loaded, WEIGHTS)
    i = int(torch.cdist(proj.class_means[3][None], proj.codes).argmin())
    assert int(proj.labels[i]) == 3
    text = page.locator("#code-map-view .vae-where").inner_text()
    assert text.startswith(f"Test digit #{int(proj.test_indices[i])}, a 3. Point at another dot"), text
    assert canvas_pixels(page, "#code-map-view .vae-hover div:first-child") == proj.images[i].flatten().tolist()
    assert_shows(canvas_pixels(page, "#code-map-view .vae-hover div:last-child"),
                 decode_probs(loaded.model, proj.codes[i][None])[0])
    example = load_digit(ROOT / "examples" / code_map.OPENING[loaded.dataset], loaded.box_side)
    nearest, _ = neighbours(proj.codes, compute.encode(loaded, example), code_map.N_NEIGHBOURS)
    captions = page.locator(NEIGHBOURS).all_inner_texts()
    assert [int(c.split(":")[0].lstrip("#")) for c in captions] == proj.test_indices[nearest].tolist()
    first = [int(proj.test_indices[proj.labels == k][0]) for k in (7, 1, 4)]
    assert [page.locator(f"#code-map-{n} input").input_value() for n in "abc"] == [str(n) for n in first]
    page.locator("#code-map-analogy").scroll_into_view_if_needed()  # its picture loads once near the screen
    picture = page.request.get(image_src(page, "#code-map-analogy", wait=True)).body()
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(picture)).convert("L")),
                          np.asarray(code_map.analogy_picture(loaded, proj, *first).convert("L")))


CAPTIONS_CUT = """() => {
  const wrap = document.querySelector('#code-map-neighbours .grid-wrap').getBoundingClientRect();
  return [...document.querySelectorAll('#code-map-neighbours .caption-label')]
    .filter(c => c.getBoundingClientRect().bottom > wrap.bottom + 0.5).length; }"""


def test_every_nearest_digit_shows_whole_with_its_caption(page: "Page") -> None:
    """The gallery is as tall as its 8 digits: a fixed height once hid the second row's distances on a desktop."""
    assert page.locator(NEIGHBOURS).count() == code_map.N_NEIGHBOURS
    assert page.evaluate(CAPTIONS_CUT) == 0


def test_an_analogy_off_the_map_says_why_on_the_page(page: "Page") -> None:
    """A test digit number the map does not hold: one warning naming the problem, and the picture stays. The click
    once did nothing at all: Gradio shows a warning only for a queued event."""
    box = page.locator("#code-map-a input")
    before = box.input_value()
    box.fill("99999")
    page.get_by_role("button", name="a - b + c", exact=True).click()
    toast = page.locator(".toast-body")
    toast.first.wait_for(timeout=10_000)
    assert toast.count() == 1 and "warning" in toast.get_attribute("class")
    assert "Test picture 99999 is not on the map" in toast.inner_text()
    page.locator(".toast-close").first.click()
    box.fill(before)


def test_pointing_at_the_map_shows_that_test_digit_and_its_reconstruction(page: "Page") -> None:
    loaded = load_model(WEIGHTS / f"{MODEL}.safetensors")
    proj = load_projection(loaded, WEIGHTS)
    with settles(page):  # pictures that come into sight load: fetching them is not the pointing's doing
        page.locator("#code-map-view canvas.vae-map").scroll_into_view_if_needed()
    with server_requests(page) as requests:
        point_at_a_dot(page)
    assert requests == []
    text = page.locator("#code-map-view .vae-where").inner_text()
    number = int(re.search(r"Test digit #(\d+), a (\S+)\.", text).group(1))
    i = int(torch.nonzero(proj.test_indices == number)[0])
    assert f"a {loaded.class_names[proj.labels[i]]}." in text
    assert canvas_pixels(page, "#code-map-view .vae-hover div:first-child") == proj.images[i].flatten().tolist()
    assert_shows(canvas_pixels(page, "#code-map-view .vae-hover div:last-child"),
                 decode_probs(loaded.model, proj.codes[i][None])[0])


def test_the_direction_slider_repaints_in_the_page_with_no_request(page: "Page") -> None:
    loaded = load_model(WEIGHTS / f"{MODEL}.safetensors")
    proj = load_projection(loaded, WEIGHTS)
    page.evaluate("() => window.vaeCodeMap.current(null)")  # start from the average 3, as before any digit
    slider = page.locator("#code-map-t input[type=range]")
    with settles(page):  # pictures that come into sight load (the analogy's, below): not the slider's doing
        page.locator("#code-map-direction").scroll_into_view_if_needed()
    pictures = []
    with server_requests(page) as requests:
        for t in (0.0, 0.25, 0.5, 0.75, 1.0):
            slider.fill(f"{t:.2f}")
            pictures.append(canvas_pixels(page, "#code-map-direction"))
    assert requests == []
    assert len({tuple(p) for p in pictures}) == 5
    step = class_direction(proj.class_means, 3, 8)
    assert_shows(pictures[0], decode_probs(loaded.model, proj.class_means[3][None])[0])
    assert_shows(pictures[-1], decode_probs(loaded.model, move_along(proj.class_means[3], step, 1.0)[None])[0])


def test_a_click_on_a_dot_sets_the_sliders_to_its_code(page: "Page") -> None:
    loaded = load_model(WEIGHTS / f"{MODEL}.safetensors")
    proj = load_projection(loaded, WEIGHTS)
    page.mouse.click(*point_at_a_dot(page))
    number = page.evaluate("() => window.vaeCodeMap.picked()")
    assert number is not None, page.locator("#code-map-view .vae-where").inner_text()
    i = int(torch.nonzero(proj.test_indices == number)[0])
    open_tab(page, "Latent sliders")
    eventually(lambda: assert_shows(canvas_pixels(page, "#decoded"),
                                    decode_probs(loaded.model, sliders_code(loaded, proj.codes[i]))[0]))


def sliders_code(loaded, z: torch.Tensor) -> torch.Tensor:
    """The code the sliders hold after being set to `z`: rounded to 2 decimals and clipped to +-3, as they show it."""
    return z.clamp(-3, 3).mul(100).round().div(100)[None]
