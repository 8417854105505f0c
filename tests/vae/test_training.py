"""Training: it learns, it is repeatable, it resumes, and train.py runs end to end."""

import copy
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import train as train_cli
from scripts import resume_from_weights
from tests.helpers import SMALL_CONV, TINY, assert_follows, conv_curve, iw_log_likelihood
from vae.checkpoint import load_tensors
from vae.data import to_float
from vae.evaluate import mean_negative_elbo
from vae.loaded import load_model, save_model
from vae.model import VAE, VAEConfig
from vae.training import (
    Replica,
    TrainConfig,
    TrainingDiverged,
    TrainState,
    cpu_has_bf16,
    fit,
    learning_rate,
    make_optimizer,
    objective,
    start_at_mean_image,
    train_epoch,
    uses_bf16,
)

ROOT = Path(__file__).parents[2]


def _fit(data: dict[str, torch.Tensor], epochs: int, seed: int = 0, iw_samples: int = 1,
         model: VAE | None = None) -> tuple[VAE, TrainState]:
    torch.manual_seed(seed)
    model = model or VAE(VAEConfig(latent_dim=4, hidden=64))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    train = (to_float(data["train_images"][:1500]), data["train_labels"][:1500])
    test = (to_float(data["test_images"][:300]), data["test_labels"][:300])
    cfg = TrainConfig(epochs=epochs, batch_size=100, lr=3e-3, seed=seed, iw_samples=iw_samples)
    return model, fit(model, opt, train, test, cfg, TrainState(), progress=False)


def test_training_lowers_the_test_loss(mnist_sample: dict[str, torch.Tensor]) -> None:
    untrained = VAE(VAEConfig(latent_dim=4, hidden=64))
    before = mean_negative_elbo(untrained, to_float(mnist_sample["test_images"][:300]))
    _, state = _fit(mnist_sample, epochs=3)
    losses = [h["test_nelbo"] for h in state.history]
    assert losses[0] < before - 200  # an untrained decoder scores ~540 nats; one epoch halves it
    assert losses[2] < losses[0]


def test_same_seed_same_result(mnist_sample: dict[str, torch.Tensor]) -> None:
    a, _ = _fit(mnist_sample, epochs=1)
    b, _ = _fit(mnist_sample, epochs=1)
    c, _ = _fit(mnist_sample, epochs=1, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.dec_out[0].weight, c.dec_out[0].weight)


def test_iwae_fine_tuning_tightens_the_likelihood_bound(mnist_sample: dict[str, torch.Tensor]) -> None:
    """From the same VAE, more epochs on the IWAE bound (k=8) reach a better NLL than on the ELBO."""
    start, _ = _fit(mnist_sample, epochs=3)
    x = to_float(mnist_sample["test_images"][:300])
    tuned = {k: _fit(mnist_sample, epochs=3, iw_samples=k, model=copy.deepcopy(start))[0] for k in (1, 8)}
    nll = {k: float(-iw_log_likelihood(m, x, k=200).mean()) for k, m in tuned.items()}
    assert nll[8] < nll[1] - 1.0, nll  # measured: 169.4 against 175.4


def test_iwae_has_no_free_bits() -> None:
    with pytest.raises(ValueError, match="free bits"):
        TrainConfig(iw_samples=5, free_bits=0.5)
    with pytest.raises(ValueError, match="at least 1"):
        TrainConfig(iw_samples=0)


def test_nan_loss_stops_with_a_clear_message() -> None:
    model = VAE(VAEConfig(latent_dim=2, hidden=8))
    x = torch.full((4, 1, 28, 28), float("nan"))
    opt = torch.optim.Adam(model.parameters())
    with pytest.raises(TrainingDiverged, match="lower --lr"):
        train_epoch(objective(model, 4, TrainConfig(), Replica()), opt, x, torch.zeros(4), TrainConfig(), TrainState(),
                    progress=False)


def test_cosine_schedule_decays_to_a_floor() -> None:
    cfg = TrainConfig(lr=1e-3, lr_schedule="cosine")
    assert learning_rate(0, cfg) == pytest.approx(1e-3)
    assert learning_rate(0.5, cfg) == pytest.approx((1e-3 + 5e-5) / 2)
    assert learning_rate(1, cfg) == pytest.approx(5e-5)
    assert learning_rate(0, TrainConfig(lr=1e-3)) == learning_rate(0.99, TrainConfig(lr=1e-3))


def test_onecycle_schedule_warms_up_then_decays_to_a_hundredth() -> None:
    cfg = TrainConfig(lr=5e-3, lr_schedule="onecycle")
    assert learning_rate(0, cfg) == 0 and learning_rate(0.05, cfg) == pytest.approx(2.5e-3)
    assert learning_rate(0.1, cfg) == pytest.approx(5e-3)
    assert learning_rate(0.55, cfg) == pytest.approx((5e-3 + 5e-5) / 2)
    assert learning_rate(1, cfg) == pytest.approx(5e-5)
    decay = [learning_rate(p / 100, cfg) for p in range(10, 101)]
    assert decay == sorted(decay, reverse=True)
    with pytest.raises(ValueError, match="onecycle"):
        learning_rate(0.5, TrainConfig(lr_schedule="step"))


def test_mean_image_init_starts_the_decoder_at_the_mean_digit(mnist_sample: dict[str, torch.Tensor]) -> None:
    x = to_float(mnist_sample["train_images"])
    mlp, conv = VAE(VAEConfig()), VAE(VAEConfig(arch="conv", latent_dim=4, hidden=32, channels=(4, 8)))
    start_at_mean_image(mlp, x)
    start_at_mean_image(conv, x)
    assert torch.allclose(torch.sigmoid(mlp.dec_out[0].bias), x.mean(0).flatten().clamp(1e-3, 1 - 1e-3), atol=1e-6)
    assert torch.sigmoid(conv.dec_out[-1].bias).item() == pytest.approx(x.mean().item(), abs=1e-6)


def test_mean_image_init_lowers_the_loss_after_an_epoch(mnist_sample: dict[str, torch.Tensor]) -> None:
    train = (to_float(mnist_sample["train_images"]), mnist_sample["train_labels"])
    test = (to_float(mnist_sample["test_images"]), mnist_sample["test_labels"])
    losses = {}
    for init in (False, True):
        torch.manual_seed(0)
        model = VAE(VAEConfig())
        cfg = TrainConfig(epochs=1, lr=5e-3, lr_schedule="onecycle", mean_image_init=init)
        state = fit(model, make_optimizer(model, cfg), train, test, cfg, TrainState(), progress=False)
        losses[init] = state.history[0]["test_nelbo"]
    assert losses[True] < losses[False] - 10, losses  # measured: 165.5 against 205.4 nats after 3,000 images


def test_adam_is_fused_on_cpu_in_float32_unless_asked() -> None:
    opt = make_optimizer(VAE(VAEConfig(latent_dim=2, hidden=8)), TrainConfig())
    assert opt.param_groups[0]["fused"] and not uses_bf16(torch.device("cpu"), TrainConfig())
    assert uses_bf16(torch.device("cpu"), TrainConfig(cpu_bf16=True)) == cpu_has_bf16()


@pytest.mark.skipif(not cpu_has_bf16(), reason="needs a CPU with bfloat16 instructions (AVX512-BF16 or AMX)")
def test_cpu_bf16_trains_in_bf16_and_measures_in_float32(mnist_sample: dict[str, torch.Tensor]) -> None:
    torch.manual_seed(0)
    model = VAE(VAEConfig())
    seen = []
    model.dec_out.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    train = (to_float(mnist_sample["train_images"]), mnist_sample["train_labels"])
    test = (to_float(mnist_sample["test_images"]), mnist_sample["test_labels"])
    cfg = TrainConfig(epochs=2, lr=5e-3, lr_schedule="onecycle", cpu_bf16=True)
    state = fit(model, make_optimizer(model, cfg), train, test, cfg, TrainState(), progress=False)
    assert seen[0] == torch.bfloat16 and seen[-1] == torch.float32  # the last pass is the test loss
    assert state.history[1]["test_nelbo"] < state.history[0]["test_nelbo"] < 250


@pytest.mark.skipif(not cpu_has_bf16(), reason="needs a CPU with bfloat16 instructions (AVX512-BF16 or AMX)")
def test_cpu_bf16_follows_float32_as_the_cuda_test_asks(mnist_sample: dict[str, torch.Tensor]) -> None:
    """The check of the CUDA test below, on a path that runs without a GPU: bf16 steps near float32's."""
    cfg = TrainConfig(epochs=2, batch_size=128, lr=3e-3)
    assert_follows(conv_curve(mnist_sample, "cpu", replace(cfg, cpu_bf16=True)), conv_curve(mnist_sample, "cpu", cfg))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (bf16 autocast, channels-last)")
def test_cuda_trains_in_bf16_with_channels_last(mnist_sample: dict[str, torch.Tensor]) -> None:
    device = torch.device("cuda")
    torch.manual_seed(0)
    model = VAE(SMALL_CONV).to(device)
    seen = {}
    model.features[0].register_forward_hook(lambda _m, _i, out: seen.update(conv=out))
    model.dec_out.register_forward_hook(lambda _m, _i, out: seen.update(logits=out))
    x = to_float(mnist_sample["train_images"][:64], device)
    loss, _, _ = objective(model, 64, TrainConfig(), Replica())(x, None, torch.randn(64, 4, device=device), 0)
    assert seen["logits"].dtype == torch.bfloat16 and loss.dtype == torch.float32
    assert seen["conv"].is_contiguous(memory_format=torch.channels_last) and seen["conv"].stride(1) == 1
    # Eight steps take the loss from about 540 nats to about 490, not below 400: the curve, not a bar. The GPU
    # shuffles and draws noise with its own generator and multiplies in bf16, so it follows the CPU's within that.
    cfg = TrainConfig(epochs=2, batch_size=128, lr=3e-3)
    assert_follows(conv_curve(mnist_sample, device, cfg), conv_curve(mnist_sample, "cpu", cfg))


def test_cli_end_to_end(tmp_path: Path, sample_dir: Path) -> None:
    cmd = [sys.executable, "train.py", "--data-dir", str(sample_dir), "--epochs", "1", *TINY,
           "--lr-schedule", "onecycle", "--mean-image-init", "--cpu-bf16",
           "--out-dir", str(tmp_path / "w"), "--run-dir", str(tmp_path / "r"), "--name", "tiny"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "device: cpu" in done.stdout and "epoch   1" in done.stdout
    loaded = load_model(tmp_path / "w" / "tiny.safetensors")
    assert loaded.model.config.latent_dim == 3
    meta = loaded.metadata
    assert meta.train.lr_schedule == "onecycle" and meta.train.mean_image_init and meta.train.cpu_bf16
    assert meta.epochs == 1 and meta.dataset == "mnist" and meta.command.startswith("python train.py")
    assert meta.metrics.nll_k == 5 and "torch" in meta.versions
    assert len(loaded.extras["test_nelbo_sorted"]) == 1000
    for png in ("samples.png", "reconstructions.png"):
        assert (tmp_path / "r" / "tiny" / png).stat().st_size > 0


def test_resume_continues_exactly_where_it_stopped(tmp_path: Path, sample_dir: Path) -> None:
    common = ["--data-dir", str(sample_dir), *TINY, "--binarize", "--name", "t"]
    train_cli.main([*common, "--epochs", "2", "--out-dir", str(tmp_path / "a"), "--run-dir", str(tmp_path / "ra")])
    train_cli.main([*common, "--epochs", "1", "--out-dir", str(tmp_path / "b"), "--run-dir", str(tmp_path / "rb")])
    train_cli.main([*common, "--epochs", "2", "--out-dir", str(tmp_path / "b"), "--run-dir", str(tmp_path / "rb"),
                    "--resume"])
    straight, _ = load_tensors(tmp_path / "a" / "t.safetensors")
    resumed, meta = load_tensors(tmp_path / "b" / "t.safetensors")
    assert [h["epoch"] for h in meta["history"]] == [1, 2]
    assert all(torch.equal(straight[k], resumed[k]) for k in straight if not k.startswith("extra."))


def test_resume_can_switch_to_the_iwae_bound(tmp_path: Path, sample_dir: Path) -> None:
    common = ["--data-dir", str(sample_dir), *TINY, "--binarize", "--name", "t", "--out-dir", str(tmp_path / "w"),
              "--run-dir", str(tmp_path / "r")]
    train_cli.main([*common, "--epochs", "1"])
    train_cli.main([*common, "--epochs", "2", "--iw-samples", "4", "--resume"])
    meta = load_model(tmp_path / "w" / "t.safetensors").metadata
    assert meta.train.iw_samples == 4 and meta.epochs == 2
    assert "then: python train.py" in meta.command and "--iw-samples 4 --resume" in meta.command


def test_resume_takes_cpu_bf16_from_the_resuming_command(tmp_path: Path, sample_dir: Path) -> None:
    common = ["--data-dir", str(sample_dir), *TINY, "--binarize", "--name", "t", "--out-dir", str(tmp_path / "w"),
              "--run-dir", str(tmp_path / "r")]
    train_cli.main([*common, "--epochs", "1"])
    train_cli.main([*common, "--epochs", "2", "--cpu-bf16", "--resume"])
    assert load_model(tmp_path / "w" / "t.safetensors").metadata.train.cpu_bf16
    train_cli.main([*common, "--epochs", "3", "--resume"])
    assert not load_model(tmp_path / "w" / "t.safetensors").metadata.train.cpu_bf16


def test_a_run_goes_on_from_its_weights_with_a_fresh_optimiser(tmp_path: Path, sample_dir: Path) -> None:
    common = ["--data-dir", str(sample_dir), *TINY, "--binarize", "--name", "t", "--out-dir", str(tmp_path / "w"),
              "--run-dir", str(tmp_path / "r")]
    train_cli.main([*common, "--epochs", "1"])
    weights = tmp_path / "w" / "t.safetensors"
    first = load_model(weights)
    first = replace(first, metadata=replace(first.metadata, train_seconds=1234.5))  # a time that cannot be rounded off
    save_model(weights, first.model, first.metadata, first.extras)
    with pytest.raises(SystemExit, match="holds a run's own state"):  # train.py's own resume file is there
        resume_from_weights.main([str(weights), "--run-dir", str(tmp_path / "r")])
    resume_from_weights.main([str(weights), "--run-dir", str(tmp_path / "again")])
    tensors, meta = load_tensors(tmp_path / "again" / "t" / "resume.safetensors")
    assert not any(k.startswith("optim.") and "exp_avg" in k for k in tensors)  # Adam starts afresh
    assert meta["train_seconds"] == 1234.5
    train_cli.main([*common[:-1], str(tmp_path / "again"), "--epochs", "2", "--resume"])
    went_on = load_model(weights).metadata
    assert went_on.epochs == 2 and [h.epoch for h in went_on.history] == [1, 2]
    assert went_on.history[0] == first.metadata.history[0]
    assert "then: python -m scripts.resume_from_weights" in went_on.command
    assert went_on.train_seconds >= 1234.5  # the time so far carried on


def test_resume_without_a_saved_run_says_so(tmp_path: Path, sample_dir: Path) -> None:
    with pytest.raises(SystemExit, match="cannot resume"):
        train_cli.main(["--data-dir", str(sample_dir), *TINY, "--resume", "--run-dir", str(tmp_path)])
