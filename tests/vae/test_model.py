"""Shapes, dtypes and config handling of both architectures."""

import pytest
import torch

from vae.model import VAE, VAEConfig, count_parameters


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("latent_dim", [1, 2, 20, 32])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_shapes_and_dtypes(arch: str, latent_dim: int, num_classes: int) -> None:
    model = VAE(VAEConfig(arch=arch, latent_dim=latent_dim, hidden=64, channels=(8, 16), num_classes=num_classes))
    x = torch.rand(5, 1, 28, 28)
    y = torch.arange(5) if num_classes else None
    mu, logvar = model.encode(x, y)
    assert mu.shape == logvar.shape == (5, latent_dim)
    logits = model.decode(mu, y)
    assert logits.shape == (5, 1, 28, 28) and logits.dtype == torch.float32
    out, mu2, _ = model(x, y)
    assert out.shape == x.shape and torch.equal(mu, mu2)


def test_classic_mlp_has_the_classic_size() -> None:
    # 784-400-(20+20) encoder, 20-400-784 decoder, as in pytorch/examples vae/main.py
    expected = (784 * 400 + 400) + (400 * 40 + 40) + (20 * 400 + 400) + (400 * 784 + 784)
    assert count_parameters(VAE(VAEConfig())) == expected


def test_forward_samples_but_encode_is_deterministic() -> None:
    model = VAE(VAEConfig(latent_dim=4))
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(model.encode(x)[0], model.encode(x)[0])
    assert not torch.equal(model(x)[0], model(x)[0])


def test_conditional_model_needs_a_label() -> None:
    model = VAE(VAEConfig(num_classes=10))
    with pytest.raises(ValueError, match="label"):
        model.encode(torch.rand(1, 1, 28, 28))


def test_config_round_trip_and_validation() -> None:
    cfg = VAEConfig(arch="conv", latent_dim=7, hidden=33, channels=(3, 5), num_classes=10)
    assert VAEConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="arch"):
        VAEConfig(arch="transformer")
    with pytest.raises(ValueError, match="unknown"):
        VAEConfig.from_dict({"arch": "mlp", "latent": 3})
