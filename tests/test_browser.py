"""End to end: `python3 app.py` in a subprocess, driven in headless Chromium the way a user drives it,
with a mouse on a desktop screen and with a finger on a phone's (~2 min)."""

import importlib.util
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image, ImageDraw

from benchmarks.harness import (
    CHROMIUM,
    PAD_SIZE,
    PHONE,
    SCORE_SHOWN,
    SEVEN,
    choose_example,
    chromium,
    click_and_wait,
    draw_digit,
    image_src,
    open_app,
    open_tab,
    serve_app,
    set_slider,
    touch_drag,
    wait_new_image,
)
from tests.test_preprocess import same_shape
from vae.preprocess import to_mnist

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


@pytest.fixture
def phone(browser: "Browser", app_url: str) -> Iterator["Page"]:
    """The same on a 390 x 844 touch screen."""
    pg, errors = open_app(browser, app_url, phone=True)
    yield pg
    pg.close()
    assert not errors, errors


PAD_STROKE = 20  # px: static/draw.js's pen on the full-size pad


def drawn(stroke: list[tuple[int, int]]) -> np.ndarray:
    """The 28x28 the model should see for `stroke` drawn on the pad: the same line, through vae.preprocess."""
    image = Image.new("L", (PAD_SIZE, PAD_SIZE), 255)
    points = [(PAD_SIZE / 2 + x, PAD_SIZE / 2 + y) for x, y in stroke]
    ImageDraw.Draw(image).line(points, fill=0, width=PAD_STROKE, joint="curve")
    return to_mnist(image).numpy()


def shown(page: "Page", selector: str) -> np.ndarray:
    """The 28x28 picture in the image output `selector` (served 8x enlarged), in [0, 1]."""
    data = page.request.get(image_src(page, selector)).body()
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), np.float64)[4::8, 4::8] / 255


def assert_reads_the_seven(page: "Page") -> None:
    """What the model sees is the drawn 7, and so is its reconstruction."""
    seven = drawn(SEVEN)
    assert same_shape(shown(page, "#seen"), seven) > 0.9
    assert same_shape(shown(page, "#recon"), seven) > 0.8


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
    """A 7 drawn with the mouse right after opening the Draw tab (no tool to pick) is reconstructed as a 7."""
    open_tab(page, "Reconstruct")
    draw_digit(page, "#tab-reconstruct")
    click_and_wait(page, "Reconstruct", "#recon")
    page.wait_for_function(SCORE_SHOWN)
    assert "nats" in page.locator("#score").inner_text()
    assert_reads_the_seven(page)


def test_a_click_right_after_the_stroke_uses_the_new_drawing(page: "Page") -> None:
    """With an example in the Upload tab, a 7 drawn and Reconstruct clicked within 200 ms reads the 7; the tab
    on view is the input, so going back to Upload reads the example again."""
    open_tab(page, "Reconstruct")
    choose_example(page, "#tab-reconstruct", "digit-0-1-test0003.png")
    click_and_wait(page, "Reconstruct", "#recon")
    assert same_shape(shown(page, "#seen"), drawn(SEVEN)) < 0.7  # the 0 is on view
    button = page.get_by_role("button", name="Reconstruct", exact=True).element_handle()
    page.evaluate("""b => { window.times = {};
        document.addEventListener('pointerup', () => { times.up = performance.now(); }, true);
        b.addEventListener('click', () => { times.click = performance.now(); }); }""", button)
    old = image_src(page, "#recon")
    draw_digit(page, "#tab-reconstruct")
    button.evaluate("b => b.click()")
    wait_new_image(page, "#recon", old)
    gap = page.evaluate("times.click - times.up")
    assert 0 < gap < 200, gap
    assert_reads_the_seven(page)
    page.locator("#tab-reconstruct").get_by_role("tab", name="Upload", exact=True).click()
    click_and_wait(page, "Reconstruct", "#recon")
    assert same_shape(shown(page, "#seen"), drawn(SEVEN)) < 0.7  # back on the Upload tab: the 0 again


def test_undo_takes_back_the_last_stroke(page: "Page") -> None:
    """A stray stroke after the 7, then Undo: the 7 alone is read."""
    open_tab(page, "Reconstruct")
    draw_digit(page, "#tab-reconstruct")
    draw_digit(page, "#tab-reconstruct", stroke=[(-100, 100), (100, -100)])
    page.locator("#tab-reconstruct").get_by_role("button", name="Undo", exact=True).click()
    click_and_wait(page, "Reconstruct", "#recon")
    assert_reads_the_seven(page)


def test_a_drawing_sets_the_sliders(page: "Page") -> None:
    """"Start from a digit": a drawn 7 sets the sliders to its code, and the decoded digit is that 7."""
    page.get_by_text("Start from a digit").click()
    draw_digit(page, "#start-from")
    click_and_wait(page, "Set the sliders to this digit's code", "#decoded")
    assert same_shape(shown(page, "#decoded"), drawn(SEVEN)) > 0.8
    assert any(float(v) != 0 for v in page.locator("input[type=range]").evaluate_all("e => e.map(i => i.value)"))


def test_an_empty_canvas_gives_one_message_and_keeps_the_outputs(page: "Page") -> None:
    """Reconstruct on a cleared pad: one warning, no "Error" badges, the last reconstruction stays."""
    open_tab(page, "Reconstruct")
    choose_example(page, "#tab-reconstruct", "digit-0-1-test0003.png")
    old = click_and_wait(page, "Reconstruct", "#recon")
    draw_digit(page, "#tab-reconstruct")
    page.locator("#tab-reconstruct").get_by_role("button", name="Clear", exact=True).click()
    page.get_by_role("button", name="Reconstruct", exact=True).click()
    toast = page.locator(".toast-body")
    toast.first.wait_for()
    page.wait_for_timeout(1000)  # any later toast or badge
    assert toast.count() == 1 and "warning" in toast.get_attribute("class")
    assert "No image yet" in toast.inner_text()
    assert page.get_by_text("Error", exact=True).count() == 0
    assert image_src(page, "#recon") == old


def test_a_finger_draws_at_the_first_touch_on_a_phone(phone: "Page") -> None:
    """On a 390-px touch screen: tap Reconstruct, tap Draw, draw a 7 with a finger, tap the button."""
    phone.get_by_role("tab", name="Reconstruct", exact=True).tap()
    draw_digit(phone, "#tab-reconstruct", touch=True)
    old = image_src(phone, "#recon")
    phone.get_by_role("button", name="Reconstruct", exact=True).tap()
    wait_new_image(phone, "#recon", old)
    assert_reads_the_seven(phone)


OVERFLOWING = """() => [...document.querySelectorAll('body *')].filter(e => { const r = e.getBoundingClientRect();
    return r.width > 0 && r.right > innerWidth + 0.5 && getComputedStyle(e).visibility !== 'hidden'; })
  .map(e => e.tagName + ' ' + String(e.className).slice(0, 40))"""  # Gradio clips them: scrollWidth cannot tell


def assert_nothing_overflows_sideways(page: "Page") -> None:
    """No element on view reaches past the right edge of the screen, and the page does not scroll sideways."""
    assert page.evaluate(OVERFLOWING) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]


def in_view(box: dict | None) -> bool:
    """Whether a bounding box lies wholly inside the phone's viewport."""
    view = PHONE["viewport"]
    return bool(box) and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= view["width"] \
        and box["y"] + box["height"] <= view["height"]


def test_the_decoded_digit_stays_in_view_while_a_finger_drags_the_tenth_slider(phone: "Page") -> None:
    """The 10th slider is far down the page; while it is dragged, the decoded digit is on screen and changes."""
    slider = phone.locator("input[type=range][aria-label^='range slider for']").nth(9)
    slider.scroll_into_view_if_needed()
    area = slider.bounding_box()
    assert area
    old = image_src(phone, "#decoded")
    boxes = []
    y = area["y"] + area["height"] / 2
    touch_drag(phone, [(area["x"] + area["width"] / 2, y), (area["x"] + area["width"] * 0.85, y)],
               on_move=lambda: boxes.append(phone.locator("#decoded").bounding_box()))
    assert float(slider.input_value()) > 1.0
    assert wait_new_image(phone, "#decoded", old) != old
    boxes.append(phone.locator("#decoded").bounding_box())
    assert all(in_view(b) for b in boxes), [b for b in boxes if not in_view(b)]
    assert_nothing_overflows_sideways(phone)


def test_tabs_and_model_picker_work_with_a_finger(phone: "Page") -> None:
    """Every view's tab is on screen and finger-sized; tapping works; nothing overflows sideways."""
    tabs = phone.locator("[role=tablist]").first.get_by_role("tab")
    names = tabs.all_inner_texts()
    assert [n.replace("\n", " ") for n in names] == ["Latent sliders", "Random samples", "Reconstruct", "Interpolate"]
    for i in range(len(names)):
        assert tabs.nth(i).bounding_box()["height"] >= 44
        tabs.nth(i).tap()
        assert tabs.nth(i).get_attribute("aria-selected") == "true"
        assert_nothing_overflows_sideways(phone)
    phone.get_by_label("Model").tap()
    phone.get_by_role("option", name="mlp-2d", exact=True).tap()
    phone.get_by_text("mlp, 2-D latent").wait_for()  # the chosen model's description


def test_interpolation_shows_gif(page: "Page") -> None:
    """Two examples chosen as From and To interpolate into an animated GIF."""
    open_tab(page, "Interpolate")
    choose_example(page, "#interp-from", "digit-3-1-test0018.png")
    choose_example(page, "#interp-to", "digit-8-1-test0061.png")
    assert click_and_wait(page, "Interpolate", "#gif").endswith(".gif")
