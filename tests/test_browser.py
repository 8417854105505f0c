"""End to end: `python3 app.py` in a subprocess, driven in headless Chromium the way a user drives it (~2 min).

The page decodes by itself (static/decoder.js, static/page.js): every picture it draws is compared with
what torch decodes from the same code, as vae/render.to_image would show it.
"""

import importlib.util
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch

from benchmarks.harness import (
    CHROMIUM,
    ROOT,
    SCORE_SHOWN,
    canvas_pixels,
    choose_example,
    chromium,
    click_and_wait,
    draw_digit,
    open_app,
    open_tab,
    select_model,
    serve_app,
    set_slider,
    wait_new_pixels,
)
from vae import explore
from vae.latent import decode_probs
from vae.preprocess import load_digit

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Request

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
    old = canvas_pixels(page, "#decoded")
    set_slider(page, 0, 2.0)
    assert wait_new_pixels(page, "#decoded", old) != old


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


WEIGHTS = ROOT / "weights"
SHIPPED = sorted(p.stem for p in WEIGHTS.glob("*.safetensors"))
CODES = 200
TOLERANCE = 1e-4  # pixel probabilities, page vs torch
DECODE_ALL = """async ([name, codes, labels]) => {
  const d = await window.VAEDecoder.load(window.VAE_MODELS[name]);
  return codes.map((z, i) => Array.from(d.decode(z, labels[i])));
}"""
SLIDER_VALUES = "() => [...document.querySelectorAll(\"[id^='z-'] input[type=number]\")].map(r => Number(r.value))"


@pytest.fixture(scope="module")
def models() -> dict[str, explore.LoadedModel]:
    """The shipped models, as the server loads them."""
    return explore.load_models(WEIGHTS)[0]


def grey(probs: torch.Tensor) -> np.ndarray:
    """Probabilities as the grey levels vae.render.to_image draws (flattened)."""
    return (probs.float().clamp(0, 1).flatten().numpy() * 255 + 0.5).astype(np.int64)


def assert_shows(pixels: list[int] | None, probs: torch.Tensor) -> None:
    """The drawn picture is the torch decoding, to within one grey level (float32 rounding at x.5)."""
    assert pixels is not None and min(pixels) >= 0, "nothing drawn"
    assert np.abs(np.array(pixels) - grey(probs)).max() <= 1


def eventually(check: Callable[[], None], timeout: float = 15.0) -> None:
    """Run `check` until it passes (the page paints after the server answers), or raise its last failure."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def server_requests(page: "Page") -> Iterator[list[str]]:
    """The URLs of requests to the app's API (/gradio_api/) the page makes inside the block."""
    seen: list[str] = []

    def on_request(request: "Request") -> None:
        if "/gradio_api/" in request.url:
            seen.append(request.url)

    page.on("request", on_request)
    try:
        yield seen
    finally:
        page.remove_listener("request", on_request)


def shows_sliders(page: "Page", lm: explore.LoadedModel, values: list[float], label: int = 0) -> Callable[[], None]:
    """A check: the sliders show `values` and the digit drawn is their torch decoding (with `label`)."""
    def check() -> None:
        shown = page.evaluate(SLIDER_VALUES)  # the sliders on screen (the closed accordion's are not)
        assert shown == values[: len(shown)]
        assert_shows(canvas_pixels(page, "#decoded"), explore.decode_sliders(lm, values, label))
    return check


# ---- parity: every shipped model, 200 random codes ----

@pytest.mark.parametrize("name", SHIPPED)
def test_page_decodes_like_torch(page: "Page", models: dict[str, explore.LoadedModel], name: str) -> None:
    lm = models[name]
    gen = torch.Generator().manual_seed(0)
    codes = 1.5 * torch.randn(CODES, lm.latent_dim, generator=gen)
    labels = torch.randint(0, max(lm.model.config.num_classes, 1), (CODES,), generator=gen)
    in_page = torch.tensor(page.evaluate(DECODE_ALL, [name, codes.tolist(), labels.tolist()]))
    in_torch = decode_probs(lm.model, codes, labels if lm.conditional else None).view(CODES, -1)
    assert (in_page - in_torch).abs().max() <= TOLERANCE


# ---- drags: no request, and the final picture is torch's ----

def test_slider_drag_decodes_in_the_page(page: "Page", models: dict[str, explore.LoadedModel]) -> None:
    lm, rng = models[explore.default_model(models)], np.random.default_rng(0)
    values = [0.0] * lm.latent_dim
    pictures = []
    with server_requests(page) as requests:
        for _ in range(100):
            index, value = int(rng.integers(3)), round(float(rng.integers(-60, 61)) * 0.05, 2)
            set_slider(page, index, value)
            values[index] = value
            pictures.append(canvas_pixels(page, "#decoded"))
    assert requests == []
    assert len({tuple(p) for p in pictures}) >= 50  # the digit changes as the sliders move
    assert_shows(pictures[-1], explore.decode_sliders(lm, values))


def test_pointer_over_the_map_decodes_that_point(page: "Page", models: dict[str, explore.LoadedModel]) -> None:
    select_model(page, "mlp-2d")
    open_tab(page, "Latent map")
    page.wait_for_function("() => document.querySelector('#map-view .vae-where')?.textContent")
    box = page.locator("#map-view canvas.vae-map").bounding_box()
    rng, pictures = np.random.default_rng(1), []
    with server_requests(page) as requests:
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        for fx, fy in rng.uniform(0.05, 0.95, (100, 2)):
            page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
            pictures.append(canvas_pixels(page, "#map-view"))
        page.mouse.up()
    assert requests == []
    assert len({tuple(p) for p in pictures}) >= 50
    z = [float(v.split("=")[1]) for v in page.locator("#map-view .vae-where").inner_text().split(",")]
    assert z[0] == pytest.approx((fx * 2 - 1) * 4, abs=0.05) and z[1] == pytest.approx((1 - fy * 2) * 4, abs=0.05)
    assert_shows(pictures[-1], decode_probs(models["mlp-2d"].model, torch.tensor([z]))[0])


def test_scrubber_decodes_the_path(page: "Page", models: dict[str, explore.LoadedModel]) -> None:
    open_tab(page, "Interpolate")
    choose_example(page, "#interp-from", "digit-3-1-test0018.png")
    choose_example(page, "#interp-to", "digit-8-1-test0061.png")
    page.get_by_role("button", name="Interpolate", exact=True).click()
    scrubber = page.locator("#interp-scrub input[type=range]")
    page.wait_for_function("() => !document.querySelector('#interp-scrub input[type=range]').disabled",
                           timeout=30_000)
    lm = models[explore.default_model(models)]
    digits = [load_digit(ROOT / "examples" / f, lm.frame) for f in ("digit-3-1-test0018.png", "digit-8-1-test0061.png")]
    codes, _ = explore.interpolation_path(lm, *digits, 101, "spherical")
    with server_requests(page) as requests:
        for i in (0, 30, 77, 100):
            scrubber.fill(str(i))
            assert_shows(canvas_pixels(page, "#interp-scrub"), decode_probs(lm.model, codes[i : i + 1])[0])
    assert requests == []


# ---- the server sets the code, the page repaints it ----

def test_buttons_repaint(page: "Page", models: dict[str, explore.LoadedModel]) -> None:
    lm = models[explore.default_model(models)]
    set_slider(page, 0, 2.5)
    page.get_by_label("Seed (0: a new point each time)").fill("7")
    page.get_by_role("button", name="Random point", exact=True).click()
    point = explore.sliders_from_code(explore.prior_sample(1, lm.latent_dim, seed=7), lm.ranking)
    eventually(shows_sliders(page, lm, point))
    page.get_by_role("button", name="Reset to origin", exact=True).click()
    eventually(shows_sliders(page, lm, [0.0] * lm.latent_dim))


def test_start_from_a_digit_repaints(page: "Page", models: dict[str, explore.LoadedModel]) -> None:
    page.get_by_text("Start from a digit").click()
    choose_example(page, "#start-from-digit", "digit-4-1-test0004.png")
    page.get_by_role("button", name="Set the sliders to this digit's code", exact=True).click()
    lm = models[explore.default_model(models)]
    x = load_digit(ROOT / "examples" / "digit-4-1-test0004.png", lm.frame)
    eventually(shows_sliders(page, lm, explore.sliders_from_code(explore.encode(lm, x), lm.ranking)), timeout=30)


def test_model_switch_never_shows_a_stale_digit(page: "Page", models: dict[str, explore.LoadedModel]) -> None:
    before = canvas_pixels(page, "#decoded")
    select_model(page, "mlp-20d")
    now = canvas_pixels(page, "#decoded")
    assert now != before and (min(now) < 0 or now == list(grey(explore.decode_sliders(models["mlp-20d"], []))))
    eventually(shows_sliders(page, models["mlp-20d"], [0.0] * 20))


def test_class_change_repaints(page: "Page", models: dict[str, explore.LoadedModel]) -> None:
    select_model(page, "cmlp-20d")
    values = [0.0] * 20
    eventually(shows_sliders(page, models["cmlp-20d"], values, 0))
    set_slider(page, 0, 1.5)
    page.get_by_label("Class").click()
    page.get_by_role("option", name="7", exact=True).click()
    eventually(shows_sliders(page, models["cmlp-20d"], [1.5, *values[1:]], 7))


# ---- when the page cannot decode, the server does ----

def test_falls_back_to_the_server_without_weights(browser: "Browser", app_url: str,  # noqa: F811
                                                  models: dict[str, explore.LoadedModel]) -> None:
    context = browser.new_context()
    context.route("**/*.safetensors", lambda route: route.abort())
    pg = context.new_page()
    pg.goto(app_url)
    status = pg.locator("#decoded .vae-status")
    status.filter(has_text="server").wait_for()
    set_slider(pg, 0, 2.0)
    lm = models[explore.default_model(models)]
    eventually(shows_sliders(pg, lm, [2.0] + [0.0] * (lm.latent_dim - 1)))
    assert "server" in status.inner_text()
    select_model(pg, "mlp-2d")
    open_tab(pg, "Latent map")
    pg.locator("#map-z1 input[type=range]").fill("1.5")
    eventually(lambda: assert_shows(canvas_pixels(pg, "#map-view"), decode_probs(models["mlp-2d"].model,
                                                                              torch.tensor([[1.5, 0.0]]))[0]))
    context.close()
