"""Anatomy of a two-layer model: the negative ELBO is reconstruction + the code's KL + the lower layer's KL."""

from pathlib import Path

import torch
from torch import Tensor

from tests.webapp.test_anatomy import anatomy, loaded_as_the_app_loads
from vae.model import VAE, VAEConfig
from webapp.anatomy import describe_anatomy


def test_a_two_layer_anatomy_adds_up_with_the_lower_layer(mnist_sample: dict[str, Tensor], tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = VAE(VAEConfig(arch="conv", latent_dim=4, lower_dim=6, hidden=32, channels=(4, 8))).eval()
    a = anatomy(loaded_as_the_app_loads(model, mnist_sample, tmp_path), torch.rand(28, 28).round())
    assert a.kl_lower > 0 and abs(a.nelbo - (a.recon + a.kl + a.kl_lower)) < 1e-3
    assert f"+ **{a.kl_lower:.2f}** lower-layer KL" in describe_anatomy(a, 50.0, "mnist")


def test_a_one_layer_anatomy_has_two_terms(mnist_sample: dict[str, Tensor], tmp_path: Path) -> None:
    model = VAE(VAEConfig(latent_dim=4, hidden=32)).eval()
    a = anatomy(loaded_as_the_app_loads(model, mnist_sample, tmp_path), torch.rand(28, 28).round())
    assert a.kl_lower == 0 and abs(a.nelbo - (a.recon + a.kl)) < 1e-3
    assert "lower-layer" not in describe_anatomy(a, 50.0, "mnist")
