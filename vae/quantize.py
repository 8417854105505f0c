"""8-bit copies of a Linear layer's weight: integers in [-127, 127] and one float32 scale per output row.

Plain rounding to the nearest step is visible in a decoder's pictures (docs/browser-decoder.md); GPTQ
(Frantar et al., 2022, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers")
rounds one input column at a time and moves each column's rounding error onto the columns not yet rounded,
weighted by how the layer's inputs vary together, so that the layer's outputs, not its weights, stay close.
"""

from collections.abc import Callable

import torch
from torch import Tensor, nn

LEVELS = 127  # symmetric: -127..127, so that -w rounds to -q
DAMPING = 0.01  # of the mean diagonal, added to the inputs' Gram matrix so that it can be inverted


def input_gram(layer: nn.Linear, run: Callable[[], object]) -> Tensor:
    """X^T X (float64) of the inputs `layer` sees while `run()` runs (e.g. a decode of many codes)."""
    grams: list[Tensor] = []

    def keep(_: nn.Module, args: tuple[Tensor, ...]) -> None:
        x = args[0].detach().double().flatten(0, -2)
        grams.append(x.T @ x)

    handle = layer.register_forward_pre_hook(keep)
    try:
        with torch.no_grad():
            run()
    finally:
        handle.remove()
    return torch.stack(grams).sum(0)


def row_scales(weight: Tensor) -> Tensor:
    """One float32 scale per output row: the row's largest |w| maps to LEVELS (an all-zero row gets 1)."""
    top = weight.detach().float().abs().amax(dim=1)
    return torch.where(top > 0, top / LEVELS, torch.ones_like(top))


def quantize_rows(weight: Tensor, gram: Tensor) -> tuple[Tensor, Tensor]:
    """A Linear weight (out, in) as (int8 (out, in), float32 scale (out,)), rounded by GPTQ against `gram`.

    Columns are rounded busiest input first (GPTQ's "act order"), so the columns rounded last, which take
    the accumulated corrections, are the inputs that matter least.
    """
    scale = row_scales(weight)
    order = torch.argsort(gram.diagonal(), descending=True)
    s, w = scale.double(), weight.detach().double()[:, order].clone()
    h = gram.double()[order][:, order].clone()
    diagonal = h.diagonal()
    diagonal += (diagonal == 0).double()  # an input that never fired: round its column alone
    diagonal += DAMPING * diagonal.mean()
    # Upper Cholesky factor of H^-1: row i holds how column i's error spreads over the columns after it.
    u = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    q = torch.empty_like(w)
    for i in range(w.shape[1]):
        q[:, i] = (w[:, i] / s).round().clamp(-LEVELS, LEVELS)
        error = (w[:, i] - q[:, i] * s) / u[i, i]
        w[:, i + 1 :] -= error[:, None] * u[None, i, i + 1 :]
    return q[:, torch.argsort(order)].to(torch.int8), scale


def dequantize_rows(q: Tensor, scale: Tensor) -> Tensor:
    """The float32 weight an 8-bit one stands for: q times its row's scale (as the page computes it)."""
    return q.float() * scale.float()[:, None]
