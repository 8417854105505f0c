"""The "Why a VAE?" view: the plain autoencoder and the 2-D VAE side by side, served by /why_a_vae; and the map
pictures it draws (one window of code space for both, the prior's circle, the draws marked)."""

import socket
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client import Client
from PIL import Image, ImageColor

from tests.helpers import api_client
from vae.autoencoder import MapWindow, map_window, prior_decodings, prior_radius
from vae.loaded import LoadedModel, load_models
from vae.render import grid_image
from webapp.code_map_picture import (
    COLOURS,
    POINT_ALPHA,
    SIDE,
    code_map_picture,
    mark_codes,
    tick_step,
    to_pixel,
)
from webapp.demo import create_demo
from webapp.views.why_a_vae import DRAWS, MISSING

WEIGHTS = Path(__file__).parents[2] / "weights"
PAIR = ("ae-2d", "mlp-2d")
pytestmark = pytest.mark.skipif(not all((WEIGHTS / f"{n}.safetensors").exists() for n in PAIR),
                                reason="weights/ae-2d.safetensors and weights/mlp-2d.safetensors are needed")


def weights_folder(folder: Path, names: tuple[str, ...]) -> Path:
    """`folder` holding the shipped weights of `names` (as links), and mlp-20d's: a page needs a model of more
    than two dimensions (its Watch it learn view offers latent sizes from 2 up to the largest)."""
    for name in (*names, "mlp-20d"):
        (folder / f"{name}.safetensors").symlink_to(WEIGHTS / f"{name}.safetensors")
    return folder


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder with the shipped plain autoencoder and its VAE twin."""
    return weights_folder(tmp_path_factory.mktemp("pair"), PAIR)


@pytest.fixture(scope="module")
def demo(pair_dir: Path) -> gr.Blocks:
    """The page built on that folder."""
    return create_demo(pair_dir)


@pytest.fixture(scope="module")
def client(demo: gr.Blocks) -> Iterator[Client]:
    """The page, served on a free port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        yield api_client(f"http://127.0.0.1:{port}/")
    finally:
        demo.close()


@pytest.fixture(scope="module")
def models(pair_dir: Path) -> dict[str, LoadedModel]:
    return load_models(pair_dir, autoencoders=True)[0]


def rgb(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def components(demo: gr.Blocks, kind: str) -> list[dict]:
    """The props of the page's components of one kind."""
    return [c["props"] for c in demo.config["components"] if c["type"] == kind]


def test_the_explorer_keeps_to_the_vae(demo: gr.Blocks) -> None:
    """The model picker offers the VAEs alone: the autoencoder appears in this view only."""
    picker = next(p for p in components(demo, "dropdown") if p.get("label") == "Model")
    assert [choice[1] for choice in picker["choices"]] == ["mlp-20d", "mlp-2d"]


def test_both_models_decode_the_same_draws(client: Client, models: dict[str, LoadedModel]) -> None:
    ae_map, vae_map, ae_draws, vae_draws = client.predict(0, api_name="/why_a_vae")
    for path, name in ((ae_draws, "ae-2d"), (vae_draws, "mlp-2d")):
        expected = grid_image(prior_decodings(models[name].model, DRAWS, 0)[1], nrow=8, scale=3).convert("RGB")
        assert np.array_equal(rgb(path), np.asarray(expected).astype(int))
    assert rgb(ae_map).shape == rgb(vae_map).shape and rgb(ae_map).shape[0] == SIDE < rgb(ae_map).shape[1]  # legend
    window = map_window(*(models[n].extras["test_mu"].float() for n in PAIR))
    z = prior_decodings(models["mlp-2d"].model, DRAWS, 0)[0]
    for path in (ae_map, vae_map):  # a cross on every draw, at the same place on both maps: one scale
        pixels = rgb(path)
        for z1, z2 in z.tolist():
            x, y = (round(v) for v in to_pixel(z1, z2, window))
            assert pixels[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2].min() < 60, (path, z1, z2)


def test_another_seed_draws_other_codes(client: Client) -> None:
    first = client.predict(0, api_name="/why_a_vae")
    second = client.predict(1, api_name="/why_a_vae")
    for a, b in zip(first, second, strict=True):
        assert not np.array_equal(rgb(a), rgb(b))


def test_without_an_autoencoder_the_view_says_how_to_train_one(tmp_path: Path) -> None:
    page = create_demo(weights_folder(tmp_path, ("mlp-2d",)))
    assert MISSING in [p.get("value") for p in components(page, "markdown")]
    assert "why_a_vae" not in {d.get("api_name") for d in page.config["dependencies"]}


# ---- the map pictures ----

def test_the_window_holds_both_code_sets_and_the_circle() -> None:
    gen = torch.Generator().manual_seed(0)
    near, far = torch.randn(2000, 2, generator=gen), 10 + 5 * torch.randn(2000, 2, generator=gen)
    window = map_window(near, far)
    (c1, c2), half = window.centre, window.half_side
    for codes in (near, far):
        inside = ((codes - torch.tensor([c1, c2])).abs() <= half).all(1).float().mean()
        assert inside > 0.98
    assert half >= prior_radius() and abs(c1) < half - prior_radius() + 1e-6
    assert map_window(near).half_side < window.half_side  # the far codes widen it


def test_ticks_are_round_and_the_axes_point_the_usual_way() -> None:
    assert [tick_step(h) for h in (1.0, 3.0, 4.5, 22.9)] == [0.5, 1.0, 2.0, 10.0]
    window = MapWindow((0.0, 0.0), 2.0)
    assert to_pixel(-2, 2, window) == (0, 0) and to_pixel(2, -2, window) == (SIDE, SIDE)
    assert to_pixel(0, 0, window) == (SIDE / 2, SIDE / 2)


def test_a_code_is_drawn_in_its_class_colour_and_a_mark_in_black() -> None:
    window = MapWindow((0.0, 0.0), 4.0)
    codes, labels = torch.tensor([[2.5, -2.5]]), torch.tensor([1])  # off the grid lines
    picture = code_map_picture(codes, labels, [str(i) for i in range(10)], window, prior_radius())
    x, y = (round(v) for v in to_pixel(2.5, -2.5, window))
    over_white = POINT_ALPHA / 255 * np.array([255, 127, 14]) + (1 - POINT_ALPHA / 255) * 255  # class 1: orange
    assert np.abs(np.asarray(picture)[y, x] - over_white).max() <= 1
    marked = np.asarray(mark_codes(picture, torch.tensor([[-3.0, -3.0]]), window))
    mx, my = (round(v) for v in to_pixel(-3, -3, window))
    assert marked[my, mx].max() < 60 and np.asarray(picture)[my, mx].min() > 200


def test_the_legend_stands_right_of_the_map_off_the_codes() -> None:
    """A code in the map's top right corner shows (the legend once covered it there), and every class has its swatch
    in the margin beside the map."""
    window = MapWindow((0.0, 0.0), 4.0)
    codes, labels = torch.tensor([[2.97, 3.8]]), torch.tensor([2])  # where the legend's first swatch stood
    names = [str(i) for i in range(10)]
    picture = np.asarray(code_map_picture(codes, labels, names, window, prior_radius())).astype(int)
    x, y = (round(v) for v in to_pixel(2.97, 3.8, window))
    green = POINT_ALPHA / 255 * np.array([44, 160, 44]) + (1 - POINT_ALPHA / 255) * 255
    assert np.abs(picture[y, x] - green).max() <= 1
    assert picture.shape[1] > SIDE + 30
    margin = picture[:, SIDE + 1 :]
    for i in range(10):
        swatch = margin[10 + 15 * i, 8:16]
        assert (np.abs(swatch - np.array(ImageColor.getrgb(COLOURS[i]))).max(1) <= 1).all(), i
