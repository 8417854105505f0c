"""End to end: the Compress view in headless Chromium, as a visitor uses it (~1 min).

The view opens on an example compressed; an example digit is compressed at a click on its thumbnail, the .vae
file rebuilt into the same digit (a new file clears the last rebuild), a drawn digit compressed with the button,
the 20 examples coded as one message, and a damaged file refused.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from benchmarks.harness import (
    ROOT,
    click_and_wait,
    draw_digit,
    example_thumbnail,
    image_src,
    open_on_example,
    open_view,
    select_model,
    table_flaws,
    wait_in_sight,
    wait_new_image,
)
from pictures.digitize import load_digit
from tests.e2e.conftest import NEEDS_CHROMIUM, app_page
from tests.e2e.test_browser import shown
from webapp.views.compress import OPENING, black_and_white

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = NEEDS_CHROMIUM
TAB = "#tab-compress"
EXAMPLE = "digit-2-1-test0001.png"


CODER = "conv-32d"  # a shipped model that codes (trained on black and white), chosen even when it is the default


def open_on_the_coder(pg: "Page", touch: bool = False) -> str:
    """Choose CODER and open Compress on its example; returns the src of the black-and-white image shown."""
    select_model(pg, CODER)
    return open_on_example(pg, "Compress", touch=touch)


@pytest.fixture
def page(browser: "Browser", app_url: str) -> Iterator["Page"]:
    """A fresh page on the Compress tab, CODER chosen; fails the test on console or page errors."""
    with app_page(browser, app_url) as pg:
        open_on_the_coder(pg)
        yield pg


def shown_digit(page: "Page", selector: str) -> np.ndarray:
    """The black-and-white 28x28 digit in the image output `selector`."""
    return (shown(page, selector) > 0.5).astype(np.uint8)


def text_of(page: "Page", selector: str, pattern: str) -> str:
    """The text of `selector` once it matches the regular expression `pattern`."""
    page.wait_for_function("([sel, re]) => new RegExp(re).test(document.querySelector(sel)?.textContent || '')",
                           arg=[selector, pattern], timeout=30_000)
    return page.locator(selector).inner_text()


def test_the_view_opens_on_an_example_compressed(page: "Page") -> None:
    """A first look, with no click: the opening example is made black and white and coded into a .vae file."""
    expected = black_and_white(load_digit(ROOT / "examples" / OPENING["mnist"]))[0]
    assert np.array_equal(shown_digit(page, "#binary"), expected)
    assert "bits" in text_of(page, "#compress-sizes", "Your digit in")
    page.locator("#vae-file .file-preview").wait_for()


def test_a_switch_to_a_model_that_codes_opens_the_view_on_its_example(browser: "Browser", app_url: str) -> None:
    """Opened with a model that cannot code, the view shows only its notice and takes no example; its "Switch to"
    button brings the model, and the view, now on screen with a model that fits, compresses its example."""
    with app_page(browser, app_url) as pg:
        select_model(pg, "mlp-20d")
        open_view(pg, "Compress")
        pg.locator(f"{TAB} .vae-needs .vae-go").click()
        image_src(pg, "#binary", wait=True)
        expected = black_and_white(load_digit(ROOT / "examples" / OPENING["mnist"]))[0]
        assert np.array_equal(shown_digit(pg, "#binary"), expected)


def test_a_switch_to_the_two_layer_model_codes_the_same_digit_in_four_steps(page: "Page") -> None:
    """The view re-reads its digit with the newly chosen two-layer model: four steps (its lower layer u has one of its
    own), and Decompress rebuilds the same digit from that model's file. The last model's message of the 20
    examples is put away."""
    first = text_of(page, "#compress-steps", "3 steps")
    page.get_by_role("button", name="Code the 20 examples as one message", exact=True).click()
    text_of(page, "#many-note", "bits per pixel")
    select_model(page, "hconv-32d-64d")
    steps = text_of(page, "#compress-steps", "4 steps")
    assert steps != first and "3. code u" in steps and "4. code z" in steps
    page.locator("#many").wait_for(state="hidden")
    assert page.locator("#many-note").inner_text().strip() == ""
    page.locator("#vae-file .file-preview", has_text="hconv-32d-64d").wait_for()
    click_and_wait(page, "Decompress", "#rebuilt")
    expected = black_and_white(load_digit(ROOT / "examples" / OPENING["mnist"]))[0]
    assert np.array_equal(shown_digit(page, "#rebuilt"), expected)
    assert "hconv-32d-64d" in text_of(page, "#rebuilt-note", "Identical")


def test_an_example_is_compressed_and_rebuilt_from_the_file_alone(page: "Page") -> None:
    """A click on a thumbnail compresses it at once; Decompress rebuilds exactly that black-and-white digit."""
    opening = image_src(page, "#binary")
    example_thumbnail(page, TAB, EXAMPLE).click()
    wait_new_image(page, "#binary", opening, timeout=30_000)
    expected = black_and_white(load_digit(ROOT / "examples" / EXAMPLE))[0]
    assert np.array_equal(shown_digit(page, "#binary"), expected)
    sizes = text_of(page, "#compress-sizes", "bytes")
    assert "1-bit PNG" in sizes and "zlib" in sizes and "negative ELBO" in sizes
    assert "take bits back" in text_of(page, "#compress-steps", "code z")
    page.locator("#vae-file .file-preview").wait_for()
    click_and_wait(page, "Decompress", "#rebuilt")
    assert np.array_equal(shown_digit(page, "#rebuilt"), expected)
    assert "all 784 pixels match" in text_of(page, "#rebuilt-note", "Identical")


def test_a_new_file_clears_the_rebuild_of_the_last_one(page: "Page") -> None:
    """The note under the empty rebuild says what Decompress does; a rebuild, then another example compressed: the
    old rebuild goes. It stayed, called identical to the digits compressed above, which it was not."""
    size = len(page.request.get(page.locator("#vae-file a").first.get_attribute("href")).body())
    assert f"this file's {size} bytes alone" in text_of(page, "#rebuilt-note", "Press Decompress")
    click_and_wait(page, "Decompress", "#rebuilt")
    text_of(page, "#rebuilt-note", "Identical")
    example_thumbnail(page, TAB, EXAMPLE).click()
    text_of(page, "#rebuilt-note", "Press Decompress")
    page.wait_for_function("() => !document.querySelector('#rebuilt img')")
    click_and_wait(page, "Decompress", "#rebuilt")
    expected = black_and_white(load_digit(ROOT / "examples" / EXAMPLE))[0]
    assert np.array_equal(shown_digit(page, "#rebuilt"), expected)


# Every src the <img> in an element shows, the one now and each after it, in window.vaeSeen[selector].
WATCH_IMAGES = """sel => { const src = () => document.querySelector(sel + ' img')?.src || '';
  const seen = (window.vaeSeen = window.vaeSeen || {})[sel] = [src()];
  new MutationObserver(() => { if (src() !== seen.at(-1)) seen.push(src()); })
    .observe(document.querySelector(sel), {subtree: true, childList: true, attributes: true}); }"""


def test_the_digit_on_view_picked_again_keeps_its_file_and_rebuild(page: "Page") -> None:
    """Picking the example already compressed gives the file box the same file again, and Gradio announces it as a
    change (as it sometimes does by itself): the view reads nothing twice. A second reading made a new .vae file,
    which cleared the rebuild the visitor had just made."""
    rebuilt = click_and_wait(page, "Decompress", "#rebuilt")
    binary = image_src(page, "#binary")
    for selector in ("#binary", "#rebuilt"):
        page.evaluate(WATCH_IMAGES, selector)
    example_thumbnail(page, TAB, OPENING["mnist"]).click()  # the digit on view
    example_thumbnail(page, TAB, EXAMPLE).click()  # its reading comes after the first pick's (trigger_mode)
    last = wait_new_image(page, "#binary", binary, timeout=30_000)
    assert np.array_equal(shown_digit(page, "#binary"), black_and_white(load_digit(ROOT / "examples" / EXAMPLE))[0])
    seen = page.evaluate("window.vaeSeen")
    assert seen["#binary"] == [binary, last], seen  # no second reading of the first pick in between
    assert seen["#rebuilt"] == [rebuilt, ""], seen  # the rebuild stayed until the second pick's new file


def test_a_drawn_digit_is_compressed_with_the_button(page: "Page") -> None:
    """A 7 drawn with the mouse, then Compress: its black-and-white digit and a .vae file appear."""
    draw_digit(page, TAB)
    click_and_wait(page, "Compress", "#binary")
    assert shown_digit(page, "#binary").sum() > 20  # the stroke's white pixels
    page.locator("#vae-file .file-preview").wait_for()
    assert "bits" in text_of(page, "#compress-sizes", "Your digit in")


def test_the_twenty_examples_go_in_one_message(page: "Page") -> None:
    """The second button codes the 20 examples together and explains the total and net rates; they decompress."""
    page.get_by_role("button", name="Code the 20 examples as one message", exact=True).click()
    note = text_of(page, "#many-note", "bits per pixel")
    assert "20 digits in one message" in note and "net" in note and "start-up bits" in note
    image_src(page, "#many", wait=True)
    click_and_wait(page, "Decompress", "#rebuilt")
    assert "Rebuilt 20 digits" in text_of(page, "#rebuilt-note", "Identical")


def test_a_damaged_file_is_refused_and_no_digit_shown(page: "Page", tmp_path: Path) -> None:
    """A .vae file with one bit changed gets a warning saying it is damaged; no rebuilt digit is shown."""
    example_thumbnail(page, TAB, EXAMPLE).click()
    page.locator("#vae-file .file-preview").wait_for()
    data = page.request.get(page.locator("#vae-file a").first.get_attribute("href")).body()
    damaged = tmp_path / "damaged.vae"
    damaged.write_bytes(data[:-1] + bytes([data[-1] ^ 4]))
    page.locator("#vae-file button[aria-label='Clear']").click()
    page.locator("#vae-file input[type=file]").set_input_files(str(damaged))
    page.locator("#vae-file .file-preview td.filename[aria-label='damaged.vae']").wait_for()
    page.get_by_role("button", name="Decompress", exact=True).click()
    toast = page.locator(".toast-body")
    toast.first.wait_for(timeout=30_000)
    assert "this .vae file is damaged" in toast.first.inner_text().lower()
    assert image_src(page, "#rebuilt") == ""


# How many lines each element's text takes on screen.
LINES = """els => els.map(e => { const r = document.createRange(); r.selectNodeContents(e);
  return new Set([...r.getClientRects()].map(q => Math.round(q.top))).size; })"""


def test_on_a_phone_a_tapped_example_is_compressed_in_sight(browser: "Browser", app_url: str) -> None:
    """On a phone the result lies below the pad and the examples: a tap on a thumbnail brings it into sight, its
    tables readable."""
    with app_page(browser, app_url, phone=True) as pg:
        opening = open_on_the_coder(pg, touch=True)
        example_thumbnail(pg, TAB, EXAMPLE).tap()
        wait_new_image(pg, "#binary", opening, timeout=30_000)
        text_of(pg, "#compress-sizes", "bytes")
        wait_in_sight(pg, "#binary", margin=100)
        # Both tables wrap between words ("bytes", not "byt" and "es") and fit the screen.
        text_of(pg, "#compress-steps", "code z")
        assert table_flaws(pg, "#compress-sizes") == [] and table_flaws(pg, "#compress-steps") == []
        assert pg.locator("#compress-sizes td:last-child").evaluate_all(LINES) == [1, 1, 1]  # "36 (53)", one line
