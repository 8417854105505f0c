"""Latent traversals: the standard picture of what each latent dimension does.

Row r of the grid starts from one code and moves latent dimension dims[r] alone across
[-span, +span]; every other dimension keeps its value.
"""

import torch
from torch import Tensor

from vae.latent import decode_probs
from vae.model import VAE

TRAVERSAL_SPAN = 3.0  # +-3 prior standard deviations, as the sliders
TRAVERSAL_STEPS = 7  # columns: -3, -2, ..., +3
TRAVERSAL_ROWS = 10  # dimensions shown by default, most informative first


def traversal_values(span: float = TRAVERSAL_SPAN, steps: int = TRAVERSAL_STEPS) -> Tensor:
    """The values a traversed dimension takes, left to right: (steps,)."""
    return torch.linspace(-span, span, steps)


def traversal_codes(z: Tensor, dims: list[int], values: Tensor) -> Tensor:
    """Codes of the grid, row by row: row r is z with dimension dims[r] set to each of `values`.

    z: (D,) or (1, D). Returns (len(dims) * len(values), D).
    """
    codes = z.reshape(1, 1, -1).repeat(len(dims), len(values), 1)
    codes[torch.arange(len(dims)), :, dims] = values
    return codes.flatten(0, 1)


def traversal(model: VAE, z: Tensor, dims: list[int], y: Tensor | None = None,
              values: Tensor | None = None) -> Tensor:
    """The decoded grid: (len(dims) * steps, 1, 28, 28) pixel probabilities, row by row.

    `y` is one label (shape (1,)) for a conditional model, used for every cell.
    """
    values = traversal_values() if values is None else values
    codes = traversal_codes(z, dims, values)
    return decode_probs(model, codes, None if y is None else y.expand(len(codes)))
