"""Bad and odd uploads sent through every image endpoint of the real app (`python3 app.py`), and serving hygiene.

One server for the whole module, started as a visitor would meet it (benchmarks.harness.serve_app). Each upload
has one right outcome, the same on every endpoint: a result ("ok") or a refusal whose message holds a key word.
"""

import ast
import importlib
import io
import itertools
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import Popen
from types import ModuleType
from typing import Any, NamedTuple
from urllib.parse import quote

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageDraw, ImageSequence

from benchmarks.harness import rss_mb, serve_app
from pictures.uploads import MAX_PIXELS
from tests.helpers import api_client, draw_digit, encode, png_header_only, single_dot, truncated, zip_archive
from webapp import demo
from webapp.views import every_class

ROOT = Path(__file__).parents[2]
EXAMPLE = str(sorted((ROOT / "examples").glob("*.png"))[0])
MODEL, CONDITIONAL = "mlp-20d", "cmlp-20d"  # shipped weights; /every_label needs the conditional one
ENDPOINTS = ["/reconstruct", "/encode", "/interpolate", "/every_label"]
STEPS = 4  # interpolation frames
MAX_RSS_GROWTH_MB = 50
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # app.MAX_FILE_SIZE = "10mb"
OK = "ok"
INVALID_TYPE = "Invalid file type"  # Gradio's own refusal of a file whose name is not an image's

# --- the uploads ---------------------------------------------------------------------------------


def png(image: Image.Image) -> bytes:
    """PNG bytes of `image`."""
    return encode(image, "PNG")


def seven_rgb(size: int = 400, width: int = 20) -> Image.Image:
    """A black "7" on white paper, in RGB."""
    return draw_digit("7", size=size, width=width, mode="RGB", ink=(0, 0, 0), paper=(255, 255, 255))


def sixteen_bit_seven() -> Image.Image:
    """A dark "7" on light paper in 16-bit grayscale, using only part of the 16-bit range (like a 12-bit scan)."""
    ink = np.asarray(draw_digit("7", ink=255, paper=0), np.float64) / 255
    return Image.fromarray((3000 - 2800 * ink).astype(np.uint16))


def palette_seven() -> Image.Image:
    """A "7" in palette mode: index 1 black ink, index 0 the transparent background."""
    image = draw_digit("7", mode="P", ink=1, paper=0)
    image.putpalette([255, 255, 255, 0, 0, 0])
    return image


def photo_seven() -> Image.Image:
    """A phone-photo-like "7": grey uneven paper with sensor noise, in RGB."""
    rng = np.random.default_rng(2)
    gray = np.asarray(draw_digit("7", size=600, width=30, ink=40, paper=200), np.float64)
    gray = gray + np.linspace(-20, 20, 600)[None, :] + rng.normal(0, 4, gray.shape)
    return Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).convert("RGB")


def exif_rotated_jpeg() -> bytes:
    """The photo stored lying on its side, with EXIF orientation 6 (rotate 90 degrees clockwise to view)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(photo_seven().transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif, quality=90)


def float_tiff(digit: bool) -> bytes:
    """A mode-F TIFF with NaN and infinities; with `digit`, the other pixels hold a "7" (1.0 on 0.0)."""
    values = np.asarray(draw_digit("7", mode="F", ink=1.0, paper=0.0), np.float32).copy()
    if not digit:
        values[:] = np.nan
    values[:5] = np.nan
    values[-1, :50], values[-1, 50:100] = np.inf, -np.inf
    return encode(Image.fromarray(values, "F"), "TIFF")


def animated_gif() -> bytes:
    """Two frames, a "7" then a "0"."""
    frames = [draw_digit("7").convert("RGB"), draw_digit("0").convert("RGB")]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def wide_strip() -> bytes:
    """A 2000x40 strip of paper with a small "7" in it: extreme aspect ratio, valid size."""
    image = Image.new("L", (2000, 40), 255)
    ImageDraw.Draw(image).line([(985, 6), (1015, 6), (995, 34)], fill=0, width=3)
    return png(image)


def svg() -> bytes:
    """A vector "7"."""
    return (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
            b'<path d="M20 20 H80 L40 90" stroke="black" stroke-width="8" fill="none"/></svg>\n')


def bad_crc() -> bytes:
    """A PNG with one flipped bit in its pixel data (its checksum no longer matches)."""
    data = bytearray(png(draw_digit("7")))
    data[data.index(b"IDAT") + 20] ^= 0x01
    return bytes(data)


PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
HTML = b"<!DOCTYPE html>\n<html><body><img src=x onerror=alert(1)>7</body></html>\n"
HEIC = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(200)

# kind: (file name, contents, outcome). The outcome is "ok" or a key word of the refusal.
UPLOADS: dict[str, tuple[str, Callable[[], bytes], str]] = {
    # not images at all
    "empty": ("empty.png", lambda: b"", "empty"),
    "text_named_png": ("digit.png", lambda: b"this is a text file, not a picture of a digit\n", "not an image"),
    "random_bytes": ("noise.png", lambda: np.random.default_rng(3).bytes(4096), "not an image"),
    "svg": ("seven.svg", svg, "SVG"),
    "pdf": ("seven.pdf", lambda: PDF, INVALID_TYPE),
    "pdf_named_png": ("scan.png", lambda: PDF, "PDF"),
    "zip_named_png": ("digits.png", zip_archive, "ZIP"),
    "html": ("page.html", lambda: HTML, INVALID_TYPE),
    "html_named_png": ("page.png", lambda: HTML, "HTML"),
    "heic": ("photo.heic", lambda: HEIC, "HEIC"),
    "ico": ("favicon.ico", lambda: encode(draw_digit("7").resize((64, 64)), "ICO"), "not an image"),
    # damaged
    "truncated_png": ("cut.png", lambda: truncated("PNG"), "damaged"),
    "truncated_jpeg": ("cut.jpg", lambda: truncated("JPEG"), "damaged"),
    "jpeg_markers_only": ("stub.jpg", lambda: b"\xff\xd8\xff\xe0", "not an image"),  # too short to identify
    "bad_checksum_png": ("crc.png", bad_crc, "damaged"),
    # sizes
    "bomb": ("bomb.png", lambda: png_header_only(30_000, 30_000), "too large"),
    "bomb_under_pillows_limit": ("big.png", lambda: png_header_only(7_000, 7_000), "too large"),
    "header_at_the_pixel_cap": ("cap.png", lambda: png_header_only(MAX_PIXELS // 1000, 1000), "damaged"),
    "one_pixel": ("pixel.png", lambda: png(Image.new("L", (1, 1))), "too small"),
    "one_row": ("row.png", lambda: png(Image.new("L", (10_000, 1))), "too small"),
    "two_pixels_wide": ("line.png", lambda: png(Image.new("L", (2, 500))), "too small"),
    "large_jpeg": ("photo.jpg", lambda: encode(seven_rgb(3000, 90).resize((4000, 3000)), "JPEG"), OK),
    "wide_strip": ("strip.png", wide_strip, OK),
    # nothing drawn
    "all_white": ("white.png", lambda: png(Image.new("L", (300, 300), 255)), "No digit"),
    "all_black": ("black.jpg", lambda: encode(Image.new("RGB", (300, 300)), "JPEG"), "No digit"),
    "fully_transparent": ("clear.png", lambda: png(Image.new("RGBA", (300, 300), (0, 0, 0, 0))), "No digit"),
    "single_dot": ("dot.png", lambda: png(single_dot()), "No digit"),
    "faint": ("faint.png", lambda: png(draw_digit("7", ink=250, paper=255)), "No digit"),
    "float_tiff_no_finite_pixels": ("nan.tif", lambda: float_tiff(digit=False), "No digit"),
    # odd but valid
    "sixteen_bit_gray": ("deep.png", lambda: png(sixteen_bit_seven()), OK),
    "cmyk_jpeg": ("cmyk.jpg", lambda: encode(seven_rgb().convert("CMYK"), "JPEG"), OK),
    "palette_with_transparency": ("palette.png", lambda: encode(palette_seven(), "PNG", transparency=0), OK),
    "gif_one_frame_transparent": ("one.gif", lambda: encode(palette_seven(), "GIF", transparency=0), OK),
    "animated_gif": ("animated.gif", animated_gif, OK),
    "exif_rotated_photo": ("photo_exif.jpg", exif_rotated_jpeg, OK),
    "float_tiff_nan_inf": ("float.tif", lambda: float_tiff(digit=True), OK),
    "bilevel": ("bilevel.png", lambda: png(draw_digit("7").convert("1")), OK),
    "gray_alpha": ("la.png", lambda: png(draw_digit("7", mode="LA", ink=(0, 255), paper=(255, 0))), OK),
    "bmp": ("seven.bmp", lambda: encode(seven_rgb(), "BMP"), OK),
    "webp": ("seven.webp", lambda: encode(seven_rgb(), "WEBP"), OK),
    "png_named_jpg": ("seven.jpg", lambda: png(draw_digit("7")), OK),
    "one_pixel_pen": ("thin.png", lambda: png(draw_digit("7", size=1000, width=1)), OK),
    "non_ascii_name": ("ziffer_ß_七.png", lambda: png(draw_digit("7")), OK),
    "markup_in_name": ("<b>\"seven\"<script> & 'co'.png", lambda: png(draw_digit("7")), OK),
}


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every kind of UPLOADS written to its own folder (names may repeat across kinds)."""
    root = tmp_path_factory.mktemp("bad-uploads")
    paths = {}
    for kind, (name, make, _) in UPLOADS.items():
        (root / kind).mkdir()
        path = root / kind / name
        path.write_bytes(make())
        paths[kind] = str(path)
    return paths


@pytest.fixture(scope="module")
def too_big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid PNG of random noise just over the 10 MB upload limit."""
    noise = np.random.default_rng(4).integers(0, 256, (1900, 1900, 3), np.uint8)
    path = tmp_path_factory.mktemp("too-big") / "noise.png"
    path.write_bytes(encode(Image.fromarray(noise), "PNG", compress_level=0))
    assert path.stat().st_size > MAX_UPLOAD_BYTES
    return path


# --- the server ----------------------------------------------------------------------------------


class Server(NamedTuple):
    """The running app and what it looked like after the warm-up."""

    url: str
    process: Popen
    client: Client
    warm_rss_mb: float  # after the warm-up
    warm_decode: np.ndarray  # the decoded origin, as served before the suite


def call(client: Client, endpoint: str, upload: str) -> Any:
    """Send `upload` (a local path) to an image endpoint, as its only image (/interpolate: the first)."""
    if endpoint == "/interpolate":
        return client.predict(name=MODEL, up_a=handle_file(upload), sk_a=None, up_b=handle_file(EXAMPLE), sk_b=None,
                              steps=STEPS, method="linear", api_name=endpoint)
    name = CONDITIONAL if endpoint == "/every_label" else MODEL
    return client.predict(name=name, upload=handle_file(upload), sketch=None, api_name=endpoint)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """The app as a subprocess, warmed up with valid requests on every image endpoint, and its RSS then."""
    with serve_app() as (url, process, _):
        client = api_client(url)
        for _ in range(3):
            for endpoint in ENDPOINTS:
                call(client, endpoint, EXAMPLE)
        yield Server(url, process, client, rss_mb(process.pid), decode(client))


def decode(client: Client) -> np.ndarray:
    """The decoded origin of MODEL, as a grayscale array."""
    sliders = len(client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/decode"]["parameters"])
    path = client.predict(MODEL, 0, *[0.0] * (sliders - 2), api_name="/decode")  # after the model and class
    return np.asarray(opens_as_image(path).convert("L"))


# --- checks --------------------------------------------------------------------------------------


def opens_as_image(path: str) -> Image.Image:
    """The returned file, fully decoded (fails if it is missing or not an image)."""
    assert Path(path).is_file(), path
    with Image.open(path) as image:
        image.load()
        return image


def inked(path: str) -> bool:
    """Whether a returned picture shows something (white strokes) rather than a black square."""
    return np.asarray(opens_as_image(path).convert("L")).max() > 128


def check_reconstruct(result: Any) -> None:
    """What the model sees (a digit), its reconstruction, posterior samples, and a score in nats."""
    seen, recon, posterior, text = result
    assert inked(seen) and opens_as_image(recon).size == (224, 224) and opens_as_image(posterior)
    assert "nats" in text


def check_encode(result: Any) -> None:
    """The decoded code, the class left at 0 (unconditional model), and finite slider values."""
    image, label, *sliders = result
    assert opens_as_image(image).size == (224, 224) and label["value"] == 0
    assert len(sliders) >= 20 and all(np.isfinite(sliders)) and any(sliders)


def check_interpolate(result: Any) -> None:
    """A strip image and a back-and-forth animated GIF."""
    strip, gif = result
    opens_as_image(strip)
    with Image.open(gif) as animation:
        assert animation.format == "GIF" and len(list(ImageSequence.Iterator(animation))) == 2 * STEPS - 2


def check_every_label(result: Any) -> None:
    """Ten decodings in rows of every_class.COLUMNS (30-pixel tiles, 2-pixel borders) and the class the image was
    read as."""
    grid, text = result
    width, height = opens_as_image(grid).size
    rows = math.ceil(10 / every_class.COLUMNS)
    assert width * (rows * 30 + 2) == height * (every_class.COLUMNS * 30 + 2)  # at any scale
    assert text.startswith("Read as **")


CHECKS: dict[str, Callable[[Any], None]] = {
    "/reconstruct": check_reconstruct, "/encode": check_encode, "/interpolate": check_interpolate,
    "/every_label": check_every_label,
}


def assert_clear_refusal(error: Exception, keyword: str) -> None:
    """The message is a sentence with `keyword`, and shows nothing of the server's insides."""
    message = str(error)
    assert keyword in message, message
    assert message[:1].isupper(), message
    for leak in ("Traceback", 'File "', "/tmp/", str(ROOT), "site-packages"):
        assert leak not in message, message


# --- the bad-input suite -------------------------------------------------------------------------


def test_image_endpoints_take_the_expected_parameters(server: Server) -> None:
    api = server.client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    names = {e: [p["parameter_name"] for p in api[e]["parameters"]] for e in ENDPOINTS}
    assert names == {"/reconstruct": ["name", "upload", "sketch"], "/encode": ["name", "upload", "sketch"],
                     "/every_label": ["name", "upload", "sketch"],
                     "/interpolate": ["name", "up_a", "sk_a", "up_b", "sk_b", "steps", "method"]}
    assert {MODEL, CONDITIONAL} <= set(api["/reconstruct"]["parameters"][0]["type"]["enum"])


@pytest.mark.parametrize(("kind", "endpoint"), itertools.product(UPLOADS, ENDPOINTS))
def test_upload_gives_a_result_or_a_clear_refusal(server: Server, uploads: dict[str, str], kind: str,
                                                  endpoint: str) -> None:
    outcome = UPLOADS[kind][2]
    if outcome == OK:
        CHECKS[endpoint](call(server.client, endpoint, uploads[kind]))
    else:
        with pytest.raises(AppError) as error:
            call(server.client, endpoint, uploads[kind])
        assert_clear_refusal(error.value, outcome)


def test_exif_orientation_is_applied(server: Server, tmp_path: Path) -> None:
    """The photo stored on its side reads exactly like the same photo stored upright."""
    upright, rotated = tmp_path / "upright.png", tmp_path / "rotated.jpg"
    upright.write_bytes(png(Image.open(io.BytesIO(exif_rotated_jpeg())).transpose(Image.Transpose.ROTATE_270)))
    rotated.write_bytes(exif_rotated_jpeg())
    seen = [np.asarray(opens_as_image(call(server.client, "/reconstruct", str(p))[0]).convert("L"), np.int16)
            for p in (upright, rotated)]
    assert np.abs(seen[0] - seen[1]).max() <= 1


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_client_will_not_send_a_file_over_the_limit(server: Server, too_big: Path, endpoint: str) -> None:
    """gradio_client reads the app's max_file_size and refuses before uploading."""
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {MAX_UPLOAD_BYTES} bytes"):
        call(server.client, endpoint, str(too_big))


def test_the_server_refuses_an_upload_over_the_limit(server: Server, too_big: Path) -> None:
    """A raw upload (a client that ignores the limit) is refused by the server itself."""
    with too_big.open("rb") as f:
        response = httpx.post(f"{server.url}gradio_api/upload", files={"files": ("noise.png", f, "image/png")})
    assert response.status_code == 413
    assert f"maximum allowed size of {MAX_UPLOAD_BYTES} bytes" in response.text


def test_after_the_suite_the_server_answers_and_kept_its_memory(server: Server) -> None:
    """Runs after the suite above (pytest keeps file order)."""
    assert np.array_equal(decode(server.client), server.warm_decode)
    growth = rss_mb(server.process.pid) - server.warm_rss_mb
    assert growth < MAX_RSS_GROWTH_MB, f"RSS grew by {growth:.0f} MB from {server.warm_rss_mb:.0f} MB"


# --- serving hygiene -----------------------------------------------------------------------------

ROUTES = {  # path after the server URL: the status Gradio 6 gives
    "gradio_api/file=/etc/passwd": 403,  # routes.py: file_fetch -> HTTPException(403, "File not allowed")
    "gradio_api/file/etc/passwd": 403,  # the deprecated /file/ form goes through the same check
    "gradio_api/file=..%2F..%2F..%2Fetc%2Fpasswd": 403,
    f"gradio_api/file={ROOT / 'app.py'}": 403,
    "gradio_api/file=app.py": 403,
    "file=/etc/passwd": 404,  # the pre-gradio_api form: no such route any more
}


@pytest.mark.parametrize("path", ROUTES)
def test_files_outside_the_cache_are_not_served(server: Server, path: str) -> None:
    response = httpx.get(server.url + path)
    assert response.status_code == ROUTES[path], response.text
    assert "root:" not in response.text and "demo.launch" not in response.text


def test_the_file_route_serves_uploads_but_not_a_way_out_of_them(server: Server) -> None:
    """The right URL form (an upload comes back) refuses a climb out of the upload folder."""
    data = png(draw_digit("7"))
    response = httpx.post(f"{server.url}gradio_api/upload", files={"files": ("seven.png", data, "image/png")})
    response.raise_for_status()
    uploaded = response.json()[0]
    assert httpx.get(f"{server.url}gradio_api/file={uploaded}").content == data
    climb = quote(f"{Path(uploaded).parent}/../../../../etc/passwd", safe="")  # httpx would resolve bare ../
    escape = httpx.get(f"{server.url}gradio_api/file={climb}")
    assert escape.status_code == 403 and "root:" not in escape.text


def test_the_served_app_announces_its_upload_limit(server: Server) -> None:
    config = httpx.get(f"{server.url}config").json()
    assert config["max_file_size"] == MAX_UPLOAD_BYTES


@pytest.fixture(scope="module")
def app() -> ModuleType:
    """The app module, imported in this process (the shipped weights)."""
    return importlib.import_module("app")


def test_launch_passes_the_upload_limit() -> None:
    launches = [node for node in ast.walk(ast.parse((ROOT / "webapp" / "demo.py").read_text()))
                if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "launch"]
    assert len(launches) == 1
    keywords = {k.arg: k.value for k in launches[0].keywords}
    assert isinstance(keywords["max_file_size"], ast.Name) and keywords["max_file_size"].id == "MAX_FILE_SIZE"
    assert demo.MAX_FILE_SIZE == "10mb"


def test_pixel_cap_and_cache_cleanup_are_set(app: ModuleType) -> None:
    # The app leaves Pillow's own guard at its default; pictures.uploads checks its smaller cap itself
    # ("bomb_under_pillows_limit" above is refused by that check).
    assert Image.MAX_IMAGE_PIXELS == 1024 * 1024 * 1024 // 4 // 3 > MAX_PIXELS
    frequency, age = app.demo.delete_cache
    assert 0 < frequency <= age
