"""Pixels to pictures: digits, grids and animated GIFs, and an upload with its digit boxed (PIL, no UI code)."""

import io

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor


def to_image(probs: Tensor, scale: int = 1) -> Image.Image:
    """A (1, 28, 28) or (28, 28) tensor in [0, 1] -> grayscale PIL image, upscaled by pixel repetition.

    Nearest-neighbour upscaling keeps the 28x28 pixels crisp; a browser's smooth
    scaling would blur a small image into mush.
    """
    arr = (probs.detach().float().clamp(0, 1).squeeze().cpu().numpy() * 255 + 0.5).astype(np.uint8)
    image = Image.fromarray(arr, mode="L")
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST) if scale > 1 else image


def make_grid(probs: Tensor, nrow: int, pad: int = 2) -> Tensor:
    """(N, 1, H, W) -> one (1, rows*(H+pad)+pad, nrow*(W+pad)+pad) tensor, images left to right."""
    n, _, h, w = probs.shape
    rows = -(-n // nrow)
    grid = torch.full((1, rows * (h + pad) + pad, nrow * (w + pad) + pad), 0.25)
    for i, img in enumerate(probs.detach().cpu()):
        r, c = divmod(i, nrow)
        grid[:, pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = img
    return grid


def grid_image(probs: Tensor, nrow: int, scale: int = 1) -> Image.Image:
    """make_grid, as a PIL image."""
    return to_image(make_grid(probs, nrow), scale)


def gif_bytes(frames: Tensor, scale: int = 4, ms_per_frame: int = 120) -> bytes:
    """(N, 1, H, W) frames -> an animated GIF that plays forward then backward, looping."""
    images = [to_image(f, scale) for f in frames]
    images = images + images[-2:0:-1]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)
    return buf.getvalue()


BOX_COLOUR = (255, 0, 160)  # magenta: stands out on white paper, dark desks, wood and blue ink alike


def boxed_thumbnail(picture: Image.Image, box: tuple[int, int, int, int] | None, side: int = 320) -> Image.Image:
    """A copy of `picture` about `side` px a side, with `box` (left, top, right, bottom in its pixels) drawn on it."""
    thumb = picture.convert("RGBA")
    factor = side // max(thumb.size)
    if factor > 1:  # a small picture (a 28x28 example) is shown enlarged, its pixels crisp
        thumb = thumb.resize((thumb.width * factor, thumb.height * factor), Image.Resampling.NEAREST)
    thumb.thumbnail((side, side), Image.Resampling.BOX)
    flat = Image.new("RGB", thumb.size, "white")  # transparent drawings show on white, as on the canvas
    flat.paste(thumb, mask=thumb.getchannel("A"))
    if box is None:
        return flat
    scale_x, scale_y = flat.width / picture.width, flat.height / picture.height
    left, top, right, bottom = box
    outline = [(left * scale_x - 3, top * scale_y - 3), (right * scale_x + 2, bottom * scale_y + 2)]
    ImageDraw.Draw(flat).rectangle(outline, outline=BOX_COLOUR, width=3)
    return flat
