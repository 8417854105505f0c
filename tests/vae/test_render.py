"""Pictures from pixel probabilities: crisp upscaled digits, grids, and animated GIFs."""

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence
from torch import Tensor

from vae.render import BOX_COLOUR, boxed_thumbnail, gif_bytes, grid_image, make_grid, to_image


def random_probs(*shape: int, seed: int = 0) -> Tensor:
    """Pixel probabilities in [0, 1]."""
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def as_bytes(probs: Tensor) -> np.ndarray:
    """The uint8 pixel values to_image should write for probabilities (clamped, rounded half up)."""
    return np.floor(probs.clamp(0, 1).squeeze().numpy() * 255 + 0.5).astype(np.uint8)


@pytest.mark.parametrize("shape", [(1, 28, 28), (28, 28)])
def test_to_image_at_scale_one_keeps_every_pixel(shape: tuple[int, ...]) -> None:
    probs = random_probs(*shape)
    image = to_image(probs)
    assert image.mode == "L" and image.size == (28, 28)
    np.testing.assert_array_equal(np.asarray(image), as_bytes(probs))


def test_to_image_clamps_values_outside_zero_one() -> None:
    probs = torch.linspace(-1, 2, 28 * 28).view(28, 28)
    pixels = np.asarray(to_image(probs))
    assert pixels.min() == 0 and pixels.max() == 255
    np.testing.assert_array_equal(pixels, as_bytes(probs))


@pytest.mark.parametrize("scale", [2, 8])
def test_to_image_upscales_each_pixel_to_a_flat_block(scale: int) -> None:
    probs = random_probs(1, 28, 28, seed=scale)
    image = to_image(probs, scale)
    assert image.mode == "L" and image.size == (28 * scale, 28 * scale)
    blocks = np.asarray(image).reshape(28, scale, 28, scale)  # (row, y in block, column, x in block)
    np.testing.assert_array_equal(blocks, np.broadcast_to(as_bytes(probs)[:, None, :, None], blocks.shape))


def tile(grid: Tensor, index: int, nrow: int, side: int, pad: int) -> Tensor:
    """The tile at `index` (left to right, top to bottom) of a make_grid result."""
    r, c = divmod(index, nrow)
    top, left = pad + r * (side + pad), pad + c * (side + pad)
    return grid[:, top : top + side, left : left + side]


@pytest.mark.parametrize(("n", "nrow", "pad"), [(5, 3, 2), (4, 4, 0), (1, 1, 3)])
def test_make_grid_places_images_left_to_right_then_down(n: int, nrow: int, pad: int) -> None:
    side = 28
    probs = random_probs(n, 1, side, side)
    grid = make_grid(probs, nrow, pad)
    rows = -(-n // nrow)
    assert grid.shape == (1, rows * (side + pad) + pad, nrow * (side + pad) + pad)
    covered = torch.zeros_like(grid, dtype=torch.bool)
    for i in range(n):
        assert torch.equal(tile(grid, i, nrow, side, pad), probs[i])
        tile(covered, i, nrow, side, pad).fill_(True)
    # everything that is not a tile (gaps, empty slots in the last row) is the grey background
    assert torch.all(grid[~covered] == 0.25)


def test_grid_image_is_the_grid_as_a_picture() -> None:
    probs = random_probs(6, 1, 28, 28)
    image = grid_image(probs, nrow=3, scale=2)
    grid = make_grid(probs, 3)
    assert image.size == (grid.shape[2] * 2, grid.shape[1] * 2)
    np.testing.assert_array_equal(np.asarray(image)[::2, ::2], as_bytes(grid))


@pytest.mark.parametrize("n_frames", [2, 5])
def test_gif_plays_forward_then_backward_and_loops(n_frames: int) -> None:
    levels = torch.linspace(0.1, 0.9, n_frames)
    frames = levels.view(-1, 1, 1, 1).expand(n_frames, 1, 28, 28).clone()  # frame i is a flat grey level
    data = gif_bytes(frames, scale=3, ms_per_frame=80)
    gif = Image.open(io.BytesIO(data))
    assert gif.format == "GIF" and gif.is_animated
    assert gif.n_frames == 2 * n_frames - 2
    assert gif.info["loop"] == 0 and gif.info["duration"] == 80
    assert gif.size == (28 * 3, 28 * 3)
    shown = [int(np.asarray(frame.convert("L")).mean().round()) for frame in ImageSequence.Iterator(gif)]
    expected = [int(v) for v in as_bytes(levels)]
    assert shown == expected + expected[-2:0:-1]


def test_a_small_picture_is_boxed_enlarged_with_crisp_pixels() -> None:
    """A 28x28 example is shown at the thumbnail's size, each pixel a square block, the box around its ink."""
    picture = Image.new("L", (28, 28), 0)
    picture.paste(255, (10, 6, 18, 22))
    thumb = boxed_thumbnail(picture, (10, 6, 18, 22), side=280)
    assert thumb.size == (280, 280)
    pixels = np.asarray(thumb)
    assert (pixels[100:140, 120:160] == 255).all()  # inside the ink, away from the box's outline: pure white blocks
    assert (pixels[10:50, 10:50] == 0).all()
    outline = np.all(pixels == BOX_COLOUR, axis=-1)
    rows, cols = np.nonzero(outline)
    assert abs(rows.min() - 60) <= 3 and abs(rows.max() - 220) <= 3
    assert abs(cols.min() - 100) <= 3 and abs(cols.max() - 180) <= 3
