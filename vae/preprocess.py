"""Turn any user image (upload, photo or scan of a digit, Sketchpad drawing) into MNIST input.

MNIST digits were made like this (LeCun et al.): size-normalised to fit a 20x20 box keeping
the aspect ratio, anti-aliased (grey levels), then placed in a 28x28 field so that their centre
of mass sits at the centre. White ink on black. This module reproduces that from arbitrary
images, after undoing what MNIST never had: colour, transparency, dark-on-light paper, uneven
lighting, sensor noise, specks, huge canvases with 1-px strokes.

Centre convention: in pixel-index coordinates (row/column 0..27) real MNIST digits have their
centre of mass at (14.0, 14.0) on average (measured on the test set: 13.99, 14.01), not at the
geometric centre 13.5, so `CENTRE = 14.0` here. Shifts are whole pixels, as LeCun's were.
"""

import io
import math
import os
from collections import deque
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS: int = 40_000_000  # decoded pixel cap; a 40 MP photo is the largest we expect
MIN_SIDE: int = 8  # below this a digit has no recognisable shape
ACCEPTED_FORMATS = "PNG, JPEG, GIF, BMP, WebP or TIFF"
# Pillow's JPEG opener also opens MPO, the multi-picture JPEGs some phone cameras write.
_PIL_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")

MNIST_SIDE = 28
BOX_SIDE = 20  # MNIST digits are scaled to fit 20x20, leaving a 4-px margin
CENTRE = 14.0  # where MNIST's centre of mass is, in row/column index coordinates
# MNIST pen widths in 28x28 pixels by _stroke_width (ink > 0.5): median 1.8, 5th percentile 1.2.
# Strokes thinner than nearly all of MNIST's are widened to its typical width.
PEN_WIDTH = 1.8
_THIN_PEN = 1.2
_WORK_SIDE = 1024  # inputs are box-reduced to about this first: bounded time and memory
_MIN_CONTRAST = 0.1  # ink must differ from the background by 10% of full scale
_SPECK_FRACTION = 0.03  # ink blobs smaller than 3% of all ink are specks, not strokes
_SPECK_GRID = 64  # specks are found on a max-pooled grid of at most this many cells a side

# Pillow's own bomb guard, at our cap: it warns above MAX_PIXELS and refuses above twice that.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageError(ValueError):
    """A user image that cannot be turned into a digit; the message is shown to the user as is."""


def open_image(source: str | os.PathLike | bytes) -> Image.Image:
    """Open an uploaded file safely (path or raw bytes) and return a loaded single-frame image."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode(io.BytesIO(source))
    try:
        with open(source, "rb") as fp:
            return _decode(fp)
    except OSError as exc:  # missing file, directory, permissions: not the user's image's fault
        raise ImageError("The uploaded file could not be read. Please upload it again.") from exc


def to_grayscale(image: Image.Image) -> np.ndarray:
    """Float32 array in [0, 1], ink bright on dark (MNIST polarity)."""
    image = _work_size(_plain_mode(_upright(image)))
    gray, alpha = _gray_and_alpha(image)
    return _ink_bright(_composite(gray, alpha)).astype(np.float32)


def to_mnist(image: Image.Image | np.ndarray, box: int = BOX_SIDE) -> torch.Tensor:
    """28x28 float32 tensor in [0, 1], white digit on black, MNIST-normalised.

    `box` is the square the object is scaled to fit: 20 for MNIST digits; Fashion-MNIST's
    items fill the whole 28x28 frame.
    """
    if isinstance(image, np.ndarray):
        image = _array_to_image(image)
    _check_size(image.size)
    ink = _crop(_drop_specks(_clean(to_grayscale(image))))
    return torch.from_numpy(_centre(_fit_box(ink, box)).astype(np.float32))


def load_digit(source: str | os.PathLike | bytes, box: int = BOX_SIDE) -> torch.Tensor:
    """open_image + to_mnist."""
    return to_mnist(open_image(source), box)


# --- opening -------------------------------------------------------------------------------


def _decode(fp: BinaryIO) -> Image.Image:
    """Decode the first frame of an accepted image file, refusing bombs before decoding."""
    if not fp.read(1):
        raise ImageError("The file is empty. Please upload an image of a digit.")
    fp.seek(0)
    try:
        # Image.open only reads the header, so the size check below runs before any pixel
        # memory is allocated; load() is inside the try so truncated data is reported here.
        with Image.open(fp, formats=_PIL_FORMATS) as image:
            _check_size(image.size)
            image.load()
            return _upright(image)
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        fp.seek(0)
        raise ImageError(_not_an_image(fp.read(1024))) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(_too_large_message()) from exc
    except Exception as exc:  # decoders raise OSError, SyntaxError, ValueError, zlib.error...
        raise ImageError(
            "The image file is damaged or incomplete (was the upload cut off?). "
            "Please save it again or upload another image."
        ) from exc


def _check_size(size: tuple[int, int]) -> None:
    """Refuse images too small to hold a digit or too large to decode safely."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise ImageError(_too_large_message(size))
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"The image is too small ({width}x{height} pixels); it must be at least "
            f"{MIN_SIDE}x{MIN_SIDE} pixels. Please upload a larger image of a digit."
        )


def _too_large_message(size: tuple[int, int] | None = None) -> str:
    """The message for images over MAX_PIXELS, with their size when known."""
    given = f" ({size[0]}x{size[1]} pixels)" if size else ""
    return (
        f"The image is too large{given}; the limit is {MAX_PIXELS / 1e6:g} million pixels. "
        "Please upload a smaller image."
    )


def _not_an_image(head: bytes) -> str:
    """Say what a non-image upload looks like, and which formats are accepted."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()  # BOM and whitespace before markup
    if start.startswith(b"%pdf"):
        kind = "a PDF document"
    elif start.startswith((b"pk\x03\x04", b"pk\x05\x06")):
        kind = "a ZIP archive or Office document"
    elif b"<svg" in start:
        kind = "an SVG drawing (vector images are not supported)"
    elif head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        kind = "a HEIC/AVIF photo; please export it as JPEG"
    elif start.startswith((b"<?xml", b"<!doctype", b"<html")):
        kind = "an XML or HTML document"
    elif _is_text(head):
        kind = "a text file"
    else:
        kind = "a file in a format we do not read"
    return f"This file is not an image ({kind}). Please upload a {ACCEPTED_FORMATS} image."


def _is_text(head: bytes) -> bool:
    """Whether the first bytes decode as printable UTF-8 text."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:  # may also be a multi-byte character cut at the end
        text = head[:-4].decode("utf-8", errors="replace")
        if "\ufffd" in text:
            return False
    return bool(text) and all(ch.isprintable() or ch in "\t\r\n" for ch in text)


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (phone photos), returning a copy detached from its file."""
    # exif_transpose drops the orientation tag from its result, so applying it twice is safe.
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a malformed EXIF block should not cost the user a good image
        return image.copy()


# --- colour, transparency, polarity ----------------------------------------------------------


def _array_to_image(array: np.ndarray) -> Image.Image:
    """PIL image from a Gradio array: HxW, HxWx1..4 uint8, or HxW of any real dtype."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    if array.dtype == np.uint8 and (array.ndim == 2 or (array.ndim == 3 and array.shape[2] <= 4)):
        return Image.fromarray(np.ascontiguousarray(array))
    if array.ndim == 2 and (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        return Image.fromarray(array.astype(np.float32))  # mode F: scaled by its real range
    raise ImageError(
        f"Unsupported image data (array of shape {array.shape}, type {array.dtype}). Please upload a normal image file."
    )


def _plain_mode(image: Image.Image) -> Image.Image:
    """Reduce Pillow's many modes to L, LA, RGB, RGBA, I or F."""
    mode = image.mode
    if mode.startswith("I;16"):
        return image.convert("I")  # Pillow's reduce() and numpy handle 32-bit I directly
    if mode in ("I", "F") or (mode in ("L", "LA", "RGB", "RGBA") and "transparency" not in image.info):
        return image
    if mode in ("P", "PA", "La", "RGBa") or "transparency" in image.info:
        # Palette and single-colour transparency (tRNS, GIF) become a real alpha channel.
        has_alpha = mode in ("PA", "La", "RGBa") or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode == "1":
        return image.convert("L")
    return image.convert("RGB")  # CMYK, YCbCr, RGBX, HSV, LAB...


def _work_size(image: Image.Image) -> Image.Image:
    """Box-reduce huge images to about _WORK_SIDE a side (area averaging keeps thin strokes)."""
    factor = math.ceil(max(image.size) / _WORK_SIDE)
    factor = min(factor, min(image.size) // MIN_SIDE)  # never reduce below MIN_SIDE
    return image.reduce(factor) if factor > 1 else image


def _gray_and_alpha(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Luminance in [0, 1] and the alpha channel in [0, 1] (None when the image is opaque)."""
    if image.mode in ("I", "F"):
        return _range_scaled(np.asarray(image, dtype=np.float64)), None
    alpha = None
    if image.mode in ("LA", "RGBA"):
        alpha = np.asarray(image.getchannel("A"), dtype=np.float32) / 255
    gray = np.asarray(image.convert("L"), dtype=np.float32) / 255  # ITU-R 601 luma
    return gray, alpha


def _range_scaled(values: np.ndarray) -> np.ndarray:
    """Scale 16-bit, 32-bit or float data by its actual range; NaN and infinities become 0."""
    # A 12-bit scan in a 16-bit file uses 1/16 of the type's range, so the type range is wrong.
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape, np.float32)
    low, high = values[finite].min(), values[finite].max()
    if high == low:
        return np.zeros(values.shape, np.float32)
    return np.where(finite, (values - low) / (high - low), 0.0).astype(np.float32)


def _composite(gray: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Flatten transparency onto the background that contrasts with the opaque pixels."""
    if alpha is None:
        return gray
    coverage = float(alpha.sum())
    if coverage == 0:
        return np.zeros_like(gray)  # fully transparent: nothing drawn
    # Sketchpad strokes are dark on a transparent canvas: they need a light background.
    ink_level = float((gray * alpha).sum()) / coverage
    background = 1.0 if ink_level < 0.5 else 0.0
    return alpha * gray + (1 - alpha) * background


def _ink_bright(gray: np.ndarray) -> np.ndarray:
    """Invert dark-on-light images so that ink is brighter than the background, as in MNIST."""
    background = float(np.median(_border(gray)))
    deviation = gray - background
    peak = float(np.abs(deviation).max())
    if peak == 0:
        return gray
    # The ink is the strong deviation from the background; its sign gives the polarity.
    # Comparing with the background (not with 0.5) also handles dim paper in a dark photo.
    strong = deviation[np.abs(deviation) >= peak / 2]
    return 1 - gray if strong.sum() < 0 else gray


def _border(values: np.ndarray) -> np.ndarray:
    """The pixels of the outer ring, where the background usually is."""
    return values[_border_mask(values.shape)]


def _border_mask(shape: tuple[int, ...]) -> np.ndarray:
    """The outer ring of an image, about 2% of its smaller side wide."""
    width = max(1, min(shape) // 50)
    mask = np.ones(shape, bool)
    mask[width:-width, width:-width] = False
    return mask


# --- cleaning --------------------------------------------------------------------------------


def _blank() -> ImageError:
    """The error for images without a digit."""
    return ImageError("No digit found: the image looks blank. Please draw or upload a digit.")


def _clean(gray: np.ndarray) -> np.ndarray:
    """Remove the paper level and weak noise, and rescale so strokes reach 1.0."""
    ink = np.clip(gray - _background(gray), 0, None)
    if ink.max() < _MIN_CONTRAST:
        raise _blank()
    threshold = _otsu(ink)
    # Noise floor: what the border reaches (paper grain, JPEG noise), but never so high that
    # it eats the anti-aliased edges of the strokes.
    floor = min(float(np.percentile(_border(ink), 95)), threshold / 2)
    level = float(np.median(ink[ink > threshold]))  # a typical stroke pixel becomes 1.0
    if level <= floor:
        level = float(ink.max())
    return np.clip((ink - floor) / (level - floor), 0, 1)


def _background(gray: np.ndarray) -> np.ndarray:
    """Paper level under uneven light: a quadratic surface fitted to the border pixels."""
    # The border is where the paper shows; a smooth surface fitted there cannot eat into
    # strokes however thick they are, unlike a local minimum or median filter would.
    height, width = gray.shape
    rows, cols = np.nonzero(_border_mask(gray.shape))
    y, x = rows / max(height - 1, 1) * 2 - 1, cols / max(width - 1, 1) * 2 - 1
    basis = np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1)
    values = gray[rows, cols].astype(np.float64)
    paper = np.ones(values.shape, bool)
    for _ in range(3):  # refit without the ink that touches the border (it lies above)
        kept = basis[paper]  # normal equations: a 6x6 solve, far cheaper than lstsq on all
        coef = np.linalg.lstsq(kept.T @ kept, kept.T @ values[paper], rcond=None)[0]
        residual = values - basis @ coef
        spread = 1.4826 * np.median(np.abs(residual[paper] - np.median(residual[paper])))
        paper = residual <= np.median(residual[paper]) + 3 * spread + 0.01
    y, x = np.linspace(-1, 1, height)[:, None], np.linspace(-1, 1, width)[None, :]
    surface = coef[0] + coef[1] * x + coef[2] * y + coef[3] * x * x + coef[4] * y * y
    surface = surface + coef[5] * x * y
    # Never extrapolate beyond the paper levels actually seen on the border.
    return np.clip(surface, values[paper].min(), values[paper].max()).astype(np.float32)


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold: the level that best separates ink from background in a histogram."""
    counts, edges = np.histogram(values, bins=256, range=(0, float(values.max())))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(counts * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_low = sum_low / weight_low
        mean_high = (sum_low[-1] - sum_low) / weight_high
        between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(centres[np.nanargmax(between[:-1])])


def _drop_specks(ink: np.ndarray) -> np.ndarray:
    """Erase small isolated blobs (dust, noise), keeping every stroke fragment of the digit."""
    lone = _lone_pixels(ink > 0.5)
    ink = np.where(lone, 0.0, ink)
    cell = max(1, math.ceil(max(ink.shape) / _SPECK_GRID))
    strong = _max_pool(ink > 0.5, cell)  # on a coarse grid, thin strokes stay connected
    labels, sizes = _label(strong)
    least = min(_SPECK_FRACTION * sum(sizes), max(sizes, default=0))  # the largest blob stays
    keep_ids = [i for i, size in enumerate(sizes, 1) if size >= least]
    keep = _max_filter(np.isin(labels, keep_ids), 3)  # plus a cell for anti-aliased edges
    keep = np.repeat(np.repeat(keep, cell, axis=0), cell, axis=1)[: ink.shape[0], : ink.shape[1]]
    return np.where(keep, ink, 0.0)


def _lone_pixels(strong: np.ndarray) -> np.ndarray:
    """Ink pixels with fewer than two ink neighbours: salt noise (every stroke pixel has two)."""
    height, width = strong.shape
    padded = np.pad(strong, 1).astype(np.uint8)
    neighbours = sum(padded[r : r + height, c : c + width] for r in range(3) for c in range(3)) - strong
    return strong & (neighbours < 2)


def _label(mask: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """8-connected components of a small boolean grid: label image (0 = none) and sizes."""
    labels = np.zeros(mask.shape, np.int32)
    sizes: list[int] = []
    rows, cols = mask.shape
    for start in zip(*np.nonzero(mask), strict=True):
        if labels[start]:
            continue
        sizes.append(0)
        labels[start] = len(sizes)
        queue = deque([start])
        while queue:
            r, c = queue.popleft()
            sizes[-1] += 1
            for nr in range(max(r - 1, 0), min(r + 2, rows)):
                for nc in range(max(c - 1, 0), min(c + 2, cols)):
                    if mask[nr, nc] and not labels[nr, nc]:
                        labels[nr, nc] = len(sizes)
                        queue.append((nr, nc))
    return labels, sizes


def _crop(ink: np.ndarray) -> np.ndarray:
    """The bounding box of the ink."""
    rows = np.flatnonzero(ink.max(axis=1) > 0)
    cols = np.flatnonzero(ink.max(axis=0) > 0)
    if rows.size == 0 or max(rows[-1] - rows[0], cols[-1] - cols[0]) < 2:
        raise _blank()  # nothing, or a dot: no digit to scale up
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


# --- size normalisation and centring ----------------------------------------------------------


def _fit_box(ink: np.ndarray, box: int) -> np.ndarray:
    """Scale the cropped digit to fit box x box, keeping aspect ratio and pen width."""
    # Max-pool big crops to 4-8x the box first: a 1-px stroke keeps full intensity instead of
    # being averaged away, and the thickening below stays cheap.
    factor = max(1, max(ink.shape) // (4 * box))
    ink = _thicken(_max_pool(ink, factor) if factor > 1 else ink, box)
    height, width = ink.shape
    scale = box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Shrinking by area averaging is how NIST's binary digits got MNIST's grey edges;
    # enlarging small inputs needs an interpolating filter instead.
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.LANCZOS
    fitted = np.asarray(Image.fromarray(ink.astype(np.float32)).resize(size, resample))
    return np.clip(fitted, 0, 1)


def _thicken(ink: np.ndarray, box: int) -> np.ndarray:
    """Dilate strokes that would end up thinner than MNIST's pen once scaled to the box."""
    pixels_per_box_pixel = max(ink.shape) / box
    width = _stroke_width(ink > 0.5)
    if width >= _THIN_PEN * pixels_per_box_pixel:
        return ink  # as thick as MNIST's pens (or thicker): leave the writer's style alone
    grow = 2 * round((PEN_WIDTH * pixels_per_box_pixel - width) / 2)  # even: both sides alike
    if grow < 2:
        return ink
    padded = np.pad(ink, grow // 2)  # room to grow past the crop edges
    return _max_filter(padded, grow + 1)


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width: twice the area over the perimeter (a band of width w: 2wL / 2L)."""
    padded = np.pad(mask, 1)
    perimeter = (padded[:, 1:] != padded[:, :-1]).sum() + (padded[1:] != padded[:-1]).sum()
    return 2 * float(mask.sum()) / max(int(perimeter), 1)


def _max_pool(values: np.ndarray, factor: int) -> np.ndarray:
    """Maximum over factor x factor blocks (the edge is padded with zeros)."""
    rows, cols = (-(-n // factor) * factor for n in values.shape)
    padded = np.zeros((rows, cols), values.dtype)
    padded[: values.shape[0], : values.shape[1]] = values
    return padded.reshape(rows // factor, factor, cols // factor, factor).max(axis=(1, 3))


def _max_filter(values: np.ndarray, size: int) -> np.ndarray:
    """Grey dilation with a size x size square (odd size), same shape, separable."""
    half = size // 2
    out = values
    for axis in (0, 1):
        padded = np.pad(out, [(half, half) if a == axis else (0, 0) for a in (0, 1)])
        length = out.shape[axis]
        out = np.max([padded.take(range(i, i + length), axis=axis) for i in range(size)], axis=0)
    return out


def _centre(fitted: np.ndarray) -> np.ndarray:
    """Paste into 28x28 with the centre of mass at CENTRE, by a whole-pixel shift as LeCun did."""
    height, width = fitted.shape
    mass = fitted.sum()
    com_row = float((fitted.sum(axis=1) * np.arange(height)).sum() / mass)
    com_col = float((fitted.sum(axis=0) * np.arange(width)).sum() / mass)
    # Clamped so a lopsided digit is never cut off; that costs at most a little centring.
    top = min(max(round(CENTRE - com_row), 0), MNIST_SIDE - height)
    left = min(max(round(CENTRE - com_col), 0), MNIST_SIDE - width)
    canvas = np.zeros((MNIST_SIDE, MNIST_SIDE), np.float32)
    canvas[top : top + height, left : left + width] = fitted
    return canvas
