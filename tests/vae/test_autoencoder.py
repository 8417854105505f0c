"""A plain autoencoder (`train.py --autoencoder`) beside the 2-D VAE: it trains on reconstruction alone with a
deterministic code, its weights say so, the loader loads it, and its codes sit far from N(0, 1) where the VAE's
do not, so random draws from N(0, 1) decode to digits only through the VAE."""

import copy
import math
from pathlib import Path

import pytest
import torch

import train as train_cli
import vae.evaluate
from scripts.model_card import card
from vae.autoencoder import code_spread, pair, prior_decodings, prior_radius, stored_codes
from vae.data import evaluation_inputs, load_split, to_float
from vae.evaluate import evaluate_autoencoder
from vae.loaded import LoadedModel, default_model, load_model, load_models
from vae.loss import reconstruction_nll
from vae.metadata import TrainConfig
from vae.model import VAE, VAEConfig
from vae.training import Replica, TrainState, fit, objective

WEIGHTS = Path(__file__).parents[2] / "weights"
SHIPPED_AE = WEIGHTS / "ae-2d.safetensors"
needs_shipped = pytest.mark.skipif(not SHIPPED_AE.exists(), reason="weights/ae-2d.safetensors not trained yet")


def sample_split(mnist_sample: dict[str, torch.Tensor], split: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n images of a split of the sample, as floats, and their labels."""
    return to_float(mnist_sample[f"{split}_images"][:n]), mnist_sample[f"{split}_labels"][:n]


@pytest.fixture(scope="module")
def trained(mnist_sample: dict[str, torch.Tensor]) -> tuple[VAE, VAE, TrainState]:
    """A small 2-D network before and after three epochs as a plain autoencoder on the sample."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=2, hidden=64))
    before = copy.deepcopy(model)
    cfg = TrainConfig(epochs=3, batch_size=100, lr=3e-3, autoencoder=True)
    state = fit(model, torch.optim.Adam(model.parameters(), lr=cfg.lr), sample_split(mnist_sample, "train", 1500),
                sample_split(mnist_sample, "test", 300), cfg, TrainState(), progress=False)
    return before, model, state


def test_training_lowers_the_reconstruction_error(trained: tuple[VAE, VAE, TrainState]) -> None:
    _, _, state = trained
    errors = [h["test_recon"] for h in state.history]
    assert errors[2] < errors[0] and all("test_nelbo" not in h for h in state.history)  # no ELBO to report


def test_the_log_variance_is_never_used(trained: tuple[VAE, VAE, TrainState]) -> None:
    """Neither sampling nor a KL term reads the encoder's log-variance half, so training leaves it as it started."""
    before, after, _ = trained
    d = after.config.latent_dim
    for name in ("weight", "bias"):
        start, end = getattr(before.enc_out, name), getattr(after.enc_out, name)
        assert torch.equal(start[d:], end[d:])
        assert not torch.allclose(start[:d], end[:d])  # the mean half learned


def test_the_loss_is_the_reconstruction_of_the_mean_alone(mnist_sample: dict[str, torch.Tensor]) -> None:
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=2, hidden=32))
    x, _ = sample_split(mnist_sample, "train", 50)
    step = objective(model, len(x), TrainConfig(autoencoder=True), Replica())
    loss, recon, kl = step(x, None, None, 0)  # no noise to pass: nothing is sampled
    with torch.no_grad():
        expected = reconstruction_nll(model.decode(model.encode(x)[0]), x)
    torch.testing.assert_close(recon, expected)
    torch.testing.assert_close(loss.detach(), expected.mean())
    assert torch.equal(kl, torch.zeros(len(x)))


@pytest.mark.parametrize("setting", [{"beta": 4.0}, {"warmup_epochs": 1.0}, {"free_bits": 0.5}, {"iw_samples": 5}])
def test_settings_of_the_kl_term_are_refused(setting: dict) -> None:
    with pytest.raises(ValueError, match="no KL term"):
        TrainConfig(autoencoder=True, **setting)


@pytest.fixture(scope="module")
def cli_weights(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    """The folder of an autoencoder written by train.py on the sample, under its default name."""
    out = tmp_path_factory.mktemp("ae")
    train_cli.main(["--data-dir", str(sample_dir), "--no-download", "--latent-dim", "2", "--hidden", "32",
                    "--batch-size", "256", "--epochs", "2", "--autoencoder", "--no-progress",
                    "--out-dir", str(out / "weights"), "--run-dir", str(out / "runs")])
    return out


def test_train_py_records_the_autoencoder(cli_weights: Path) -> None:
    loaded = load_model(cli_weights / "weights" / "ae-mlp-2d.safetensors")  # named apart from the VAE mlp-2d
    meta = loaded.metadata
    assert loaded.autoencoder and meta.train.autoencoder and "--autoencoder" in meta.command
    assert meta.metrics.test_recon > 0 and meta.metrics.active_units == 2
    assert meta.metrics.test_nll is None and meta.metrics.test_nelbo is None and meta.metrics.kl_per_dim is None
    assert [e.test_recon is not None and e.test_nelbo is None for e in meta.history] == [True, True]
    assert loaded.extras["test_mu"].shape == (1000, 2) and len(loaded.extras["test_labels"]) == 1000
    assert "test_nelbo_sorted" not in loaded.extras and "test_nll" not in loaded.extras
    assert loaded.autoencoder and loaded.ranking == [0, 1]
    assert (cli_weights / "runs" / "ae-mlp-2d" / "samples.png").stat().st_size > 0


def test_the_model_card_says_what_does_not_apply(cli_weights: Path) -> None:
    row = next(line for line in card(cli_weights / "weights").splitlines() if line.startswith("| `ae-mlp-2d`"))
    assert "plain autoencoder" in row and "none: not a probabilistic model" in row and "reconstruction error" in row


def test_the_explorer_leaves_it_out_unless_asked(cli_weights: Path) -> None:
    folder = cli_weights / "weights"
    assert load_models(folder) == ({}, [])
    assert list(load_models(folder, autoencoders=True)[0]) == ["ae-mlp-2d"]


def test_evaluate_measures_the_reconstruction_and_says_why_not_the_nll(
    cli_weights: Path, sample_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    path = cli_weights / "weights" / "ae-mlp-2d.safetensors"
    recorded = load_model(path).metadata.metrics
    vae.evaluate.main([str(path), "--data-dir", str(sample_dir), "--no-download", "--record"])
    out, err = capsys.readouterr()
    assert "no ELBO, KL or NLL" in err and "test_nll" not in out
    assert f"(recorded: {recorded.test_recon:.3f})" in out
    again = load_model(path).metadata
    assert again.metrics == recorded and again.metrics_command.startswith("python -m vae.evaluate")


def test_prior_decodings_are_repeatable_and_need_an_unconditional_model() -> None:
    model = VAE(VAEConfig(latent_dim=2, hidden=16))
    z, probs = prior_decodings(model, 8, seed=3)
    assert z.shape == (8, 2) and probs.shape == (8, 1, 28, 28)
    assert all(torch.equal(a, b) for a, b in zip((z, probs), prior_decodings(model, 8, seed=3), strict=True))
    assert not torch.equal(z, prior_decodings(model, 8, seed=4)[0])
    assert torch.equal(z, prior_decodings(VAE(VAEConfig(latent_dim=2, hidden=32)), 8, seed=3)[0])  # same draws
    with pytest.raises(ValueError, match="unconditional"):
        prior_decodings(VAE(VAEConfig(latent_dim=2, hidden=16, num_classes=10)), 8, seed=3)


def test_code_spread_measures_the_distance_from_the_prior() -> None:
    gen = torch.Generator().manual_seed(0)
    prior = code_spread(torch.randn(100_000, 2, generator=gen))
    assert prior.kl_to_prior < 1e-3 and prior.inside_circle == pytest.approx(0.95, abs=0.005)
    shifted = code_spread(3 + 2 * torch.randn(100_000, 2, generator=gen))
    # KL(N(m, s^2 I) || N(0, I)) in 2-D = 0.5 (2 s^2 + |m|^2 - 2 - 2 log s^2)
    assert shifted.kl_to_prior == pytest.approx(0.5 * (8 + 18 - 2 - 2 * math.log(4)), rel=0.02)
    assert shifted.mean == pytest.approx((3, 3), abs=0.03) and shifted.std == pytest.approx((2, 2), abs=0.03)
    assert prior_radius() == pytest.approx(2.4477, abs=1e-4)
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        code_spread(torch.zeros(10, 3))


def test_a_model_without_stored_codes_says_so() -> None:
    model = VAE(VAEConfig(latent_dim=2, hidden=16))
    loaded = LoadedModel("bare", model, None, {})
    with pytest.raises(ValueError, match="bare holds no test codes"):
        stored_codes(loaded)


# ---- the shipped pair: weights/ae-2d and weights/mlp-2d ----

@pytest.fixture(scope="module")
def shipped() -> tuple[LoadedModel, LoadedModel]:
    """The shipped plain autoencoder and its VAE twin."""
    models = load_models(WEIGHTS, autoencoders=True)[0]
    names = pair(models)
    assert names == ("ae-2d", "mlp-2d")
    return models[names[0]], models[names[1]]


@needs_shipped
def test_the_autoencoder_is_never_the_first_model_shown(shipped: tuple[LoadedModel, LoadedModel]) -> None:
    everything = load_models(WEIGHTS, autoencoders=True)[0]
    assert not everything[default_model(everything)].autoencoder
    assert default_model(everything) == default_model(load_models(WEIGHTS)[0])


@needs_shipped
def test_the_autoencoder_codes_sit_far_from_the_prior(shipped: tuple[LoadedModel, LoadedModel]) -> None:
    ae, vae_ = (code_spread(stored_codes(m)[0]) for m in shipped)
    assert vae_.kl_to_prior < 0.5 and ae.kl_to_prior > 10 * vae_.kl_to_prior
    assert vae_.inside_circle > 0.75 and ae.inside_circle < vae_.inside_circle - 0.25


@needs_shipped
def test_random_draws_decode_to_every_digit_only_through_the_vae(
    shipped: tuple[LoadedModel, LoadedModel], mnist_sample: dict[str, torch.Tensor]
) -> None:
    """Which real test digit each of 64 decoded draws of N(0, 1) is nearest to: the VAE's draws look like every
    digit; the autoencoder's, all in one corner of its code space, like a few digits, mostly two."""
    digits, labels = to_float(mnist_sample["test_images"]).flatten(1), mnist_sample["test_labels"]

    def nearest(pictures: torch.Tensor) -> torch.Tensor:
        """The label of the real test digit nearest (in pixels) to each picture."""
        return labels[torch.cdist(pictures.flatten(1), digits).argmin(1)]

    ae, vae_ = (torch.bincount(nearest(prior_decodings(m.model, 64, seed=0)[1]), minlength=10) for m in shipped)
    assert (vae_ > 0).all()
    assert (ae > 0).sum() <= 8 and ae.sort(descending=True).values[:2].sum() >= 32


@needs_shipped
def test_the_shipped_autoencoder_reproduces_its_recorded_error(
    shipped: tuple[LoadedModel, LoadedModel], full_data_dir: Path
) -> None:
    ae = shipped[0]
    images, labels = load_split("mnist", full_data_dir, train=False, download=False)
    measured = evaluate_autoencoder(ae.model, evaluation_inputs(images, ae.metadata.train.binarize), labels)
    assert measured["test_recon"] == pytest.approx(ae.metadata.metrics.test_recon, abs=0.01)
    assert measured["active_units"] == ae.metadata.metrics.active_units
