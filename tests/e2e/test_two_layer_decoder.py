"""The page's decoder (static/decoder.js) on two-layer models: the sliders' code z, then z1 at its prior mean, then
the pixels, as torch decodes them; a random sample, which draws z1 given z, as torch samples it; and "How a VAE
works", which draws z1 from q(z1|x, z) and adds its KL to the loss. Small models are trained here on the shipped
sample and decoded by decoder.js alone in Chromium (benchmarks/standalone_decoder.py), or served by the app, so no
model needs to be shipped for the check."""

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch

from benchmarks.standalone_decoder import DECODE_ALL, decoder_page, spec_for
from tests.e2e.conftest import NEEDS_CHROMIUM
from tests.helpers import tiny_metadata
from vae.checkpoint import load_tensors
from vae.data import to_float
from vae.latent import decode_probs, prior_sample, sample_probs
from vae.loaded import load_model, save_model
from vae.model import VAE, VAEConfig
from vae.page_weights import TOLERANCE as PAGE_TOLERANCE
from vae.page_weights import decode_with, with_page_decoder, write_page_weights
from vae.posterior import decode_draw
from vae.training import TrainConfig, TrainState, fit, make_optimizer

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = NEEDS_CHROMIUM

CODES = 200
TOLERANCE = 1e-4  # pixel probabilities, page vs torch with the same weights (as tests/e2e/test_browser.py)
POSTERIOR_ALL = """async ([spec, h, codes, noise]) => {
  const d = await window.VAEDecoder.load(spec);
  return codes.map((z, i) => { const out = d.posterior(h[i], z, noise[i]); return [...out.probs, out.lowerKl]; });
}"""
SAMPLE_ALL = """async ([spec, draws, temperature, labels]) => {
  const d = await window.VAEDecoder.load(spec);
  return draws.map((e, i) => Array.from(d.sample(e, temperature, labels[i])));
}"""


def trained_file(folder: Path, config: VAEConfig, data: dict[str, torch.Tensor]) -> Path:
    """A model of `config` after one epoch on the sample, saved with its page copy (weights/page/ beside it)."""
    torch.manual_seed(0)
    model, cfg = VAE(config), TrainConfig(epochs=1, batch_size=64, lr=3e-3, binarize=True)
    train = (to_float(data["train_images"]), data["train_labels"])
    test = (to_float(data["test_images"][:100]), data["test_labels"][:100])
    fit(model, make_optimizer(model, cfg), train, test, cfg, TrainState(), progress=False)
    path = folder / "two-layer.safetensors"
    save_model(path, model.eval(), tiny_metadata(model))
    return write_page_weights(path)[0]


@pytest.mark.parametrize("config", [
    VAEConfig(arch="conv", latent_dim=8, lower_dim=16, hidden=64, channels=(8, 16)),
    VAEConfig(arch="conv", latent_dim=8, lower_dim=16, hidden=64, channels=(8, 16), num_classes=10),
    VAEConfig(arch="mlp", latent_dim=5, lower_dim=12, hidden=64),
], ids=["conv", "conv-conditional", "mlp"])
def test_the_page_decodes_a_two_layer_model_like_torch(
    browser: "Browser", tmp_path: Path, mnist_sample: dict[str, torch.Tensor], config: VAEConfig
) -> None:
    page_file = trained_file(tmp_path, config, mnist_sample)
    loaded = load_model(tmp_path / "two-layer.safetensors")
    gen = torch.Generator().manual_seed(0)
    codes = 1.5 * torch.randn(CODES, config.latent_dim, generator=gen)
    labels = torch.randint(0, max(config.num_classes, 1), (CODES,), generator=gen)
    with decoder_page(browser, page_file) as page:
        in_page = torch.tensor(page.evaluate(DECODE_ALL, [spec_for(loaded, page_file), codes.tolist(),
                                                          labels.tolist()]))
    labels = labels if config.num_classes else None
    # The page's math is torch's on the weights it fetched (float16, some 8-bit) ...
    assert (in_page - decode_with(loaded, load_tensors(page_file)[0], codes, labels)).abs().max() <= TOLERANCE
    # ... and those decode the float32 model's pictures to within the page weights' tolerance.
    assert (in_page - decode_probs(loaded.model, codes, labels).view(CODES, -1)).abs().max() <= PAGE_TOLERANCE
    # The lower layer is no bystander: z1 at its prior mean is not z1 at 0.
    at_zero = torch.sigmoid(loaded.model.decode_lowest(torch.zeros(CODES, config.lower_dim), labels)).view(CODES, -1)
    assert (in_page - at_zero).abs().max() > 0.1


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_the_page_samples_a_two_layer_model_like_torch(
    browser: "Browser", tmp_path: Path, mnist_sample: dict[str, torch.Tensor], temperature: float
) -> None:
    config = VAEConfig(arch="conv", latent_dim=8, lower_dim=16, hidden=64, channels=(8, 16), num_classes=10)
    page_file = trained_file(tmp_path, config, mnist_sample)
    loaded = load_model(tmp_path / "two-layer.safetensors")
    draws = prior_sample(CODES, config.noise_dim, seed=0)
    labels = torch.arange(CODES) % 10
    with decoder_page(browser, page_file) as page:
        in_page = torch.tensor(page.evaluate(SAMPLE_ALL, [spec_for(loaded, page_file), draws.tolist(), temperature,
                                                          labels.tolist()]))
    in_torch = sample_probs(with_page_decoder(loaded, load_tensors(page_file)[0]), draws, temperature, labels)
    assert (in_page - in_torch.view(CODES, -1)).abs().max() <= TOLERANCE
    # The lower layer is drawn, not left at its mean: the same codes decoded with z1 at E[z1|z] differ.
    at_mean = decode_probs(loaded.model, temperature * draws[:, :config.latent_dim], labels).view(CODES, -1)
    assert (in_page - at_mean).abs().max() > 0.1


def test_the_page_draws_a_digits_lower_layer_like_torch(
    browser: "Browser", tmp_path: Path, mnist_sample: dict[str, torch.Tensor]
) -> None:
    """decoder.js's posterior(h, z, eps): z1 ~ q(z1|x, z) decoded, and KL(q(z1|x, z) || p(z1|z)), as vae.posterior."""
    config = VAEConfig(arch="conv", latent_dim=8, lower_dim=16, hidden=64, channels=(8, 16))
    page_file = trained_file(tmp_path, config, mnist_sample)
    loaded = load_model(tmp_path / "two-layer.safetensors")
    on_page_weights = with_page_decoder(loaded, load_tensors(page_file)[0])
    x = to_float(mnist_sample["test_images"][:CODES]).view(CODES, 1, 28, 28)
    with torch.no_grad():
        h = on_page_weights.encoder_state(x)
        mean, logvar = on_page_weights.posterior(h)
        gen = torch.Generator().manual_seed(0)
        z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen)
        noise = torch.randn(CODES, config.lower_dim, generator=gen)
        draw = decode_draw(on_page_weights, h, z, noise=noise)
    with decoder_page(browser, page_file) as page:
        in_page = torch.tensor(page.evaluate(POSTERIOR_ALL, [spec_for(loaded, page_file), h.tolist(), z.tolist(),
                                                             noise.tolist()]))
    assert (in_page[:, :-1] - torch.sigmoid(draw.logits).view(CODES, -1)).abs().max() <= TOLERANCE
    torch.testing.assert_close(in_page[:, -1], draw.lower_kl.sum(1), rtol=1e-4, atol=1e-3)
    assert draw.lower_kl.sum(1).min() > 0  # the image moves q(z1|x, z) off p(z1|z): the term is no zero
