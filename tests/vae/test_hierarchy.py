"""The two-layer model (z -> z1 -> x): shapes, the lower layer's loss terms, training, its bound, its resume file."""

import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch.distributions import Normal, kl_divergence

import train as train_cli
from scripts.model_card import card
from tests.conftest import ROOT
from tests.helpers import TINY, iw_log_likelihood, tiny_metadata
from vae.checkpoint import load_tensors
from vae.data import to_float
from vae.evaluate import elbo_terms, posterior_terms
from vae.evaluate import main as evaluate_cli
from vae.latent import decode_posterior_mean, decode_probs, sample_probs
from vae.loaded import load_model, save_model
from vae.loss import gaussian_kl_per_dim, kl_per_dim, log_importance_weights, reconstruction_nll
from vae.model import VAE, VAEConfig, reparameterize
from vae.posterior import decode_draw
from vae.training import (
    RESUME_BUDGET,
    Run,
    TrainConfig,
    TrainState,
    fit,
    load_resume,
    make_optimizer,
    save_resume,
)

SMALL = VAEConfig(arch="conv", latent_dim=4, lower_dim=6, hidden=48, channels=(8, 16))
# The size of the recipe in docs/models.md ("A two-layer model"): its resume file must fit RESUME_BUDGET.
RECIPE = VAEConfig(arch="conv", latent_dim=32, lower_dim=64, hidden=256)


@pytest.fixture(scope="module")
def trained_run(mnist_sample: dict[str, torch.Tensor]) -> tuple[VAE, TrainState]:
    """A small two-layer conv VAE after a few epochs on the sample, and its run."""
    torch.manual_seed(0)
    model = VAE(SMALL)
    cfg = TrainConfig(epochs=3, batch_size=64, lr=3e-3, binarize=True)
    train = (to_float(mnist_sample["train_images"]), mnist_sample["train_labels"])
    test = (to_float(mnist_sample["test_images"][:200]), mnist_sample["test_labels"][:200])
    state = fit(model, make_optimizer(model, cfg), train, test, cfg, TrainState(), progress=False)
    return model.eval(), state


@pytest.fixture(scope="module")
def trained(trained_run: tuple[VAE, TrainState]) -> VAE:
    return trained_run[0]


@pytest.mark.parametrize("num_classes", [0, 10])
def test_shapes_and_the_slider_decode_at_the_prior_mean(num_classes: int) -> None:
    model = VAE(VAEConfig(**{**SMALL.to_dict(), "num_classes": num_classes}))
    x, y = torch.rand(5, 1, 28, 28), (torch.arange(5) if num_classes else None)
    h = model.encoder_state(x, y)
    mu, logvar = model.encode(x, y)
    assert mu.shape == logvar.shape == (5, 4) and h.shape == (5, 48)
    mean, lower_logvar, prior_mean, prior_logvar = model.lower_posterior(h, mu, y)
    assert mean.shape == lower_logvar.shape == prior_mean.shape == prior_logvar.shape == (5, 6)
    assert torch.equal(model.decode(mu, y), model.decode_lowest(model.lower_prior(mu, y)[0], y))
    assert model.decode(mu, y).shape == model(x, y)[0].shape == (5, 1, 28, 28)
    assert model.config.noise_dim == 10


def test_the_lower_kl_is_the_kl_between_two_gaussians() -> None:
    torch.manual_seed(0)
    mu, logvar, prior_mean, prior_logvar = torch.randn(4, 3, 5).unbind(0)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(prior_mean, (0.5 * prior_logvar).exp()))
    assert torch.allclose(gaussian_kl_per_dim(mu, logvar, prior_mean, prior_logvar), expected, atol=1e-5)
    zeros = torch.zeros_like(mu)
    assert torch.allclose(gaussian_kl_per_dim(mu, logvar, zeros, zeros), kl_per_dim(mu, logvar))


def test_a_draw_averages_its_log_ratio_to_minus_the_lower_kl() -> None:
    """E_q[log p(z1|z) - log q(z1|x, z)] = -KL(q || p): the importance weight and the ELBO count the same layer."""
    torch.manual_seed(0)
    model = VAE(SMALL).eval()
    x = torch.rand(1, 1, 28, 28)
    h = model.encoder_state(x).expand(20_000, -1)
    z = model.encode(x)[0].expand(20_000, -1)
    with torch.no_grad():
        drawn = decode_draw(model, h, z)
    assert float(drawn.lower_log_ratio.mean()) == pytest.approx(-float(drawn.lower_kl[0].sum()), abs=0.01)


def test_a_one_layer_model_draws_nothing_more() -> None:
    model = VAE(VAEConfig(latent_dim=3, hidden=16))
    z = torch.randn(4, 3)
    state = torch.random.get_rng_state()
    drawn = decode_draw(model, None, z)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(drawn.logits, model.decode(z)) and drawn.lower_kl.shape == (4, 0)
    assert torch.equal(drawn.lower_log_ratio, torch.zeros(4))


def test_the_negative_elbo_counts_both_layers(trained: VAE, mnist_sample: dict[str, torch.Tensor]) -> None:
    x = to_float(mnist_sample["test_images"][:50]).bernoulli(generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        mu, logvar = trained.encode(x)
        terms = posterior_terms(trained, x, mu, logvar, None, torch.Generator().manual_seed(0))
        # The same draws by hand: z from the generator, then z1 from it, decoded from z1.
        gen = torch.Generator().manual_seed(0)
        z = reparameterize(mu, logvar, generator=gen)
        mean, lower_logvar, prior_mean, prior_logvar = trained.lower_posterior(trained.encoder_state(x), z)
        z1 = reparameterize(mean, lower_logvar, generator=gen)
        recon = reconstruction_nll(trained.decode_lowest(z1), x)
    lower = gaussian_kl_per_dim(mean, lower_logvar, prior_mean, prior_logvar).sum(1)
    assert torch.allclose(terms["recon"], recon, atol=1e-3)
    assert torch.allclose(terms["kl_lower"], lower, atol=1e-4) and (lower > 0.1).all()
    assert torch.allclose(terms["nelbo"], recon + kl_per_dim(mu, logvar).sum(1) + lower, atol=1e-3)


def test_training_lowers_the_loss(trained_run: tuple[VAE, TrainState]) -> None:
    losses = [h["test_nelbo"] for h in trained_run[1].history]
    assert losses[0] < 300 and losses[-1] < losses[0]  # an untrained decoder scores ~540 nats


def test_the_nll_estimate_is_below_the_negative_elbo_and_tightens_with_k(
    trained: VAE, mnist_sample: dict[str, torch.Tensor]
) -> None:
    x = to_float(mnist_sample["test_images"][:100]).bernoulli(generator=torch.Generator().manual_seed(0))
    nelbo = float(elbo_terms(trained, x)["nelbo"].mean())
    nll = {k: -float(iw_log_likelihood(trained, x, k=k).mean()) for k in (1, 20, 200)}
    assert nll[200] < nll[20] < nll[1]
    assert nll[200] <= nelbo
    assert abs(nll[1] - nelbo) < 1.5  # k = 1 is a one-sample ELBO, up to sampling noise


def test_importance_weights_average_to_the_two_layer_elbo(trained: VAE) -> None:
    """E_q[log w] = -ELBO with both layers: log_importance_weights and negative_elbo agree on the hierarchy."""
    x = torch.rand(1, 1, 28, 28).bernoulli(generator=torch.Generator().manual_seed(1))
    n = 20_000
    with torch.no_grad():
        h = trained.encoder_state(x)
        mu, logvar = trained.posterior(h)
        z = reparameterize(mu.expand(n, -1), logvar.expand(n, -1), generator=torch.Generator().manual_seed(2))
        drawn = decode_draw(trained, h.expand(n, -1), z, generator=torch.Generator().manual_seed(3))
        log_w = log_importance_weights(drawn.logits, x.expand(n, -1, -1, -1), z, mu, logvar,
                                       lower_log_ratio=drawn.lower_log_ratio)
        nelbo = reconstruction_nll(drawn.logits, x.expand(n, -1, -1, -1)) + kl_per_dim(mu, logvar).sum(1) \
            + drawn.lower_kl.sum(1)
    assert float(-log_w.mean()) == pytest.approx(float(nelbo.mean()), abs=0.1)


def test_a_recipe_sized_resume_file_fits_the_budget_with_half_moments(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model, cfg = VAE(RECIPE), TrainConfig(lr=1e-3)
    opt = make_optimizer(model, cfg)
    for _ in range(2):
        model(torch.rand(8, 1, 28, 28))[0].sum().backward()
        opt.step()
    path = tmp_path / "resume.safetensors"
    save_resume(path, model, opt, TrainState(epoch=1), Run(RECIPE, cfg, "mnist", "python train.py"))
    assert path.stat().st_size < RESUME_BUDGET
    tensors, _ = load_tensors(path)
    assert {t.dtype for k, t in tensors.items() if k.endswith(("exp_avg", "exp_avg_sq"))} == {torch.bfloat16}
    resumed, resumed_opt, state, run = load_resume(path, torch.device("cpu"))
    assert state.epoch == 1 and run.config == RECIPE
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), resumed.state_dict().values(),
                                                  strict=True))
    saved, back = opt.state_dict()["state"], resumed_opt.state_dict()["state"]
    for before, after in ((saved[i], back[i]) for i in saved):
        for key in ("exp_avg", "exp_avg_sq"):
            assert after[key].dtype == torch.float32
            assert torch.allclose(after[key], before[key], rtol=1 / 128, atol=1e-30)  # bfloat16: 8 bits of mantissa


def test_train_py_trains_and_resumes_a_two_layer_model(tmp_path: Path, sample_dir: Path) -> None:
    common = ["--data-dir", str(sample_dir), *TINY, "--binarize", "--lower-dim", "5", "--name", "h",
              "--out-dir", str(tmp_path / "w"), "--run-dir", str(tmp_path / "r")]
    train_cli.main([*common, "--epochs", "1"])
    train_cli.main([*common, "--epochs", "2", "--iw-samples", "3", "--resume"])
    loaded = load_model(tmp_path / "w" / "h.safetensors")
    meta = loaded.metadata
    assert loaded.model.config.lower_dim == 5 and meta.epochs == 2 and meta.train.iw_samples == 3
    assert "--lower-dim 5" in meta.command and "--resume" in meta.command
    assert 0 < meta.metrics.test_kl_lower < meta.metrics.test_kl
    row = card(tmp_path / "w").splitlines()[2]
    assert row.startswith("| `h` | mlp, two stochastic layers (z1: 5) | 3 |")
    assert "--epochs 1`; resumed after epoch 1 with `--epochs 2 --iw-samples 3` |" in row  # what the resume changed


def test_a_lower_kl_floor_moves_the_kl_into_the_code_z(mnist_sample: dict[str, torch.Tensor]) -> None:
    """What --lower-kl-floor is for: during the warm-up the top layer is the cheaper place for what an image says,
    so the same run ends it with more of the KL in z and less in z1."""
    train = (to_float(mnist_sample["train_images"]), mnist_sample["train_labels"])
    x = to_float(mnist_sample["test_images"][:200])

    def kl_by_layer(floor: float) -> tuple[float, float]:
        torch.manual_seed(0)
        model = VAE(SMALL)
        cfg = TrainConfig(epochs=6, batch_size=64, lr=3e-3, binarize=True, warmup_epochs=6, lower_kl_floor=floor)
        fit(model, make_optimizer(model, cfg), train, (x[:50], mnist_sample["test_labels"][:50]), cfg, TrainState(),
            progress=False)
        with torch.no_grad():
            h = model.eval().encoder_state(x)
            mu, logvar = model.posterior(h)
            lower = decode_draw(model, h, mu).lower_kl
        return float(kl_per_dim(mu, logvar).sum(1).mean()), float(lower.sum(1).mean())

    (top, lower), (top_floored, lower_floored) = kl_by_layer(0.0), kl_by_layer(1.0)
    assert top_floored > top and lower_floored < lower, (top, lower, top_floored, lower_floored)


def test_the_lower_kl_floor_needs_a_lower_layer_and_a_warm_up(tmp_path: Path, sample_dir: Path) -> None:
    common = ["--data-dir", str(sample_dir), *TINY, "--run-dir", str(tmp_path), "--lower-kl-floor", "0.25"]
    with pytest.raises(SystemExit, match="needs --lower-dim and --warmup-epochs"):
        train_cli.main([*common, "--warmup-epochs", "1"])
    with pytest.raises(SystemExit, match="needs --lower-dim and --warmup-epochs"):
        train_cli.main([*common, "--lower-dim", "4"])
    with pytest.raises(ValueError, match="from 0 to 1"):
        TrainConfig(lower_kl_floor=1.5)


def test_a_plain_autoencoder_has_no_lower_layer(tmp_path: Path, sample_dir: Path) -> None:
    with pytest.raises(SystemExit, match="--lower-dim does not apply"):
        train_cli.main(["--data-dir", str(sample_dir), *TINY, "--autoencoder", "--lower-dim", "4",
                        "--run-dir", str(tmp_path)])


def test_vae_evaluate_measures_and_records_a_two_layer_model(
    tmp_path: Path, sample_dir: Path, trained: VAE, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "h.safetensors"
    metadata = replace(tiny_metadata(trained, {"test_kl": None}), train=TrainConfig(binarize=True))
    save_model(path, trained, metadata)
    evaluate_cli([str(path), "--data-dir", str(sample_dir), "--no-download", "--k", "20", "--nll-images", "30",
                  "--record"])
    out = capsys.readouterr().out
    assert "(recorded: none)" in out and "test_kl_lower" in out  # a figure never measured before is no crash
    metrics = load_model(path).metadata.metrics
    assert metrics.nll_k == 20 and metrics.nll_images == 30 and 0 < metrics.test_kl_lower < metrics.test_kl
    assert metrics.test_nelbo == pytest.approx(metrics.test_recon + metrics.test_kl, abs=1e-3)


def test_a_reconstruction_reads_the_lower_layer_from_the_image(
    trained: VAE, mnist_sample: dict[str, torch.Tensor]
) -> None:
    """E[z1|x, z] redraws test digits better than E[z1|z] alone; a one-layer model decodes its mean as before."""
    x = to_float(mnist_sample["test_images"][:200]).bernoulli(generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        mu = trained.encode(x)[0]
        from_image = reconstruction_nll(torch.logit(decode_posterior_mean(trained, x, mu), eps=1e-6), x).mean()
        from_code = reconstruction_nll(torch.logit(decode_probs(trained, mu), eps=1e-6), x).mean()
    assert from_image < from_code - 0.5
    one = VAE(VAEConfig(latent_dim=3, hidden=16))
    assert torch.equal(decode_posterior_mean(one, x[:5], mu[:5, :3]), decode_probs(one, mu[:5, :3]))


def test_a_sample_draws_both_layers_and_the_temperature_scales_each(trained: VAE) -> None:
    """sample_probs: at temperature 0 the origin with z1 at its mean (the sliders' origin); z1's own draws change
    the picture; a one-layer model's sample is the decoding of T * its draws."""
    draws = torch.randn(16, SMALL.noise_dim, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(sample_probs(trained, draws, 0.0), decode_probs(trained, torch.zeros(16, 4)))
    other_z1 = torch.cat([draws[:, :4], torch.randn(16, 6, generator=torch.Generator().manual_seed(1))], dim=1)
    assert (sample_probs(trained, draws) - sample_probs(trained, other_z1)).abs().amax(dim=(1, 2, 3)).min() > 0.01
    one = VAE(VAEConfig(latent_dim=3, hidden=16))
    assert torch.equal(sample_probs(one, draws[:, :3], 0.7), decode_probs(one, 0.7 * draws[:, :3]))


def test_the_gpu_script_trains_the_recipe_and_records_its_nll(tmp_path: Path, sample_dir: Path) -> None:
    """scripts/two_layer_on_gpu.sh, as a lent GPU would run it, smoke-sized on the CPU: one call with time to spare
    trains the recipe's model (with the lower layer's KL floor), measures it, records the NLL in the weights and
    hands them over in OUT."""
    out, runs = tmp_path / "out", tmp_path / "runs"
    env = {**os.environ, "EPOCHS": "1", "IMAGES": "20", "K": "10", "RUNS": str(runs)}
    done = subprocess.run(["bash", str(ROOT / "scripts/two_layer_on_gpu.sh"), str(sample_dir), str(out), "600"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "done: the NLL is recorded" in done.stdout, done.stdout + done.stderr
    metadata = load_model(out / "hconv-32d-64d-floor.safetensors").metadata
    assert metadata.config.lower_dim == 64 and metadata.epochs == 1 and metadata.train.iw_samples == 5
    assert metadata.train.lower_kl_floor == 0.25
    assert metadata.metrics.nll_k == 10 and metadata.metrics.nll_images == 20
    assert (out / "samples.png").is_file() and (runs / "hconv-32d-64d-floor" / "resume.safetensors").is_file()
    assert (out / "resume.safetensors").is_file() and (out / "nll.safetensors").is_file()  # to go on elsewhere
