"""Behaviour of pictures.uploads and pictures.digitize on synthetic digits, real MNIST digits and hostile uploads."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from pictures import digitize, uploads
from pictures.digitize import load_digit, to_mnist
from pictures.uploads import ImageError, open_image
from tests.helpers import (
    correlation,
    draw_digit,
    encode,
    png_header_only,
    same_shape,
    single_dot,
    truncated,
    zip_archive,
)

# --- synthetic digits ------------------------------------------------------------------------


def assert_mnist_like(digit):
    """28x28 float32 in [0, 1], with ink that fits 20x20 and is centred like MNIST."""
    assert isinstance(digit, torch.Tensor)
    assert digit.shape == (28, 28) and digit.dtype == torch.float32
    values = digit.numpy()
    assert values.min() >= 0 and values.max() <= 1
    assert values.max() > 0.9 and values.sum() > 20, "the digit vanished"
    rows, cols = np.nonzero(values)
    assert np.ptp(rows) + 1 <= 20 and np.ptp(cols) + 1 <= 20, "ink does not fit 20x20"
    # MNIST's convention, measured on the real data: the centre of mass is at row/column 14.0
    # (index coordinates), not at the geometric centre 13.5. digitize.CENTRE states it.
    mass = values.sum()
    com = ((values.sum(1) * np.arange(28)).sum() / mass, (values.sum(0) * np.arange(28)).sum() / mass)
    assert digitize.CENTRE == 14.0
    assert abs(com[0] - 14.0) <= 1 and abs(com[1] - 14.0) <= 1, f"centre of mass at {com}"


@pytest.fixture(scope="module")
def reference():
    """The result for a clean, centred, medium-stroke digit of each shape."""
    return {shape: to_mnist(draw_digit(shape)) for shape in "70"}


def sketchpad(ink=(0, 0, 0, 255), shape="7", width=12):
    """Like Gradio's Sketchpad composite: strokes on a fully transparent RGBA canvas."""
    return draw_digit(shape, size=600, width=width, ink=ink, paper=(255, 255, 255, 0), mode="RGBA")


def palette_with_transparency():
    """A palette image whose background colour is the transparent palette index."""
    image = draw_digit("0", ink=1, paper=0, mode="P")
    image.putpalette([255, 255, 255, 20, 20, 160] + [0, 0, 0] * 254)
    image.info["transparency"] = 0
    return Image.open(io.BytesIO(encode(image, transparency=0)))


def photo_like():
    """A dim, unevenly lit, noisy page with a pencil "7" and a few dust specks."""
    rng = np.random.default_rng(0)
    page = np.linspace(0.45, 0.85, 600)[None, :] * np.ones((600, 1))  # light from one side
    ink = np.asarray(draw_digit("7", size=600, width=14, ink=255, paper=0), np.float64) / 255
    page = page * (1 - 0.7 * ink) + rng.normal(0, 0.03, page.shape)
    for row, col in [(40, 550), (560, 30), (300, 580)]:
        page[row : row + 3, col : col + 3] = 0.1
    return Image.fromarray((np.clip(page, 0, 1) * 255).astype(np.uint8))


def salt_noise(image, fraction=0.01):
    """Black pixels scattered over 1% of the image, as on a dusty scan."""
    pixels = np.asarray(image).copy()
    pixels[np.random.default_rng(2).random(pixels.shape) < fraction] = 0
    return Image.fromarray(pixels)


# name: (shape, how to make it, least same_shape() with the clean medium-stroke reference)
GOOD_IMAGES = {
    "dark_on_light": ("7", lambda: draw_digit("7"), 0.9),
    "light_on_dark": ("7", lambda: draw_digit("7", ink=255, paper=0), 0.9),
    "off_centre_small": ("0", lambda: draw_digit("0", size=800, width=8, scale=0.5, offset=(20, 430)), 0.9),
    "thick_stroke_0": ("0", lambda: draw_digit("0", width=40), 0.8),
    "thick_stroke_7": ("7", lambda: draw_digit("7", width=45), 0.8),
    "thin_stroke_large_canvas": ("7", lambda: draw_digit("7", size=2000, width=3), 0.8),
    "hairline_large_canvas": ("0", lambda: draw_digit("0", size=2000, width=1), 0.8),
    "colour_ink_on_colour_paper": (
        "7",
        lambda: draw_digit("7", ink=(30, 40, 150), paper=(250, 240, 180), mode="RGB"),
        0.9,
    ),
    "sketchpad_dark_strokes": ("7", sketchpad, 0.8),
    "transparent_light_strokes": ("7", lambda: sketchpad(ink=(255, 255, 255, 255)), 0.8),
    "palette_with_transparency": ("0", palette_with_transparency, 0.9),
    "photo_uneven_light_noise_specks": ("7", photo_like, 0.8),
    "salt_noise": ("7", lambda: salt_noise(draw_digit("7", size=1000, width=40)), 0.8),
}


@pytest.mark.parametrize("name", GOOD_IMAGES)
def test_good_images_become_mnist_digits(name, reference):
    shape, make, least_correlation = GOOD_IMAGES[name]
    digit = load_digit(encode(make()))  # through PNG bytes, like an upload
    assert_mnist_like(digit)
    # Same digit, same result: position, polarity, colour, transparency and noise are gone.
    assert same_shape(digit, reference[shape]) > least_correlation


def test_thin_strokes_keep_an_mnist_pen_width(reference):
    medium = reference["7"].sum()
    for width in (1, 3):
        thin = to_mnist(draw_digit("7", size=2000, width=width))
        assert thin.sum() > 0.6 * medium, f"a {width}-px stroke faded away"
        assert (thin > 0.5).sum() > 30, f"a {width}-px stroke is too thin for MNIST"


def ink_box(digit):
    """Height and width of the bounding box of the ink."""
    rows, cols = np.nonzero(np.asarray(digit))
    return np.ptp(rows) + 1, np.ptp(cols) + 1


@pytest.mark.parametrize("frame", [20, 28])
def test_the_object_fills_the_dataset_frame(frame):
    height, width = ink_box(to_mnist(draw_digit("0", size=500, width=30), box=frame))
    assert max(height, width) in (frame - 1, frame)  # MNIST digits fit 20x20; Fashion-MNIST items fill 28x28


def test_specks_do_not_widen_the_box():
    clean = to_mnist(draw_digit("7", size=600, width=14))
    noisy = to_mnist(photo_like())  # its dust specks sit near three borders, far from the 7
    assert_mnist_like(noisy)
    # Had a speck counted as ink, the 7 would have shrunk to make room for it.
    assert all(abs(a - b) <= 1 for a, b in zip(ink_box(noisy), ink_box(clean), strict=True))
    assert correlation(noisy, clean) > 0.8


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize(
    "orientation, stored_as",
    [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270), (3, Image.Transpose.ROTATE_180)],
)
def test_exif_orientation_is_applied(fmt, orientation, stored_as):
    upright = draw_digit("7", mode="RGB", paper=(255, 255, 255), ink=(0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = orientation  # the camera says: rotate me for display
    stored = upright.transpose(stored_as)
    digit = load_digit(encode(stored, fmt, exif=exif.tobytes()))
    assert_mnist_like(digit)
    expected = load_digit(encode(upright, fmt))
    assert correlation(digit, expected) > 0.9
    assert correlation(to_mnist(stored), expected) < 0.5  # so the test would catch a no-op


def aligned_correlation(digit, original):
    """Correlation after the best shift by at most one pixel in each direction."""
    digit = np.asarray(digit)
    return max(correlation(np.roll(digit, (dy, dx), axis=(0, 1)), original) for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def test_real_mnist_digits_survive_a_round_trip(full_data_dir):  # skips without VAE_DATA_DIR
    torchvision = pytest.importorskip("torchvision")
    originals = torchvision.datasets.MNIST(full_data_dir, train=False, download=False).data.numpy()[:30]
    plain = []
    for index, original in enumerate(originals):
        large = Image.fromarray(255 - original).resize((280, 280), Image.Resampling.BICUBIC)
        digit = load_digit(encode(large))  # dark on light, 10x: like a scan of a printout
        assert_mnist_like(digit)
        # MNIST's own centring varies (centre of mass 14 +- 0.3 px, a few at 1 px), so a
        # digit may come back one pixel off; the shape itself must match.
        assert aligned_correlation(digit, original) > 0.8, f"MNIST test digit {index}"
        plain.append(correlation(digit, original))
    assert np.median(plain) > 0.9  # and most need no shift at all


# --- unusual but valid formats ---------------------------------------------------------------


def test_16_bit_grayscale_png_uses_its_real_range(reference):
    ink = np.asarray(draw_digit("7", ink=255, paper=0), np.float64) / 255
    twelve_bit = (3000 - 2800 * ink).astype(np.uint16)  # dark 12-bit ink in a 16-bit file
    image = Image.open(io.BytesIO(encode(Image.fromarray(twelve_bit))))
    assert image.mode.startswith("I")
    digit = load_digit(encode(image))
    assert_mnist_like(digit)
    assert correlation(digit, reference["7"]) > 0.9


def test_float_tiff_with_nan_and_infinity(reference):
    ink = np.asarray(draw_digit("7", ink=255, paper=0), np.float32) / 255
    values = -5 + 12 * ink
    values[:10, :10] = np.nan  # a broken sensor corner
    values[-3:, -3:] = np.inf
    image = Image.fromarray(values.astype(np.float32))
    assert image.mode == "F"
    digit = load_digit(encode(image, "TIFF"))
    assert_mnist_like(digit)
    assert not torch.isnan(digit).any()
    assert correlation(digit, reference["7"]) > 0.9


def test_cmyk_jpeg(reference):
    data = encode(draw_digit("7", mode="RGB", ink=(0, 0, 0), paper=(255, 255, 255)).convert("CMYK"), "JPEG")
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    digit = load_digit(data)
    assert_mnist_like(digit)
    assert correlation(digit, reference["7"]) > 0.9


@pytest.mark.parametrize("fmt", ["GIF", "PNG"])
def test_animation_uses_the_first_frame(fmt, reference):
    frames = [draw_digit("7").convert("RGB"), draw_digit("0").convert("RGB")]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    digit = load_digit(data)
    assert_mnist_like(digit)
    assert correlation(digit, reference["7"]) > 0.9 > correlation(digit, reference["0"])


def test_non_ascii_file_name(tmp_path, reference):
    path = tmp_path / "ziffer_ß_七.png"
    path.write_bytes(encode(draw_digit("7")))
    for source in (path, str(path)):
        digit = load_digit(source)
        assert_mnist_like(digit)
        assert correlation(digit, reference["7"]) > 0.99


def test_open_image_returns_one_loaded_frame():
    frames = [draw_digit("7"), draw_digit("0")]
    image = open_image(encode(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    assert getattr(image, "n_frames", 1) == 1 and image.size == (400, 400)
    assert image.getbbox() is not None  # pixels are there without a file behind them


@pytest.mark.parametrize("channels", [None, 3, 4])
def test_gradio_arrays(channels, reference):
    gray = np.asarray(draw_digit("7"))
    if channels == 3:
        array = np.stack([gray] * 3, axis=-1)
    elif channels == 4:  # Sketchpad: dark strokes on transparent white
        array = np.stack([gray] * 3 + [255 - gray], axis=-1)
    else:
        array = gray
    digit = to_mnist(array)
    assert_mnist_like(digit)
    assert correlation(digit, reference["7"]) > 0.95


def test_importing_the_library_leaves_pillow_settings_alone():
    """Pillow's bomb guard and truncation setting keep their defaults; our pixel cap is checked explicitly."""
    code = ("from PIL import Image, ImageFile; before = Image.MAX_IMAGE_PIXELS; "
            "import pictures.uploads, pictures.digitize; "
            "assert Image.MAX_IMAGE_PIXELS == before and ImageFile.LOAD_TRUNCATED_IMAGES is False")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
    assert uploads.MAX_PIXELS < Image.MAX_IMAGE_PIXELS  # so a picture between the two meets our check
    with pytest.raises(ImageError, match="7000x7000"):
        open_image(png_header_only(7_000, 7_000))


# --- bad inputs ------------------------------------------------------------------------------


BAD_INPUTS = {
    "empty": (lambda: b"", "empty"),
    "truncated_png": (lambda: truncated("PNG"), "damaged"),
    "truncated_jpeg": (lambda: truncated("JPEG"), "damaged"),
    "svg": (lambda: b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG"),
    "pdf": (lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "PDF"),
    "zip": (zip_archive, "ZIP"),
    "random_bytes": (lambda: bytes(range(256)) * 4, "PNG, JPEG"),
    "bomb_refused_by_pillow": (lambda: png_header_only(30_000, 30_000), "too large"),
    "bomb_refused_by_size_check": (lambda: png_header_only(7_000, 7_000), "7000x7000"),
    "one_pixel": (lambda: encode(Image.new("L", (1, 1))), "1x1"),
    "one_row": (lambda: encode(Image.new("L", (10_000, 1))), "10000x1"),
    "all_white": (lambda: encode(Image.new("L", (300, 300), 255)), "No digit"),
    "all_black": (lambda: encode(Image.new("RGB", (300, 300))), "No digit"),
    "white_jpeg": (lambda: encode(Image.new("RGB", (300, 300), "white"), "JPEG"), "No digit"),
    "fully_transparent": (
        lambda: encode(draw_digit("7", mode="RGBA", ink=(0, 0, 0, 0), paper=(0, 0, 0, 0))),
        "No digit",
    ),
    "empty_sketchpad": (lambda: encode(Image.new("RGBA", (600, 600), (255, 255, 255, 0))), "No digit"),
    "white_canvas": (lambda: encode(Image.new("RGBA", (600, 600), (255, 255, 255, 255))), "No digit"),
    "single_dot": (lambda: encode(single_dot()), "No digit"),
}


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_inputs_are_refused_with_a_clear_message(name):
    make, keyword = BAD_INPUTS[name]
    with pytest.raises(ImageError, match=keyword):
        load_digit(make())


def test_non_images_name_the_accepted_formats(tmp_path):
    path = tmp_path / "digit.png"
    path.write_text("this is a text file, not a picture of a digit\n")
    with pytest.raises(ImageError, match="text file") as error:
        load_digit(path)
    assert "PNG, JPEG, GIF, BMP, WebP or TIFF" in str(error.value)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # expected, then refused
def test_bomb_is_refused_before_decoding(monkeypatch):
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self))
    for side in (7_000, 30_000):
        with pytest.raises(ImageError, match="too large"):
            open_image(png_header_only(side, side))
    assert not decoded


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((400, 400, 4), np.uint8),  # an empty Sketchpad as Gradio sends it
        np.full((400, 400, 3), 255, np.uint8),
    ],
    ids=["empty_sketchpad", "white"],
)
def test_blank_gradio_arrays(array):
    with pytest.raises(ImageError, match="No digit"):
        to_mnist(array)


def test_missing_file_is_an_image_error(tmp_path):
    with pytest.raises(ImageError, match="could not be read"):
        load_digit(tmp_path / "nowhere.png")
