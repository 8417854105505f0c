"""Open uploaded image files safely: formats, size and pixel limits, EXIF orientation, clear errors.

Importing this module changes no global state: the pixel limit is checked here, on the header,
before any pixel is decoded, rather than by setting Pillow's global MAX_IMAGE_PIXELS.
"""

import io
import os
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS: int = 40_000_000  # decoded pixel cap; a 40 MP photo is the largest we expect
MIN_SIDE: int = 8  # below this a digit has no recognisable shape
ACCEPTED_FORMATS = "PNG, JPEG, GIF, BMP, WebP or TIFF"
# Pillow's JPEG opener also opens MPO, the multi-picture JPEGs some phone cameras write.
_PIL_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")


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


def _decode(fp: BinaryIO) -> Image.Image:
    """Decode the first frame of an accepted image file, refusing bombs before decoding."""
    if not fp.read(1):
        raise ImageError("The file is empty. Please upload an image of a digit.")
    fp.seek(0)
    try:
        # Image.open only reads the header, so the size check below runs before any pixel
        # memory is allocated; load() is inside the try so truncated data is reported here.
        with Image.open(fp, formats=_PIL_FORMATS) as image:
            check_size(image.size)
            image.load()
            return upright(image)
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


def check_size(size: tuple[int, int]) -> None:
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


def upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (phone photos), returning a copy detached from its file."""
    # exif_transpose drops the orientation tag from its result, so applying it twice is safe.
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a malformed EXIF block should not cost the user a good image
        return image.copy()
