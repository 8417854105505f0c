"""Decoding a draw from a model's whole posterior: the lower layer of a hierarchy is drawn here, given z.

Training (vae.training) and measuring (vae.evaluate) draw z ~ q(z|x) themselves, each with its own noise;
`decode_draw` then draws a hierarchy's z1 ~ q(z1|x, z), decodes it, and returns what the ELBO and the
importance weights need of that layer (vae.loss). A one-layer model decodes z and draws nothing more.
"""

from dataclasses import dataclass

import torch
from torch import Tensor

from vae.loss import gaussian_kl_per_dim, gaussian_log_prob
from vae.model import VAE, reparameterize


@dataclass(frozen=True)
class Draw:
    """A posterior draw decoded: the pixel logits and the lower layer's terms (empty and zero for one layer)."""

    logits: Tensor  # (N, 1, 28, 28)
    lower_kl: Tensor  # (N, lower_dim): KL(q(z1|x, z) || p(z1|z)) per dimension, analytic given z
    lower_log_ratio: Tensor  # (N,): log p(z1|z) - log q(z1|x, z) at the drawn z1


def decode_draw(
    model: VAE, h: Tensor | None, z: Tensor, y: Tensor | None = None, noise: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Draw:
    """Decode codes z drawn from q(z|x) for images whose encoder features are `h` (model.encoder_state; a
    one-layer model needs none). A hierarchy draws z1 with `noise` (N, lower_dim) if given, else from
    `generator` (else torch's global generator)."""
    if not model.config.lower_dim:
        logits = model.decode(z, y)
        return Draw(logits, logits.new_zeros(len(z), 0), logits.new_zeros(len(z)))
    mean, logvar, prior_mean, prior_logvar = (t.to(z.dtype) for t in model.lower_posterior(h, z, y))
    z1 = reparameterize(mean, logvar, generator=generator) if noise is None else mean + torch.exp(0.5 * logvar) * noise
    return Draw(model.decode_lowest(z1, y), gaussian_kl_per_dim(mean, logvar, prior_mean, prior_logvar),
                gaussian_log_prob(z1, prior_mean, prior_logvar) - gaussian_log_prob(z1, mean, logvar))
