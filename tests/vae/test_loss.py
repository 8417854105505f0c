"""The loss against hand computation and Monte Carlo; gradients through the reparameterization."""

import math

import pytest
import torch

from vae.loss import (
    LossConfig,
    iwae_loss,
    kl_per_dim,
    kl_weight,
    log_importance_weights,
    lower_kl_weight,
    negative_elbo,
    reconstruction_nll,
    training_loss,
)
from vae.model import VAE, VAEConfig, reparameterize


def test_reconstruction_matches_hand_computation() -> None:
    logits = torch.tensor([[0.0, 2.0], [-1.0, 0.5]]).view(1, 1, 2, 2)
    x = torch.tensor([[1.0, 0.0], [0.25, 1.0]]).view(1, 1, 2, 2)
    expected = 0.0
    for lg, t in zip(logits.flatten().tolist(), x.flatten().tolist(), strict=True):
        p = 1 / (1 + math.exp(-lg))
        expected -= t * math.log(p) + (1 - t) * math.log(1 - p)
    assert torch.allclose(reconstruction_nll(logits, x), torch.tensor([expected]), atol=1e-6)


def test_kl_matches_hand_computation() -> None:
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]])
    # KL(N(1,1)||N(0,1)) = 0.5; KL(N(0,4)||N(0,1)) = 0.5 * (4 - 1 - log 4)
    expected = torch.tensor([[0.5, 0.5 * (4 - 1 - math.log(4))]])
    assert torch.allclose(kl_per_dim(mu, logvar), expected, atol=1e-6)


def test_negative_elbo_is_recon_plus_kl() -> None:
    logits, x = torch.randn(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    total = negative_elbo(logits, x, mu, logvar)
    assert torch.allclose(total, reconstruction_nll(logits, x) + kl_per_dim(mu, logvar).sum(1))


def test_analytic_kl_agrees_with_monte_carlo() -> None:
    torch.manual_seed(0)
    mu, logvar = torch.tensor([0.7, -1.2, 0.1]), torch.tensor([-0.5, 0.3, -2.0])
    z = mu + torch.exp(0.5 * logvar) * torch.randn(200_000, 3)
    log_q = -0.5 * (((z - mu) ** 2) / logvar.exp() + logvar + math.log(2 * math.pi))
    log_p = -0.5 * (z**2 + math.log(2 * math.pi))
    mc = (log_q - log_p).mean(0)
    assert torch.allclose(mc, kl_per_dim(mu, logvar), atol=0.02)


def test_gradients_reach_the_encoder_through_the_sample() -> None:
    model = VAE(VAEConfig(latent_dim=4, hidden=16))
    x = torch.rand(8, 1, 28, 28)
    mu, logvar = model.encode(x)
    recon = reconstruction_nll(model.decode(reparameterize(mu, logvar)), x).mean()  # no KL: only the sample path
    recon.backward()
    assert model.enc_out.weight.grad is not None and model.enc_out.weight.grad.abs().sum() > 0
    # the log-variance half of the output layer gets gradient only through sigma * eps
    assert model.enc_out.weight.grad[4:].abs().sum() > 0


def test_warmup_and_free_bits() -> None:
    cfg = LossConfig(beta=2.0, warmup_steps=10)
    assert [kl_weight(s, cfg) for s in (0, 5, 10, 50)] == [0.0, 1.0, 2.0, 2.0]
    logits, x = torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 28, 28)
    mu, logvar = torch.zeros(2, 3), torch.zeros(2, 3)  # KL exactly 0
    plain, _, kl = training_loss(logits, x, mu, logvar, 0, LossConfig())
    floored, _, _ = training_loss(logits, x, mu, logvar, 0, LossConfig(free_bits=0.5))
    assert torch.all(kl == 0)
    assert torch.isclose(floored - plain, torch.tensor(3 * 0.5))


def test_the_lower_kl_floor_holds_the_lower_layers_weight_up_during_the_warm_up() -> None:
    cfg = LossConfig(beta=2.0, warmup_steps=10, lower_kl_floor=0.25)
    assert [lower_kl_weight(s, cfg) for s in (0, 2, 5, 10)] == [0.5, 0.5, 1.0, 2.0]
    assert [float(lower_kl_weight(torch.tensor(s), cfg)) for s in (0, 5)] == [0.5, 1.0]  # as a CUDA graph counts
    assert lower_kl_weight(0, LossConfig(warmup_steps=10)) == 0.0  # no floor: the warm-up's weight
    torch.manual_seed(0)
    logits, x = torch.randn(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    mu, logvar, lower = torch.randn(4, 3), torch.randn(4, 3), torch.rand(4, 5)
    loss, _, kl = training_loss(logits, x, mu, logvar, 0, cfg, lower)
    recon = reconstruction_nll(logits, x).mean()
    assert torch.isclose(loss, recon + 0.5 * lower.sum(1).mean())  # the top layer's KL still costs nothing at step 0
    assert torch.allclose(kl, kl_per_dim(mu, logvar).sum(1) + lower.sum(1))  # the plain KL is reported
    ratio, z = torch.randn(4), reparameterize(mu, logvar)
    both = log_importance_weights(logits, x, z, mu, logvar, 0.0, ratio)
    floored = log_importance_weights(logits, x, z, mu, logvar, 0.0, ratio, lower_weight=0.5)
    assert torch.allclose(floored - both, 0.5 * ratio, atol=1e-3)  # float32 differences of numbers near 600


def test_importance_weights_average_to_the_elbo() -> None:
    """E_q[-log w] = recon + KL: the one-sample IWAE loss is the negative ELBO on average."""
    torch.manual_seed(0)
    logits, x = torch.randn(1, 1, 28, 28), torch.rand(1, 1, 28, 28)
    mu, logvar = torch.tensor([[0.5, -1.0, 0.2]]), torch.tensor([[-0.3, 0.4, -1.5]])
    z = reparameterize(mu.expand(100_000, 3), logvar.expand(100_000, 3))
    log_w = log_importance_weights(logits.expand(len(z), -1, -1, -1), x.expand(len(z), -1, -1, -1), z, mu, logvar)
    assert float(iwae_loss(log_w.view(-1, 1)[:1])) == pytest.approx(float(-log_w[0]))
    assert float(-log_w.mean()) == pytest.approx(float(negative_elbo(logits, x, mu, logvar)), abs=0.02)
    no_prior = log_importance_weights(logits, x, z[:5], mu, logvar, kl_weight=0.0)
    assert torch.allclose(no_prior, -reconstruction_nll(logits, x).expand(5))


def test_iwae_loss_is_tighter_than_the_average_single_sample_loss() -> None:
    log_w = torch.randn(50, 7) * 3 - 90
    assert float(iwae_loss(log_w)) < float(-log_w.mean())  # Jensen: log-mean-exp >= mean
    assert float(iwae_loss(log_w)) == pytest.approx(float((math.log(50) - torch.logsumexp(log_w, 0)).mean()))
