"""The negative ELBO, split into its terms, with the usual knobs against its failure modes.

A one-layer model's terms are the reconstruction -log p(x|z) and KL(q(z|x) || N(0, I)). A two-layer
hierarchy (vae.model, lower_dim > 0) adds the lower layer's KL(q(z1|x, z) || p(z1|z)), analytic given
the drawn z (Sonderby et al. 2016, eq. 10 with Gaussians on both sides), and its reconstruction reads z1.

All quantities are in nats. Per-image terms are summed over pixels / latent dimensions, so
numbers compare directly with the literature (MNIST VAEs sit around 80-105 nats).
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def reconstruction_nll(logits: Tensor, x: Tensor) -> Tensor:
    """-log p(x|z) under independent Bernoulli pixels, per image: shape (N,)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def kl_per_dim(mu: Tensor, logvar: Tensor) -> Tensor:
    """Analytic KL(q(z|x) || N(0, I)) for each image and latent dimension: shape (N, D)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def gaussian_kl_per_dim(mu: Tensor, logvar: Tensor, prior_mean: Tensor, prior_logvar: Tensor) -> Tensor:
    """Analytic KL(N(mu, exp(logvar)) || N(prior_mean, exp(prior_logvar))) per dimension: shape (N, D)."""
    return 0.5 * (prior_logvar - logvar + (logvar.exp() + (mu - prior_mean).pow(2)) / prior_logvar.exp() - 1.0)


@dataclass(frozen=True)
class LossConfig:
    """How the KL term is weighted during training (evaluation always uses the plain ELBO)."""

    beta: float = 1.0  # final KL weight; > 1 pushes towards disentangling, < 1 towards sharpness
    warmup_steps: int = 0  # KL weight rises linearly from 0 to beta over this many steps
    free_bits: float = 0.0  # nats per latent dimension that cost nothing, against posterior collapse
    lower_kl_floor: float = 0.0  # a hierarchy's lower layer: its KL weight starts here (of beta) in the warm-up


def kl_weight(step: int | Tensor, cfg: LossConfig) -> float | Tensor:
    """The KL weight at an optimisation step: a linear warm-up to beta.

    A step counted in a tensor (as a replayed CUDA graph counts them) gives the weight as a float32
    tensor: the same number, worked out in float64 as Python works out the float and then rounded
    as a float multiplying a float32 tensor is.
    """
    if cfg.warmup_steps <= 0:
        return cfg.beta
    if isinstance(step, Tensor):
        return (cfg.beta * (step.double() / cfg.warmup_steps).clamp(max=1.0)).float()
    return cfg.beta * min(1.0, step / cfg.warmup_steps)


def lower_kl_weight(step: int | Tensor, cfg: LossConfig) -> float | Tensor:
    """A hierarchy's lower-layer KL weight at a step: the warm-up's, never under `lower_kl_floor` * beta.

    With a floor the top layer is the cheaper place for what an image says while the warm-up lasts, so z takes
    the digit's identity before z1 can (docs/models.md, "A top layer that keeps the digit").
    """
    weight, floor = kl_weight(step, cfg), cfg.beta * cfg.lower_kl_floor
    return weight.clamp(min=floor) if isinstance(weight, Tensor) else max(weight, floor)


def training_loss(
    logits: Tensor, x: Tensor, mu: Tensor, logvar: Tensor, step: int | Tensor, cfg: LossConfig,
    lower_kl: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The objective to minimise (mean per image) plus the plain recon and KL terms (N,) to report.

    `lower_kl` (N, lower_dim) is a hierarchy's KL(q(z1|x, z) || p(z1|z)) per dimension (gaussian_kl_per_dim),
    floored as the top layer's and weighted by lower_kl_weight. Free bits follow Kingma et al. (2016): each
    dimension's batch-mean KL is floored at `free_bits`, so the optimiser gains nothing by collapsing a dimension
    below that.
    """
    recon = reconstruction_nll(logits, x)
    top = kl_per_dim(mu, logvar)
    lower = top[:, :0] if lower_kl is None else lower_kl

    def term(kl_dims: Tensor) -> Tensor:
        """The KL of these dimensions, mean per image, each floored at the free bits."""
        return kl_dims.mean(0).clamp(min=cfg.free_bits).sum() if cfg.free_bits > 0 else kl_dims.sum(1).mean()

    objective = recon.mean() + kl_weight(step, cfg) * term(top) + lower_kl_weight(step, cfg) * term(lower)
    return objective, recon.detach(), (top.sum(1) + lower.sum(1)).detach()


def autoencoder_loss(logits: Tensor, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """A plain autoencoder's objective, the reconstruction term alone (mean per image), with recon and a zero KL (N,).

    Its code is the encoder's mean, never sampled, and no KL term pulls it towards the prior N(0, I).
    """
    recon = reconstruction_nll(logits, x)
    return recon.mean(), recon.detach(), torch.zeros_like(recon)


def negative_elbo(logits: Tensor, x: Tensor, mu: Tensor, logvar: Tensor, lower_kl: Tensor | None = None) -> Tensor:
    """Plain negative ELBO per image (N,): reconstruction NLL + KL (+ a hierarchy's lower KL, (N, lower_dim))."""
    lower = 0.0 if lower_kl is None else lower_kl.sum(1)
    return reconstruction_nll(logits, x) + kl_per_dim(mu, logvar).sum(1) + lower


def gaussian_log_prob(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dimension."""
    return -0.5 * (((z - mu) ** 2) / logvar.exp() + logvar + torch.log(torch.tensor(2 * torch.pi))).sum(-1)


def log_importance_weights(
    logits: Tensor, x: Tensor, z: Tensor, mu: Tensor, logvar: Tensor, kl_weight: float | Tensor = 1.0,
    lower_log_ratio: Tensor | float = 0.0, lower_weight: float | Tensor | None = None,
) -> Tensor:
    """log p(x|z) + log p(z) - log q(z|x) per sample: the terms of the importance-weighted bound.

    A hierarchy adds `lower_log_ratio`, log p(z1|z) - log q(z1|x, z) at the drawn z1 (and its logits read z1).
    `kl_weight` scales the prior-versus-posterior part, as beta and the warm-up scale the ELBO's KL; the lower
    layer's part is scaled by `lower_weight` (lower_kl_weight), else by `kl_weight` too.
    """
    log_pz = gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))
    lower = kl_weight if lower_weight is None else lower_weight
    top = log_pz - gaussian_log_prob(z, mu, logvar)
    return -reconstruction_nll(logits, x) + kl_weight * top + lower * lower_log_ratio


def iwae_loss(log_w: Tensor) -> Tensor:
    """Negative importance-weighted bound (Burda et al. 2015) from log-weights (k, N), mean per image.

    With k = 1 it is the one-sample negative ELBO; it tightens towards -log p(x) as k grows.
    """
    return (math.log(log_w.shape[0]) - torch.logsumexp(log_w, 0)).mean()
