"""Pixel probabilities to pictures: single digits, grids and animated GIFs (PIL, no UI code)."""

import io

import numpy as np
import torch
from PIL import Image
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
