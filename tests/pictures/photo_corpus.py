"""Phone-style photos of real MNIST test digits, made on the fly (tests/pictures/test_photos.py, benchmarks/photos.py).

Each condition turns one 28x28 MNIST digit into the file (or Sketchpad array) a user would upload: the digit is
enlarged, written with a pen (normal, thin ballpoint, thick marker, faint pencil) on paper, then photographed:
a sheet on a desk, light and shadow, ruled or squared paper, sensor noise and JPEG. `make(condition, digit, seed,
width, height)` is deterministic for a given seed.
"""

import io
from collections.abc import Callable

import cv2
import numpy as np
import torch
from PIL import Image

from pictures.uploads import ImageError

Rng = np.random.Generator
Float = np.ndarray  # float32 arrays in [0, 1]: coverage maps (H, W) and colour pictures (H, W, 3)

MATCH = 0.8  # the least match() of a picture read right with its source digit
PAPER, INK, BLUE = (0.93, 0.92, 0.89), (0.12, 0.12, 0.15), (0.12, 0.2, 0.55)


# --- pens ----------------------------------------------------------------------------------------


def coverage(digit: np.ndarray, height: int) -> Float:
    """The MNIST digit enlarged so that its 20-px box is `height` px tall: ink coverage in [0, 1]."""
    side = max(8, round(height * 28 / 20))
    return np.clip(cv2.resize(digit.astype(np.float32) / 255, (side, side), interpolation=cv2.INTER_CUBIC), 0, 1)


def pen(ink: Float, width: float) -> Float:
    """The same strokes redrawn with a round pen `width` px wide, along their centre lines."""
    mask = (ink > 0.5).astype(np.uint8)
    depth = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    reach = max(3, int(depth.max() * 2) | 1)
    ridge = (depth >= 0.7 * cv2.dilate(depth, np.ones((reach, reach), np.uint8))) & (mask > 0)
    radius = max(1, round(width / 2))
    brush = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    drawn = cv2.dilate(ridge.astype(np.float32), brush)
    return cv2.GaussianBlur(drawn, (0, 0), 0.7)  # the pen's soft edge


def pencil(ink: Float, rng: Rng, strength: float) -> Float:
    """Graphite: a fraction of full coverage, grainy."""
    grain = np.clip(rng.normal(1, 0.25, ink.shape), 0.3, 1.3).astype(np.float32)
    return np.clip(ink * grain * strength, 0, 1)


# --- paper and scene -----------------------------------------------------------------------------


def paper(height: int, width: int, colour: tuple[float, float, float], rng: Rng) -> Float:
    """A sheet of paper with a faint fibre texture."""
    fibre = 0.015 * rng.standard_normal(((height + 1) // 2, (width + 1) // 2), dtype=np.float32)
    fibre = cv2.resize(fibre, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(np.asarray(colour, np.float32) + fibre[..., None], 0, 1)


def write(page: Float, ink: Float, colour: tuple[float, float, float], centre: tuple[int, int]) -> Float:
    """Ink `ink` (coverage) in `colour` onto `page`, centred at (row, column)."""
    h, w = ink.shape
    top, left = centre[0] - h // 2, centre[1] - w // 2
    region = page[top : top + h, left : left + w]
    cover = ink[: region.shape[0], : region.shape[1], None]
    region[:] = region * (1 - cover) + np.asarray(colour, np.float32) * cover
    return page


def ruled(page: Float, spacing: float, colour: tuple[float, float, float], horizontal: bool, vertical: bool,
          margin: float | None = None) -> Float:
    """Lines across the page every `spacing` px (and a red margin line at `margin` of the width)."""
    h, w = page.shape[:2]
    lines = np.zeros((h, w), np.float32)
    if horizontal:
        lines[np.arange(spacing / 2, h, spacing).astype(int)] = 0.8
    if vertical:
        lines[:, np.arange(spacing / 2, w, spacing).astype(int)] = 0.8
    lines = cv2.GaussianBlur(cv2.dilate(lines, np.ones((2, 2), np.uint8)), (0, 0), 0.6)
    page = page * (1 - lines[..., None]) + np.asarray(colour, np.float32) * lines[..., None]
    if margin is not None:
        red = np.zeros((h, w), np.float32)
        red[:, int(margin * w) : int(margin * w) + 3] = 0.8
        page = page * (1 - red[..., None]) + np.asarray((0.85, 0.3, 0.3), np.float32) * red[..., None]
    return page


def turn(picture: Float, degrees: float) -> Float:
    """Rotate about the centre, filling with the edge colour (the page goes on beyond the frame)."""
    h, w = picture.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(picture, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def on_desk(sheet: Float, desk: Float, degrees: float, centre: tuple[float, float]) -> Float:
    """Lay `sheet` on `desk`, turned by `degrees`, with its centre at (row, column) of the desk."""
    h, w = sheet.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    matrix[:, 2] += (centre[1] - w / 2, centre[0] - h / 2)
    size = desk.shape[1], desk.shape[0]
    placed = cv2.warpAffine(sheet, matrix, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.ones((h, w), np.float32), matrix, size, flags=cv2.INTER_LINEAR)[..., None]
    return desk * (1 - mask) + placed * mask


def wood(height: int, width: int, rng: Rng) -> Float:
    """A wooden desk: brown with wavy grain."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    wave = np.sin(y / height * rng.uniform(20, 40) + 3 * np.sin(x / width * rng.uniform(2, 5)))
    streaks = cv2.GaussianBlur(rng.standard_normal((height, width), dtype=np.float32), (0, 0), 3)
    shade = 0.5 + 0.12 * wave + 0.15 * streaks / max(float(np.abs(streaks).max()), 1e-6)
    return np.clip(shade[..., None] * np.asarray((1.0, 0.7, 0.45), np.float32), 0, 1)


def gradient(height: int, width: int, rng: Rng, low: float) -> Float:
    """Light falling from one side: from `low` to 1 across the frame, in a random direction, and a vignette."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    along = (x / width - 0.5) * np.cos(angle) + (y / height - 0.5) * np.sin(angle)
    light = low + (1 - low) * (along - along.min()) / (along.max() - along.min())
    vignette = 1 - 0.15 * (((x / width - 0.5) ** 2 + (y / height - 0.5) ** 2) * 2)
    return (light * vignette)[..., None]


def shadow(height: int, width: int, rng: Rng, darkness: float) -> Float:
    """A hard shadow (of a phone, a hand) across part of the frame: a half-plane with a slightly soft edge."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    offset = rng.uniform(-0.25, 0.25) * min(height, width)
    side = (x - width / 2) * np.cos(angle) + (y - height / 2) * np.sin(angle) - offset
    edge = rng.uniform(1, 4)
    return (1 - darkness * 0.5 * (1 + np.tanh(side / (2 * edge))))[..., None].astype(np.float32)


# --- the camera ----------------------------------------------------------------------------------


def photo(picture: Float, rng: Rng, quality: int = 88) -> bytes:
    """Sensor noise, 8-bit, JPEG."""
    noisy = picture + 0.012 * rng.standard_normal(picture.shape, dtype=np.float32)
    return encode(np.clip(noisy * 255 + 0.5, 0, 255).astype(np.uint8), "JPEG", quality=quality)


def encode(pixels: np.ndarray, fmt: str = "PNG", **params) -> bytes:
    """An uint8 array (H, W), (H, W, 3) or (H, W, 4) as a file."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **params)
    return buffer.getvalue()


# --- the conditions ------------------------------------------------------------------------------


def _plain(digit, rng, w, h, *, ink=INK, pen_width=None, strength=None, light=None, size=(0.2, 0.35)):
    """A full-frame page with the digit somewhere near the middle, optionally lit unevenly or shadowed."""
    height = int(h * rng.uniform(*size))
    strokes = coverage(digit, height)
    if pen_width is not None:
        strokes = pen(strokes, pen_width * height)
    if strength is not None:
        strokes = pencil(strokes, rng, strength)
    page = paper(h, w, PAPER, rng)
    centre = _somewhere(rng, h, w, strokes.shape)
    page = write(page, strokes, ink, centre)
    if light is not None:
        page = page * light(h, w, rng)
    return page


def _somewhere(rng: Rng, h: int, w: int, shape: tuple[int, int], spread: float = 0.2) -> tuple[int, int]:
    """A centre for a block of `shape` near the middle of an h x w frame, fully inside it."""
    row = int(h / 2 + rng.uniform(-spread, spread) * h)
    col = int(w / 2 + rng.uniform(-spread, spread) * w)
    row = min(max(row, shape[0] // 2 + 1), h - shape[0] // 2 - 2)
    col = min(max(col, shape[1] // 2 + 1), w - shape[1] // 2 - 2)
    return row, col


def _desk(digit, rng, w, h, desk: Callable[[int, int, Rng], Float], paper_colour=PAPER,
          lines: tuple[bool, bool, bool] | None = None, darkness: float = 0.0) -> bytes:
    """A sheet covering part of the frame, slightly turned, on a desk; optionally ruled or squared
    (`lines`: horizontal, vertical, margin), and with a shadow of `darkness` across the scene."""
    sheet_h, sheet_w = int(h * rng.uniform(0.55, 0.8)), int(w * rng.uniform(0.45, 0.7))
    sheet = paper(sheet_h, sheet_w, paper_colour, rng)
    strokes = coverage(digit, int(sheet_h * rng.uniform(0.25, 0.4)))
    if lines is not None:
        sheet = _rule(sheet, rng, strokes.shape[0] * 20 / 28, *lines)
    sheet = write(sheet, strokes, INK, _somewhere(rng, sheet_h, sheet_w, strokes.shape, 0.1))
    centre = (h / 2 + rng.uniform(-0.1, 0.1) * h, w / 2 + rng.uniform(-0.12, 0.12) * w)
    scene = on_desk(sheet, desk(h, w, rng), rng.uniform(-10, 10), centre) * gradient(h, w, rng, 0.8)
    return photo(scene * shadow(h, w, rng, darkness) if darkness else scene, rng)


def _flat(colour: tuple[float, float, float]) -> Callable[[int, int, Rng], Float]:
    """A plain desk of one colour, give or take a little."""
    return lambda h, w, rng: paper(h, w, tuple(np.clip(np.asarray(colour) + rng.uniform(-0.04, 0.04), 0, 1)), rng)


def _rule(page: Float, rng: Rng, height: float, horizontal: bool, vertical: bool, margin: bool) -> Float:
    """Ruled (`horizontal`, with a `margin` line) or squared paper, spaced for a digit `height` px tall."""
    spacing = height * (rng.uniform(0.5, 0.9) if not vertical else rng.uniform(0.3, 0.5))
    return ruled(page, spacing, (0.55, 0.7, 0.9), horizontal, vertical, rng.uniform(0.08, 0.14) if margin else None)


def _lined(digit, rng, w, h, horizontal: bool, vertical: bool, margin: bool) -> bytes:
    """Ruled or squared paper filling the frame, slightly turned, with the digit written over the lines."""
    height = int(h * rng.uniform(0.2, 0.35))
    strokes = coverage(digit, height)
    page = _rule(paper(h, w, PAPER, rng), rng, height, horizontal, vertical, margin)
    page = write(page, strokes, BLUE if rng.random() < 0.5 else INK, _somewhere(rng, h, w, strokes.shape))
    return photo(turn(page, rng.uniform(-3, 3)) * gradient(h, w, rng, 0.85), rng)


def _chalkboard(digit, rng, w, h) -> bytes:
    """Chalk on a dark green board: light, grainy strokes, smudges."""
    board = paper(h, w, (0.16, 0.24, 0.2), rng)
    smudge = cv2.GaussianBlur(rng.standard_normal((h, w), dtype=np.float32), (0, 0), 25)
    board = board + 0.05 * (smudge / max(float(np.abs(smudge).max()), 1e-6))[..., None]
    strokes = pencil(coverage(digit, int(h * rng.uniform(0.25, 0.4))), rng, 0.85)
    board = write(board, strokes, (0.92, 0.93, 0.9), _somewhere(rng, h, w, strokes.shape))
    return photo(board * gradient(h, w, rng, 0.8), rng)


def _exif(digit, rng, w, h) -> bytes:
    """The phone stored the photo on its side, with an EXIF tag saying how to turn it."""
    page = np.clip(_plain(digit, rng, w, h, light=lambda h, w, rng: gradient(h, w, rng, 0.7)) * 255, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    stored = np.ascontiguousarray(np.rot90(page.astype(np.uint8), 1))
    return encode(stored, "JPEG", quality=88, exif=exif.tobytes())


def _transparent(digit, rng, w, h) -> bytes:
    """A drawing exported as a PNG: dark strokes on a fully transparent canvas."""
    strokes = coverage(digit, int(h * rng.uniform(0.5, 0.7)))
    alpha = np.zeros((h, w), np.float32)
    top, left = (h - strokes.shape[0]) // 2, (w - strokes.shape[1]) // 2
    alpha[top : top + strokes.shape[0], left : left + strokes.shape[1]] = strokes
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., 3] = (alpha * 255).astype(np.uint8)
    return encode(rgba)


def _sketchpad(digit, rng, w, h) -> np.ndarray:
    """What Gradio's Sketchpad sends: an RGBA array, black brush strokes on a transparent canvas."""
    strokes = pen(coverage(digit, int(h * rng.uniform(0.5, 0.7))), 0.1 * h)
    alpha = np.zeros((h, w), np.float32)
    top, left = _somewhere(rng, h, w, strokes.shape, 0.1)
    alpha[top - strokes.shape[0] // 2 : top - strokes.shape[0] // 2 + strokes.shape[0],
          left - strokes.shape[1] // 2 : left - strokes.shape[1] // 2 + strokes.shape[1]] = strokes
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., 3] = (np.clip(alpha, 0, 1) * 255).astype(np.uint8)
    return rgba


def _small(digit, rng, w, h) -> bytes:
    """A small digit (2-5% of the picture's height) somewhere on a large, unevenly lit page."""
    page = _plain(digit, rng, w, h, size=(0.02, 0.05), pen_width=rng.uniform(0.08, 0.12),
                  light=lambda h, w, rng: gradient(h, w, rng, 0.75))
    return photo(page, rng)


def _gray(page: Float) -> np.ndarray:
    """A colour page as 8-bit grey levels, as a scanner saves it."""
    return (np.clip(page.mean(axis=2), 0, 1) * 255 + 0.5).astype(np.uint8)


def _jpeg_of(page: Float, rng: Rng) -> bytes:
    """A page as a phone photo."""
    return photo(page, rng)


CONDITIONS: dict[str, Callable[[np.ndarray, Rng, int, int], bytes | np.ndarray]] = {
    "desk_dark": lambda d, r, w, h: _desk(d, r, w, h, _flat((0.3, 0.22, 0.16))),
    "desk_light": lambda d, r, w, h: _desk(d, r, w, h, _flat((0.97, 0.97, 0.97)), paper_colour=(0.78, 0.76, 0.7)),
    "desk_textured": lambda d, r, w, h: _desk(d, r, w, h, wood),
    "hard_shadow": lambda d, r, w, h: _jpeg_of(_plain(d, r, w, h, light=lambda h, w, r: shadow(h, w, r, 0.55)), r),
    "gradient": lambda d, r, w, h: _jpeg_of(_plain(d, r, w, h, light=lambda h, w, r: gradient(h, w, r, 0.35)), r),
    "ruled": lambda d, r, w, h: _lined(d, r, w, h, horizontal=True, vertical=False, margin=True),
    "squared": lambda d, r, w, h: _lined(d, r, w, h, horizontal=True, vertical=True, margin=False),
    # Everyday conditions together: a ruled or squared sheet on a desk, turned, in uneven light.
    "desk_ruled": lambda d, r, w, h: _desk(d, r, w, h, wood, lines=(True, False, True)),
    "desk_squared": lambda d, r, w, h: _desk(d, r, w, h, _flat((0.3, 0.22, 0.16)), lines=(True, True, False)),
    # ... and a hard shadow across sheet and desk, on a desk darker than the shadowed paper.
    "desk_squared_shadow": lambda d, r, w, h: _desk(d, r, w, h, _flat((0.3, 0.22, 0.16)), lines=(True, True, False),
                                                    darkness=0.4),
    "pencil_faint": lambda d, r, w, h: _jpeg_of(_plain(d, r, w, h, ink=(0.35, 0.35, 0.37), strength=0.55), r),
    "ballpoint_thin": lambda d, r, w, h: _jpeg_of(_plain(d, r, w, h, ink=BLUE, pen_width=0.04), r),
    "marker_thick": lambda d, r, w, h: _jpeg_of(_plain(d, r, w, h, ink=(0.05, 0.05, 0.05), pen_width=0.2), r),
    "small_digit": _small,
    "scan": lambda d, r, w, h: encode(_gray(_plain(d, r, w, h, size=(0.3, 0.6)))),
    "light_on_dark": lambda d, r, w, h: encode(255 - _gray(_plain(d, r, w, h, size=(0.3, 0.6)))),
    "chalkboard": _chalkboard,
    "blue_ink": lambda d, r, w, h: _jpeg_of(_plain(d, r, w, h, ink=BLUE), r),
    "transparent": _transparent,
    "exif_rotated": _exif,
    "sketchpad": _sketchpad,
}


# Not read reliably yet (benchmarks/photos.py prints it apart): a hard shadow across a sheet on a wooden desk. The
# shadowed paper is as dark as the lit wood, so the sheet is found only where the light falls.
HARD: dict[str, Callable[[np.ndarray, Rng, int, int], bytes | np.ndarray]] = {
    "desk_ruled_shadow": lambda d, r, w, h: _desk(d, r, w, h, wood, lines=(True, False, True), darkness=0.4),
}


def make(condition: str, digit: np.ndarray, seed: int, width: int, height: int) -> bytes | np.ndarray:
    """One picture of `digit` (28x28 uint8) under `condition`: file bytes, or an RGBA array for "sketchpad"."""
    return (CONDITIONS | HARD)[condition](digit, np.random.default_rng(seed), width, height)


# --- the judge -----------------------------------------------------------------------------------


def blurred(image: np.ndarray) -> np.ndarray:
    """A 28x28 picture, slightly blurred: the same digit in another pen still matches."""
    return cv2.GaussianBlur(np.asarray(image, np.float32), (5, 5), 1.0)


def judged(digit: torch.Tensor | ImageError, source: np.ndarray) -> float:
    """match() of what was read with its source digit; -1 when no digit was found (a miss, like a wrong digit)."""
    return -1.0 if isinstance(digit, ImageError) else match(digit.numpy(), source)


def match(digit: np.ndarray, source: np.ndarray) -> float:
    """Correlation of the blurred pictures after the best shift by at most one pixel."""
    target = blurred(source).ravel()
    image = blurred(np.asarray(digit))
    return max(float(np.corrcoef(np.roll(image, (dy, dx), axis=(0, 1)).ravel(), target)[0, 1])
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))
