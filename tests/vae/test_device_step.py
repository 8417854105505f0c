"""Device steps: on the CPU, eagerly, step for step train_epoch's; on a GPU, replayed from CUDA graphs without syncs."""

from pathlib import Path

import pytest
import torch

import train as train_cli
from tests.helpers import SMALL_CONV, TINY, assert_follows, conv_curve
from vae.checkpoint import load_tensors
from vae.data import to_float
from vae.device_step import DeviceEpochs, DeviceSteps, learning_rate_from, warm_up
from vae.loss import LossConfig, kl_weight
from vae.model import VAE, VAEConfig
from vae.training import (
    Replica,
    TrainConfig,
    TrainingDiverged,
    TrainState,
    fit,
    make_optimizer,
    objective,
    train_epoch,
)

MLP = VAEConfig(latent_dim=4, hidden=32)
CASES = {  # 1,000 images in batches of 128: seven full batches and a last one of 104
    "one-cycle, mean image": (MLP, TrainConfig(epochs=2, lr=5e-3, lr_schedule="onecycle", mean_image_init=True), 0),
    "binarized, KL warm-up, cosine": (MLP, TrainConfig(epochs=2, binarize=True, warmup_epochs=1.5, beta=2.0,
                                                       lr_schedule="cosine"), 0),
    "conditional IWAE, warm-up": (VAEConfig(latent_dim=3, hidden=32, num_classes=10),
                                  TrainConfig(epochs=2, iw_samples=3, warmup_epochs=0.5), 0),
    "conv, from step 3": (VAEConfig(arch="conv", latent_dim=3, hidden=16, channels=(4, 8)), TrainConfig(epochs=1), 3),
    "autoencoder": (MLP, TrainConfig(epochs=1, autoencoder=True), 0),
}


def train_with(run_epoch, model_cfg: VAEConfig, cfg: TrainConfig, data: dict[str, torch.Tensor], first_step: int = 0,
               device: str = "cpu", images: int = 1000) -> tuple[VAE, torch.optim.Optimizer, TrainState]:
    """A run from a fixed initialisation, each epoch through `run_epoch`, from step `first_step` of the first epoch."""
    torch.manual_seed(0)
    model = VAE(model_cfg).to(device)
    opt = make_optimizer(model, cfg)
    train = (to_float(data["train_images"][:images], device), data["train_labels"][:images].to(device))
    test = (to_float(data["test_images"][:200], device), data["test_labels"][:200].to(device))
    state = fit(model, opt, train, test, cfg, TrainState(step_in_epoch=first_step), progress=False,
                run_epoch=run_epoch)
    return model, opt, state


@pytest.mark.parametrize("case", CASES)
def test_device_steps_on_the_cpu_are_the_eager_steps(mnist_sample: dict[str, torch.Tensor], case: str) -> None:
    model_cfg, cfg, first = CASES[case]
    eager, eager_opt, eager_state = train_with(train_epoch, model_cfg, cfg, mnist_sample, first)
    device, device_opt, device_state = train_with(DeviceEpochs(), model_cfg, cfg, mnist_sample, first)
    assert device_state.history == eager_state.history
    torch.manual_seed(0)
    untrained = VAE(model_cfg)
    assert not any(torch.equal(p, q) for p, q in zip(eager.parameters(), untrained.parameters(), strict=True))
    for p, q in zip(eager.parameters(), device.parameters(), strict=True):
        assert torch.equal(p, q)
    assert device_opt.param_groups[0]["lr"] == eager_opt.param_groups[0]["lr"]  # a float again, the last step's


class WarmUpOnly(DeviceEpochs):
    """Device steps that go through everything a capture does but the graph: warm-up steps, then undoing them."""

    def prepare(self, *args) -> DeviceSteps:
        steps = super().prepare(*args)
        steps.capture(record=lambda step, _opt, rewind: warm_up(step, rewind) or step)
        return steps


def test_a_capture_leaves_the_run_where_it_was(mnist_sample: dict[str, torch.Tensor]) -> None:
    model_cfg, cfg, _ = CASES["binarized, KL warm-up, cosine"]
    eager, _, eager_state = train_with(train_epoch, model_cfg, cfg, mnist_sample)
    warmed, warmed_opt, warmed_state = train_with(WarmUpOnly(capture=False), model_cfg, cfg, mnist_sample)
    assert warmed_state.history == eager_state.history
    assert all(torch.equal(p, q) for p, q in zip(eager.parameters(), warmed.parameters(), strict=True))
    assert isinstance(warmed_opt.param_groups[0]["lr"], float) and not warmed_opt.param_groups[0]["capturable"]


def test_a_step_in_a_tensor_gives_the_same_kl_weight() -> None:
    cfg = LossConfig(beta=3.0, warmup_steps=7)
    for step in range(12):
        weight = kl_weight(torch.tensor(step), cfg)
        assert weight.dtype == torch.float32 and weight == torch.tensor(kl_weight(step, cfg), dtype=torch.float32)


def test_a_nan_loss_stops_at_the_end_of_the_epoch_with_a_clear_message() -> None:
    model = VAE(VAEConfig(latent_dim=2, hidden=8))
    x = torch.full((4, 1, 28, 28), float("nan"))
    cfg = TrainConfig(epochs=1)
    with pytest.raises(TrainingDiverged, match="nan in epoch 1: lower --lr"):
        DeviceEpochs()(objective(model, 4, cfg, Replica()), make_optimizer(model, cfg), x, None, cfg, TrainState(),
                       progress=False)


def test_capture_needs_cuda_and_one_process() -> None:
    model = VAE(VAEConfig(latent_dim=2, hidden=8))
    cfg = TrainConfig(epochs=1)
    args = (objective(model, 4, cfg, Replica()), make_optimizer(model, cfg), torch.zeros(4, 1, 28, 28), None, cfg)
    with pytest.raises(ValueError, match="captured in CUDA graphs.* not captured on cpu"):
        DeviceEpochs(capture=True)(*args, TrainState(), progress=False)
    with pytest.raises(ValueError, match="one process"):
        DeviceEpochs()(*args, TrainState(), progress=False, replica=Replica(0, 2))


def test_train_py_cuda_graph_on_a_cpu_trains_the_same_weights(tmp_path: Path, sample_dir: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    common = ["--data-dir", str(sample_dir), *TINY, "--binarize", "--epochs", "2", "--lr-schedule", "onecycle",
              "--name", "t", "--device", "cpu"]
    train_cli.main([*common, "--out-dir", str(tmp_path / "a"), "--run-dir", str(tmp_path / "ra")])
    train_cli.main([*common, "--cuda-graph", "--out-dir", str(tmp_path / "b"), "--run-dir", str(tmp_path / "rb")])
    assert "no CUDA here: the device steps run eagerly" in capsys.readouterr().out
    eager, meta = load_tensors(tmp_path / "a" / "t.safetensors")
    graphed, graphed_meta = load_tensors(tmp_path / "b" / "t.safetensors")
    assert [h["epoch"] for h in graphed_meta["history"]] == [1, 2]
    assert all(torch.equal(eager[k], graphed[k]) for k in eager if not k.startswith("extra."))


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CUDA graphs)")


def curve(state: TrainState) -> list[float]:
    """The test -ELBO after each epoch."""
    return [h["test_nelbo"] for h in state.history]


@CUDA
def test_cuda_graph_replays_follow_the_eager_steps(mnist_sample: dict[str, torch.Tensor]) -> None:
    """784-400-20, the fast recipe, 3,000 images: 23 replays of the full batch and one of the last (56) an epoch."""
    cfg = TrainConfig(epochs=2, lr=5e-3, lr_schedule="onecycle", mean_image_init=True)
    runs = {name: train_with(run, VAEConfig(), cfg, mnist_sample, device="cuda", images=3000)[2]
            for name, run in (("eager", train_epoch), ("graph", DeviceEpochs()))}
    assert_follows(curve(runs["graph"]), curve(runs["eager"]))


@CUDA
def test_cuda_graph_of_a_conv_iwae_step_with_warm_up_follows_the_eager_steps(mnist_sample: dict[str, torch.Tensor]
                                                                              ) -> None:
    cfg = TrainConfig(epochs=2, batch_size=100, lr=3e-3, binarize=True, warmup_epochs=1.0, iw_samples=3)
    assert_follows(conv_curve(mnist_sample, "cuda", cfg, DeviceEpochs()), conv_curve(mnist_sample, "cuda", cfg))


@CUDA
@pytest.mark.parametrize("capture", [True, False])
def test_cuda_device_steps_never_wait_for_the_gpu(mnist_sample: dict[str, torch.Tensor], capture: bool) -> None:
    """A whole epoch of steps, replayed or eager, with PyTorch set to fail on anything that syncs with the GPU."""
    runner = DeviceEpochs(capture)
    cfg = TrainConfig(epochs=2, lr_schedule="onecycle", warmup_epochs=1.0)
    train_with(runner, SMALL_CONV, cfg, mnist_sample, device="cuda")
    steps = runner.steps
    steps.start_epoch(TrainState(epoch=1))
    torch.cuda.synchronize()
    with learning_rate_from(steps.opt, steps.lr):
        torch.cuda.set_sync_debug_mode("error")
        try:
            for i in range(steps.n_steps):
                (steps.full if i < steps.n_full else steps.last)()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(steps.total) and steps.step.item() == 2 * steps.n_steps
