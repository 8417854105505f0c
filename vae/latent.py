"""Operations in latent space: sampling, decoding, interpolation, traversals, ranking and scoring.

A traversal is the standard picture of what each latent dimension does: row r of the grid starts from one
code and moves latent dimension dims[r] alone across [-span, +span]; every other dimension keeps its value.
"""

import math

import torch
from torch import Tensor

from vae.model import VAE

SEED_SPAN = 2**64  # torch's generators take 64-bit seeds, a negative one as this much more: a seed is taken modulo it


def prior_sample(n: int, latent_dim: int, temperature: float = 1.0, seed: int | None = None) -> Tensor:
    """n codes from N(0, temperature^2 I); a seed, any whole number, makes the draw repeatable."""
    gen = torch.Generator().manual_seed(seed % SEED_SPAN) if seed is not None else None
    return temperature * torch.randn((n, latent_dim), generator=gen)


@torch.no_grad()
def decode_probs(model: VAE, z: Tensor, y: Tensor | None = None) -> Tensor:
    """Latent codes (N, D) -> pixel probabilities (N, 1, 28, 28)."""
    return torch.sigmoid(model.decode(z, y))


@torch.no_grad()
def sample_probs(model: VAE, draws: Tensor, temperature: float = 1.0, y: Tensor | None = None) -> Tensor:
    """Samples from the model, from standard-normal `draws` (N, config.noise_dim): z = T * the first latent_dim,
    then a hierarchy's z1 = E[z1|z] + T * sd(z1|z) * the rest (each layer drawn, the temperature on every layer as in
    NVAE). Pixel probabilities (N, 1, 28, 28)."""
    d = model.config.latent_dim
    z = temperature * draws[:, :d]
    if not model.config.lower_dim:
        return decode_probs(model, z, y)
    mean, logvar = model.lower_prior(z, y)
    return torch.sigmoid(model.decode_lowest(mean + temperature * torch.exp(0.5 * logvar) * draws[:, d:], y))


@torch.no_grad()
def decode_posterior_mean(model: VAE, x: Tensor, mu: Tensor, y: Tensor | None = None, h: Tensor | None = None
                          ) -> Tensor:
    """Images x (N, 1, 28, 28) redrawn from their posterior means mu (N, D): pixel probabilities (N, 1, 28, 28).

    A two-layer model's lower layer takes its posterior mean E[z1|x, mu], which reads the image (through its encoder
    features `h`, computed here if not given), rather than its prior mean E[z1|mu], which `decode_probs` takes for a
    code alone.
    """
    if not model.config.lower_dim:
        return decode_probs(model, mu, y)
    h = model.encoder_state(x, y) if h is None else h
    return torch.sigmoid(model.decode_lowest(model.lower_posterior(h, mu, y)[0], y))


def lerp(z0: Tensor, z1: Tensor, steps: int) -> Tensor:
    """`steps` codes on the straight line from z0 to z1, endpoints included: (steps, D)."""
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    return (1 - t) * z0 + t * z1


def slerp(z0: Tensor, z1: Tensor, steps: int) -> Tensor:
    """Spherical interpolation: the angle moves linearly and the norm from |z0| to |z1|.

    Under a Gaussian prior most mass sits on a shell of radius ~sqrt(D); a straight line
    cuts through the low-norm middle, where decodings look washed out.
    """
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    n0, n1 = z0.norm(), z1.norm()
    u0, u1 = z0 / n0.clamp_min(1e-12), z1 / n1.clamp_min(1e-12)
    cos = (u0 * u1).sum().clamp(-1, 1)  # compared directly: arccos is ill-conditioned near +-1
    omega = torch.arccos(cos)
    if cos > 1 - 1e-6:  # same direction: only the norm changes
        return u0 * ((1 - t) * n0 + t * n1)
    if cos < -1 + 1e-6:  # opposite directions: any great half-circle will do; take one through an axis
        axis = torch.zeros_like(u0)
        axis[u0.abs().argmin()] = 1.0
        u1 = axis - (axis * u0).sum() * u0  # perpendicular to u0: the path goes round through it
        u1, omega = u1 / u1.norm(), torch.tensor(torch.pi)
        direction = torch.cos(t * omega) * u0 + torch.sin(t * omega) * u1
    else:
        direction = (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) / torch.sin(omega)
    return direction * ((1 - t) * n0 + t * n1)


def interpolate(z0: Tensor, z1: Tensor, steps: int, method: str = "linear") -> Tensor:
    """lerp or slerp by name."""
    if method not in ("linear", "spherical"):
        raise ValueError(f"method must be 'linear' or 'spherical', got {method!r}")
    return (lerp if method == "linear" else slerp)(z0, z1, steps)


def rank_dimensions(kl_per_dim: list[float]) -> list[int]:
    """Latent dimensions from most to least informative (highest mean KL on the test set first)."""
    return sorted(range(len(kl_per_dim)), key=lambda d: -kl_per_dim[d])


def gaussian_grid(n: int, latent_dim: int = 2) -> Tensor:
    """n x n codes on a grid of standard-normal quantiles (Kingma & Welling's manifold figure).

    Quantiles rather than even spacing, so each cell covers equal prior mass.
    Rows run top to bottom from high to low z2, columns left to right over z1.
    """
    p = torch.linspace(0.5 / n, 1 - 0.5 / n, n)
    q = math.sqrt(2) * torch.erfinv(2 * p - 1)
    z1, z2 = torch.meshgrid(q, q.flip(0), indexing="xy")
    grid = torch.zeros(n * n, latent_dim)
    grid[:, 0], grid[:, 1] = z1.flatten(), z2.flatten()
    return grid


def percentile(score: float, sorted_scores: Tensor) -> float:
    """Share of reference scores (ascending) that are at or below `score`, in percent."""
    rank = torch.searchsorted(sorted_scores, torch.tensor([score], dtype=sorted_scores.dtype), right=True)
    return 100.0 * float(rank) / len(sorted_scores)

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
