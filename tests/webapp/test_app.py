"""The real app, served on localhost and driven through its API with gradio_client, as a visitor's browser would.

The weights folder holds the shipped models plus two tiny ones trained here: a conditional model
(for the "every class" view) and a 2-D model whose second latent dimension carries the most KL
(so that slider order and latent order differ, as they may for any trained model).
"""

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageSequence
from torch import Tensor

from pictures.digitize import load_digit
from pictures.uploads import MAX_PIXELS
from tests.helpers import (
    EXPECTED_ENDPOINTS,
    PAGE_TEXT,
    WEIGHTS,
    api_client,
    draw_digit,
    encode,
    png_header_only,
    save_tiny,
    train_tiny,
    truncated,
)
from tests.webapp.test_compute import reconstruction, score
from vae.latent import decode_probs
from vae.loaded import LoadedModel, load_model, load_models
from vae.model import VAE
from vae.render import BOX_COLOUR, to_image
from webapp import compute
from webapp.demo import MAX_FILE_SIZE
from webapp.views import every_class
from webapp.views.latent_map import MANIFOLD_LABEL, MAP_INTRO
from webapp.words import describe_model

ROOT = Path(__file__).parents[2]
SCALE = 8  # webapp.outputs.SCALE: digits are shown 8x
CONDITIONAL, SWAPPED_2D = "cmlp-tiny", "tiny-2d-swapped"


# --- the server ----------------------------------------------------------------------------------


def reverse_latents(model: VAE) -> VAE:
    """The same model with latent dimension d renamed D-1-d (in place): an equally good model."""
    d = model.config.latent_dim
    rev = torch.arange(d - 1, -1, -1)
    rows = torch.cat([rev, rev + d])  # enc_out gives means, then log-variances
    with torch.no_grad():
        model.enc_out.weight.copy_(model.enc_out.weight[rows])
        model.enc_out.bias.copy_(model.enc_out.bias[rows])
        model.dec_hidden.weight[:, :d] = model.dec_hidden.weight[:, rev].clone()
    return model


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory, mnist_sample: dict[str, Tensor]) -> Path:
    folder = tmp_path_factory.mktemp("app-weights")
    for path in WEIGHTS.glob("*.safetensors"):
        (folder / path.name).symlink_to(path)
    save_tiny(folder / f"{CONDITIONAL}.safetensors", train_tiny(mnist_sample, 4, num_classes=10), mnist_sample)
    two_d, path = train_tiny(mnist_sample, 2), folder / f"{SWAPPED_2D}.safetensors"
    save_tiny(path, two_d, mnist_sample)
    kl = load_model(path).metadata.metrics.kl_per_dim
    if kl[1] <= kl[0]:
        save_tiny(path, reverse_latents(two_d), mnist_sample)
    return folder


@dataclass
class Served:
    """The app built on a weights folder, and the models it serves."""

    demo: gr.Blocks
    models: dict[str, LoadedModel]

    @property
    def max_dims(self) -> int:
        return max(m.latent_dim for m in self.models.values())


@pytest.fixture(scope="module")
def app(weights_dir: Path) -> Served:
    """The app's page built on `weights_dir`, as `python app.py` builds it."""
    import app

    served = Served(app.create_demo(weights_dir), load_models(weights_dir)[0])
    assert served.models[SWAPPED_2D].ranking == [1, 0], "the 2-D test model must have its latents swapped"
    return served


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def client(app: Served) -> Iterator[Client]:
    port = free_port()
    app.demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port,
                    max_file_size=MAX_FILE_SIZE, show_error=True, quiet=True)
    try:
        yield api_client(f"http://127.0.0.1:{port}/")
    finally:
        app.demo.close()


# --- helpers -------------------------------------------------------------------------------------


def picture(path: str) -> np.ndarray:
    """A returned image file as a grayscale array."""
    with Image.open(path) as image:
        return np.asarray(image.convert("L"))


def picture_rgb(path: str) -> np.ndarray:
    """A returned image file as an RGB array."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def shown(probs: Tensor) -> np.ndarray:
    """What the app shows for a 28x28 probability map: 8x nearest-neighbour."""
    return np.asarray(to_image(probs, SCALE))


def assert_same_picture(path: str, expected: np.ndarray) -> None:
    got = picture(path)
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1  # float rounding at most


def grid_size(n: int, nrow: int, scale: int = 3, side: int = 28, pad: int = 2) -> tuple[int, int]:
    """(width, height) of grid_image for n tiles."""
    rows = -(-n // nrow)
    return (nrow * (side + pad) + pad) * scale, (rows * (side + pad) + pad) * scale


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Uploads: an MNIST test digit from examples/, and odd or broken files."""
    folder = tmp_path_factory.mktemp("uploads")
    ink = np.asarray(draw_digit("7", ink=255, paper=0), np.float64) / 255
    frames = [draw_digit("7").convert("RGB"), draw_digit("0").convert("RGB")]
    contents = {
        "text.png": b"this is a text file, not a picture of a digit\n",
        "truncated.png": truncated("PNG"),
        "truncated.jpg": truncated("JPEG"),
        "bomb.png": png_header_only(30_000, 30_000),
        "white.png": encode(Image.new("L", (300, 300), 255)),
        "transparent.png": encode(Image.new("RGBA", (300, 300), (0, 0, 0, 0))),
        "sixteen_bit.png": encode(Image.fromarray((3000 - 2800 * ink).astype(np.uint16))),
        "cmyk.jpg": encode(draw_digit("7", mode="RGB", ink=(0, 0, 0), paper=(255, 255, 255)).convert("CMYK"), "JPEG"),
        "animated.gif": encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100),
        "seven.png": encode(draw_digit("7")),
        "drawn.png": encode(draw_digit("7", mode="RGBA", ink=(0, 0, 0, 255), paper=(255, 255, 255, 0))),
    }
    paths = {name: folder / name for name in contents}
    for name, data in contents.items():
        paths[name].write_bytes(data)
    return {"example": str(sorted((ROOT / "examples").glob("*.png"))[0]), **{k: str(v) for k, v in paths.items()}}


# --- the API -------------------------------------------------------------------------------------


def test_the_api_has_exactly_the_expected_endpoints(client: Client) -> None:
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == EXPECTED_ENDPOINTS


@pytest.mark.parametrize("api", ["/select_model", "/initial_state"])
def test_choosing_a_model_shows_its_controls(client: Client, app: Served, api: str) -> None:
    for name, loaded in app.models.items():
        info, label, decoded, manifold, *sliders = client.predict(name, api_name=api)
        assert info == describe_model(loaded) and "nats" in info
        assert label["visible"] == loaded.conditional and len(label["choices"]) == len(loaded.class_names)
        assert_same_picture(decoded, shown(compute.decode_sliders(loaded, [], 0)))
        assert len(sliders) == app.max_dims
        visible = [s for s in sliders if s["visible"]]
        assert [s["label"] for s in visible] == [compute.dimension_name(d) for d in loaded.ranking]
        assert all(s["value"] == 0.0 for s in sliders)
        if loaded.latent_dim == 2:
            assert picture(manifold).shape == (20 * 30 + 2, 20 * 30 + 2)
            assert "20 x 20 grid" in MANIFOLD_LABEL and "20 x 20 points" in MAP_INTRO  # the page names its grid
        else:
            assert manifold is None


def test_the_map_codes_are_their_own_endpoint(client: Client, app: Served) -> None:
    """/select_model leaves the 2-D model's test codes out (the page would copy them at every later event):
    /map_codes gives them, and names the model it needs for a model without a map."""
    loaded = app.models["mlp-2d"]
    table = client.predict("mlp-2d", api_name="/map_codes")
    expected = compute.code_map(loaded)
    assert table["columns"] == ["z1", "z2", "class"]
    assert [row[0] for row in table["data"]] == pytest.approx(expected["z1"])
    assert [row[2] for row in table["data"]] == expected["class"]
    for api in ("/select_model", "/initial_state"):
        outputs = client.predict("mlp-2d", api_name=api)
        assert not any(isinstance(o, dict) and len(o.get("data") or []) == len(expected["z1"]) for o in outputs)
    with pytest.raises(AppError, match="2-D"):
        client.predict("mlp-20d", api_name="/map_codes")


def test_decode_follows_the_sliders(client: Client, app: Served) -> None:
    loaded = app.models["mlp-20d"]
    values = [0.0] * app.max_dims
    origin = client.predict("mlp-20d", 0, *values, api_name="/decode")
    moved = [2.5] + values[1:]
    top = client.predict("mlp-20d", 0, *moved, api_name="/decode")
    assert_same_picture(origin, shown(compute.decode_sliders(loaded, values)))
    assert_same_picture(top, shown(compute.decode_sliders(loaded, moved)))
    assert np.abs(picture(top).astype(int) - picture(origin)).mean() > 5
    assert_same_picture(client.predict("mlp-20d", 0, *moved, api_name="/decode_label"), picture(top))
    reset = client.predict("mlp-20d", 0, api_name="/origin")
    assert_same_picture(reset[0], picture(origin))
    assert list(reset[1:]) == values


def test_decode_label_changes_a_conditional_digit(client: Client, app: Served) -> None:
    values = [0.5] * app.max_dims
    three, seven = (client.predict(CONDITIONAL, k, *values, api_name="/decode_label") for k in (3, 7))
    assert_same_picture(three, shown(compute.decode_sliders(app.models[CONDITIONAL], values, 3)))
    assert np.abs(picture(three).astype(int) - picture(seven)).mean() > 5


def test_random_point_is_repeatable_with_a_seed(client: Client, app: Served) -> None:
    first, second, other = (client.predict("mlp-20d", 0, seed, api_name="/random_point") for seed in (5, 5, 6))
    assert first[1:] == second[1:] != other[1:]
    assert all(abs(v) <= compute.SLIDER_RANGE for v in first[1:])
    assert_same_picture(first[0], shown(compute.decode_sliders(app.models["mlp-20d"], list(first[1:]))))
    for new_each_time in (None, 0):
        one, two = (client.predict("mlp-20d", 0, new_each_time, api_name="/random_point") for _ in range(2))
        assert len(one) == 1 + app.max_dims and one[1:] != two[1:]


@pytest.mark.parametrize("name", ["mlp-20d", CONDITIONAL])
def test_encode_sets_the_sliders_to_the_digits_code(client: Client, app: Served, files: dict[str, str],
                                                    name: str) -> None:
    loaded = app.models[name]
    image, label, *sliders = client.predict(name, handle_file(files["example"]), None, api_name="/encode")
    x = load_digit(files["example"])
    expected_label = compute.infer_label(loaded, x) if loaded.conditional else 0
    assert label["value"] == expected_label
    code = compute.encode(loaded, x, expected_label)
    assert sliders == pytest.approx(compute.slider_values(code, loaded.ranking, app.max_dims))
    assert_same_picture(image, shown(compute.decode_sliders(loaded, sliders, expected_label)))


def test_samples(client: Client) -> None:
    first, again, other = (client.predict("mlp-20d", 0, 10, 0.8, seed, api_name="/samples") for seed in (1, 1, 2))
    assert picture(first).shape[::-1] == grid_size(10, nrow=8)
    assert np.array_equal(picture(first), picture(again)) and not np.array_equal(picture(first), picture(other))


def test_any_whole_number_is_a_seed(client: Client) -> None:
    """Past 2**64 torch itself failed ("Overflow when unpacking long long"); a seed is taken modulo 2**64, as torch
    reads a negative one, so -1 and 2**64 - 1 draw the same codes, and 2**70 + 1 those of 1."""
    def point(seed: int) -> tuple:
        return tuple(client.predict("mlp-20d", 0, seed, api_name="/random_point")[1:])
    assert point(-1) == point(2**64 - 1) != point(2**70 + 1) == point(1)
    first, again = (client.predict("mlp-20d", 0, 10, 0.8, seed, api_name="/samples") for seed in (2**70 + 3, 3))
    assert np.array_equal(picture(first), picture(again))


@pytest.mark.parametrize("name", ["example", "seven.png", "sixteen_bit.png", "cmyk.jpg", "animated.gif"])
def test_reconstruct_accepts_real_and_unusual_images(client: Client, app: Served, files: dict[str, str],
                                                     name: str) -> None:
    seen, recon, posterior, text = client.predict("mlp-20d", handle_file(files[name]), None, api_name="/reconstruct")
    x = load_digit(files[name])  # for the animated GIF: its first frame, a 7
    assert_same_picture(seen, shown(x))
    out = reconstruction(app.models["mlp-20d"], x)
    assert_same_picture(recon, shown(out["reconstruction"]))
    assert picture(posterior).shape[::-1] == grid_size(8, nrow=4)
    assert "nats" in text and f"{score(app.models['mlp-20d'], x)[0]:.2f}" in text


def test_a_drawing_reads_like_the_same_digit_uploaded(client: Client, files: dict[str, str]) -> None:
    """The Sketchpad's value, as the browser sends it: strokes on a transparent canvas, flattened to `composite`."""
    sketch = {"background": None, "layers": [], "composite": handle_file(files["drawn.png"])}
    drawn = client.predict("mlp-20d", None, sketch, api_name="/reconstruct")
    uploaded = client.predict("mlp-20d", handle_file(files["seven.png"]), None, api_name="/reconstruct")
    assert "nats" in drawn[3]
    assert np.corrcoef(picture(drawn[0]).ravel(), picture(uploaded[0]).ravel())[0, 1] > 0.95
    assert_refused(lambda: client.predict("mlp-20d", None, {"background": None, "layers": [], "composite": None},
                                          api_name="/reconstruct"), ["No image yet", "draw"])


def test_locate_boxes_the_digit_beside_what_the_model_sees(client: Client, files: dict[str, str]) -> None:
    thumbnail, text = client.predict("mlp-20d", handle_file(files["seven.png"]), api_name="/locate")
    pixels = picture_rgb(thumbnail)
    assert max(pixels.shape[:2]) == 320  # a thumbnail of the 400x400 upload
    boxed = np.all(pixels == BOX_COLOUR, axis=-1)
    rows, cols = np.nonzero(boxed)
    # draw_digit's 7 spans x 100-300, y 80-330 of 400 (its 20-px pen adds 10 each side): 0.8x here.
    assert rows.min() == pytest.approx(0.8 * 70, abs=6) and rows.max() == pytest.approx(0.8 * 340, abs=6)
    assert cols.min() == pytest.approx(0.8 * 90, abs=6) and cols.max() == pytest.approx(0.8 * 310, abs=6)
    assert "box shows where the digit was found" in text


def test_locate_says_clearly_when_there_is_no_digit(client: Client, files: dict[str, str]) -> None:
    thumbnail, text = client.predict("mlp-20d", handle_file(files["white.png"]), api_name="/locate")
    assert not np.all(picture_rgb(thumbnail) == BOX_COLOUR, axis=-1).any()  # the picture, with no box
    assert "No digit found" in text
    assert client.predict("mlp-20d", handle_file(files["text.png"]), api_name="/locate")[1].startswith(
        "**This file is not an image")


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolate_gives_a_strip_and_an_animated_gif(client: Client, files: dict[str, str], method: str) -> None:
    steps = 5
    strip, gif = client.predict("mlp-20d", handle_file(files["example"]), None, handle_file(files["seven.png"]), None,
                                steps, method, api_name="/interpolate")
    assert picture(strip).shape[::-1] == grid_size(steps, nrow=steps)
    with Image.open(gif) as animation:
        assert animation.format == "GIF" and animation.is_animated
        assert animation.n_frames == 2 * steps - 2 and animation.info["loop"] == 0
        assert animation.size == (28 * SCALE, 28 * SCALE)
        assert len({np.asarray(f.convert("L")).tobytes() for f in ImageSequence.Iterator(animation)}) == steps


@pytest.mark.parametrize("point", [(1.5, -0.5), (-0.4, 2.2), (3.6, -3.8)])
def test_decode_2d_decodes_that_point(client: Client, app: Served, point: tuple[float, float]) -> None:
    """z1 and z2 are latent dims 0 and 1, whatever the slider ranking; the full +-4 range of the map sliders."""
    names = [n for n, loaded in app.models.items() if loaded.latent_dim == 2]
    assert SWAPPED_2D in names
    for name in names:
        decoded = client.predict(name, 0, *point, api_name="/decode_2d")
        assert_same_picture(decoded, shown(decode_probs(app.models[name].model, torch.tensor([point]))[0]))


def test_every_label_on_a_conditional_model(client: Client, app: Served, files: dict[str, str]) -> None:
    loaded = app.models[CONDITIONAL]
    row, text = client.predict(CONDITIONAL, handle_file(files["example"]), None, api_name="/every_label")
    assert picture(row).shape[::-1] == grid_size(10, nrow=every_class.COLUMNS)
    label = compute.infer_label(loaded, load_digit(files["example"]))
    assert f"Read as **{loaded.class_names[label]}**" in text


# --- teaching views ------------------------------------------------------------------------------


def tiles(path: str, cols: int, scale: int = 2, side: int = 28, pad: int = 2, rows: int | None = None) -> np.ndarray:
    """The cells of a returned grid image (grid_image at `scale`), row by row: (rows * cols, side, side).

    With `rows`, the grid is the bottom right of a picture that labels it above and at its left."""
    pixels = picture(path)
    if rows is not None:
        pixels = pixels[-(rows * (side + pad) + pad) * scale:, -(cols * (side + pad) + pad) * scale:]
    pixels = pixels[::scale, ::scale]
    rows = (pixels.shape[0] - pad) // (side + pad)
    assert pixels.shape == (rows * (side + pad) + pad, cols * (side + pad) + pad)
    return np.stack([pixels[pad + r * (side + pad): pad + r * (side + pad) + side,
                            pad + c * (side + pad): pad + c * (side + pad) + side]
                     for r in range(rows) for c in range(cols)])


def first_example(loaded: LoadedModel) -> str:
    """An example image of the model's own dataset."""
    folder = ROOT / "examples" / ("" if loaded.dataset == "mnist" else loaded.dataset)
    return str(sorted(folder.glob("*.png"))[0])


def test_traversal_moves_one_dimension_per_row_on_every_model(client: Client, app: Served) -> None:
    values = torch.linspace(-2.0, 2.0, app.max_dims).round(decimals=2).tolist()  # a point off the origin
    steps = torch.linspace(-3, 3, 7)
    for name, loaded in app.models.items():
        label = 0  # the class picker offers the conditional model's classes only after a /select_model
        rows = min(10, loaded.latent_dim)
        cells = tiles(client.predict(name, label, *values, api_name="/traversal"), cols=7, rows=rows)
        assert len(cells) == rows * 7, name
        point = compute.code_from_sliders(values, loaded.ranking)[0]
        for r in range(rows):
            # Row r: the sliders' point with only dimension ranking[r] swept from -3 to +3.
            codes = point.expand(7, -1).clone()
            codes[:, loaded.ranking[r]] = steps
            expected = decode_probs(loaded.model, codes, compute.label_tensor(loaded, label, 7))
            for c in range(7):
                got = cells[r * 7 + c].astype(int)
                assert np.abs(got - np.asarray(to_image(expected[c])).astype(int)).max() <= 1, (name, r, c)


def anatomy_figures(text: str) -> tuple[float, float, float, float, float]:
    """Negative ELBO, reconstruction, KL, a two-layer model's lower-layer KL (else 0) and percentile as /anatomy
    writes them."""
    numbers = [float(v) for v in re.findall(r"\*\*([0-9.]+)[^*]*\*\*", text)]  # "**91.00 [nats](#g-nats)**"
    lower = re.search(r"\*\*([0-9.]+)\*\* lower-layer KL", text)
    pct = float(re.search(r"fits it worse than ([0-9.]+)%", text).group(1))
    return numbers[0], numbers[1], numbers[2], float(lower.group(1)) if lower else 0.0, pct


def plot_rows(plot: dict) -> list[dict]:
    """A plot output's data as one dict per row."""
    return [dict(zip(plot["columns"], row, strict=True)) for row in plot["data"]]


def test_anatomy_takes_the_score_apart_on_every_model(client: Client, app: Served) -> None:
    for name, loaded in app.models.items():
        upload = first_example(loaded)
        text, kl, posterior, histogram = client.predict(name, handle_file(upload), None, api_name="/anatomy")
        score_text = client.predict(name, handle_file(upload), None, api_name="/reconstruct")[3]
        nelbo, recon, kl_total, kl_lower, pct = anatomy_figures(text)
        x = load_digit(upload, loaded.box_side)
        label = compute.infer_label(loaded, x) if loaded.conditional else None
        expected, expected_pct = score(loaded, x, label)
        assert recon + kl_total + kl_lower == pytest.approx(nelbo, abs=0.016), name  # each term rounded to 0.01
        assert (kl_lower > 0) == bool(loaded.model.config.lower_dim), name  # the third term, for two layers only
        assert nelbo == pytest.approx(expected, abs=0.005) and pct == pytest.approx(expected_pct, abs=0.5)
        assert f"**{expected:.2f} nats**" in score_text  # the very number the score reports
        bars = plot_rows(kl)
        mine = [b for b in bars if b["series"] == "this image"]
        assert len(bars) == 2 * loaded.latent_dim
        assert [b["dimension"] for b in mine] == [compute.dimension_name(d) for d in loaded.ranking]
        assert sum(b["KL (nats)"] for b in mine) == pytest.approx(kl_total, abs=0.01)
        points = plot_rows(posterior)
        assert len(points) == 5 * loaded.latent_dim  # the mean, mean ± 1 sd, prior ± 1 sd per dimension
        marker = [row for row in plot_rows(histogram) if row["series"] == "this image"]
        assert [m["negative ELBO (nats)"] for m in marker] == pytest.approx([expected, expected], abs=1e-4)
        outline = [row for row in plot_rows(histogram) if row["series"] == "test set"]
        assert sum(row["test images per bin"] for row in outline[2:-2:2]) == len(loaded.extras["test_nelbo_sorted"])


def test_anatomy_refuses_a_missing_image(client: Client) -> None:
    assert_refused(lambda: client.predict("mlp-20d", None, None, api_name="/anatomy"), ["No image yet"])


def test_compare_lists_the_largest_family(client: Client, app: Served) -> None:
    table, curves, grids = client.predict(api_name="/compare")
    names = re.findall(r"`([^`]+)`", table.splitlines()[0])
    assert names and all(app.models[n].model.config == app.models[names[0]].model.config for n in names)
    assert len(grids) == len(names) and [g["caption"].split(":")[0] for g in grids] == names
    assert {row["model"] for row in plot_rows(curves)} == set(names)


# --- bad input -----------------------------------------------------------------------------------

BAD_UPLOADS = {
    "text.png": ["not an image", "text file", "PNG, JPEG"],
    "truncated.png": ["damaged or incomplete"],
    "truncated.jpg": ["damaged or incomplete"],
    "bomb.png": ["too large", f"{MAX_PIXELS / 1e6:g} million pixels", "smaller image"],
    "white.png": ["No digit"],
    "transparent.png": ["No digit"],
}


def assert_refused(call: object, words: list[str]) -> None:
    """`call()` raises AppError whose message contains all `words` and reads as a sentence."""
    with pytest.raises(AppError) as error:
        call()
    message = str(error.value)
    assert all(w in message for w in words), message
    assert message[0].isupper() and message.rstrip().endswith(".") and "Traceback" not in message


@pytest.mark.parametrize("name", BAD_UPLOADS)
def test_reconstruct_refuses_bad_uploads_clearly(client: Client, files: dict[str, str], name: str) -> None:
    assert_refused(lambda: client.predict("mlp-20d", handle_file(files[name]), None, api_name="/reconstruct"),
                   BAD_UPLOADS[name])


def test_interpolate_refuses_a_bad_second_image(client: Client, files: dict[str, str]) -> None:
    assert_refused(lambda: client.predict("mlp-20d", handle_file(files["example"]), None,
                                          handle_file(files["truncated.png"]), None, 4, "linear",
                                          api_name="/interpolate"), BAD_UPLOADS["truncated.png"])


def test_encode_refuses_a_text_file(client: Client, files: dict[str, str]) -> None:
    assert_refused(lambda: client.predict("mlp-20d", handle_file(files["text.png"]), None, api_name="/encode"),
                   BAD_UPLOADS["text.png"])


def test_missing_upload_says_what_to_do(client: Client) -> None:
    assert_refused(lambda: client.predict("mlp-20d", None, None, api_name="/reconstruct"), ["No image yet", "upload"])


def test_every_label_needs_a_conditional_model(client: Client, files: dict[str, str]) -> None:
    assert_refused(lambda: client.predict("mlp-20d", handle_file(files["example"]), None, api_name="/every_label"),
                   ["conditional model"])


def test_unknown_model_is_refused(client: Client, files: dict[str, str]) -> None:
    with pytest.raises(AppError, match="nope.*not in the list of choices"):
        client.predict("nope", handle_file(files["example"]), None, api_name="/reconstruct")


def test_server_still_answers_after_bad_input(client: Client, app: Served) -> None:
    values = [0.3] * app.max_dims
    decoded = client.predict("mlp-20d", 0, *values, api_name="/decode")
    assert_same_picture(decoded, shown(compute.decode_sliders(app.models["mlp-20d"], values)))


# --- no weights ----------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def pages_without_weights(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen, Path, Path]]:
    """The app started on an empty folder and on one with only a broken file, in a fresh process.

    Started when the module starts, so the process imports Gradio while the other tests run.
    """
    root = tmp_path_factory.mktemp("no-weights")
    empty, broken = root / "empty", root / "broken"
    empty.mkdir()
    broken.mkdir()
    (broken / "cut.safetensors").write_bytes((WEIGHTS / "mlp-20d.safetensors").read_bytes()[:1000])
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen([sys.executable, "-c", PAGE_TEXT, str(empty), str(broken)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield process, empty, broken
    if process.poll() is None:
        process.kill()
        process.communicate()


def test_without_weights_the_page_says_how_to_train_them(
    pages_without_weights: tuple[subprocess.Popen, Path, Path],
) -> None:
    process, empty, broken = pages_without_weights
    stdout, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr
    texts = json.loads(stdout.strip().splitlines()[-1])
    for folder in (empty, broken):
        page = "\n".join(texts[str(folder)])
        assert f"No trained weights found in `{folder}`" in page and "python train.py" in page
    assert "cut.safetensors" in "\n".join(texts[str(broken)]) and "truncated" in "\n".join(texts[str(broken)])
