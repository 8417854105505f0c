"""A plain autoencoder beside the VAE with its network: where each puts the test digits, and what each makes of
random codes drawn from the prior N(0, I).

The VAE's KL term pulls its codes towards N(0, I), so random draws from N(0, I) land among the codes of every
class and decode to digits of every kind; a plain autoencoder (`train.py --autoencoder`) spreads its codes wherever
reconstruction is easiest, so the same draws cover only a small corner of its code space (docs/views.md, "Why a VAE?").
"""

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from vae.latent import decode_probs, prior_sample
from vae.loaded import LoadedModel
from vae.model import VAE

PRIOR_MASS = 0.95  # the circle drawn on the maps holds this share of N(0, I)


def prior_radius(mass: float = PRIOR_MASS) -> float:
    """The radius of the circle around 0 that holds `mass` of a 2-D standard normal (|z|^2 is exponential, mean 2)."""
    return math.sqrt(-2 * math.log(1 - mass))


@dataclass(frozen=True)
class MapWindow:
    """The square of code space one map shows: its centre and half its side, in units of z."""

    centre: tuple[float, float]
    half_side: float


def map_window(*codes: Tensor, share: float = 0.99) -> MapWindow:
    """One square window for every set of codes (N, 2), so their maps share one scale: it holds the middle `share`
    of each set's codes along each axis (a few stray codes do not widen it for the rest) and the prior's circle."""
    tail, r = (1 - share) / 2, prior_radius()
    bounds = torch.stack([torch.quantile(c.float(), torch.tensor([tail, 1 - tail]), dim=0) for c in codes])
    low, high = bounds[:, 0].min(0).values.clamp(max=-r), bounds[:, 1].max(0).values.clamp(min=r)
    return MapWindow(tuple(((low + high) / 2).tolist()), 0.55 * float((high - low).max()))  # a 10% margin


def pair(models: dict[str, LoadedModel]) -> tuple[str, str] | None:
    """A plain autoencoder and the VAE with its dataset and network, by name, or None when `models` lack one."""
    for ae in (m for m in models.values() if m.autoencoder):
        twin = next((m for m in models.values() if not m.autoencoder and m.dataset == ae.dataset
                     and m.model.config == ae.model.config), None)
        if twin is not None:
            return ae.name, twin.name
    return None


def prior_decodings(model: VAE, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """n codes (n, D) drawn from N(0, I) with `seed`, the same for every model with D latent dimensions, and the
    model's pixel probabilities for them (n, 1, 28, 28)."""
    if model.config.num_classes:
        raise ValueError("pick an unconditional model: a conditional one decodes a code only with a label")
    z = prior_sample(n, model.config.latent_dim, seed=seed)
    return z, decode_probs(model, z)


def stored_codes(loaded: LoadedModel) -> tuple[Tensor, Tensor]:
    """The codes of the test digits (N, D) and their labels (N,), as train.py stored them for a 2-D model."""
    if "test_mu" not in loaded.extras:
        raise ValueError(f"{loaded.name} holds no test codes: train.py stores them for a 2-D model only")
    return loaded.extras["test_mu"].float(), loaded.extras["test_labels"].long()


@dataclass(frozen=True)
class CodeSpread:
    """How a set of 2-D codes sits against the prior N(0, I)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    kl_to_prior: float  # nats: KL from the Gaussian with the codes' mean and covariance to N(0, I)
    inside_circle: float  # share of codes inside the circle that holds PRIOR_MASS of the prior


def code_spread(codes: Tensor) -> CodeSpread:
    """Mean, spread and KL to the prior of 2-D codes (N, 2): a KL near 0 when they were drawn from N(0, I) itself."""
    if codes.ndim != 2 or codes.shape[1] != 2 or len(codes) < 3:
        raise ValueError(f"expected at least 3 codes of 2 dimensions, shape (N, 2); got {tuple(codes.shape)}")
    codes = codes.double()
    mean, cov = codes.mean(0), torch.cov(codes.T)
    kl = 0.5 * (cov.trace() + mean @ mean - len(mean) - torch.logdet(cov))
    inside = (codes.norm(dim=1) <= prior_radius()).double().mean()
    return CodeSpread(tuple(mean.tolist()), tuple(cov.diagonal().sqrt().tolist()), float(kl), float(inside))
