"""Data-parallel training: 2 CPU processes (gloo) follow the path of one process with the same global batch."""

import subprocess
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

import train
from tests.conftest import ROOT
from tests.helpers import TINY
from vae.data import to_float
from vae.loaded import load_model, load_models
from vae.model import VAE, VAEConfig
from vae.training import TrainConfig, TrainState, fit, make_optimizer

FIRST_STEPS = TrainConfig(epochs=1, batch_size=128, lr=3e-3, binarize=True)


def train_first_steps(x: torch.Tensor) -> VAE:
    """Three steps (384 images, batch 128) from a fixed initialisation, in whatever process group is running."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=4, hidden=64))
    fit(model, make_optimizer(model, FIRST_STEPS), (x, torch.zeros(len(x))), (x[:10], torch.zeros(10)), FIRST_STEPS,
        TrainState(), progress=False)
    return model


def replica_worker(rank: int, world: int, store: str, x: torch.Tensor, out: str) -> None:
    """One process of the group (one core each, as torchrun sets it): train, and rank 0 writes its parameters."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    model = train_first_steps(x)
    if rank == 0:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out)
    dist.destroy_process_group()


def test_two_processes_take_the_same_first_steps_as_one(tmp_path: Path, mnist_sample: dict[str, torch.Tensor]) -> None:
    x = to_float(mnist_sample["train_images"][:384])
    mp.spawn(replica_worker, args=(2, str(tmp_path / "store"), x, str(tmp_path / "p.safetensors")), nprocs=2)
    distributed = load_file(tmp_path / "p.safetensors")
    single = train_first_steps(x).state_dict()
    initial = VAE(VAEConfig(latent_dim=4, hidden=64)).state_dict()
    for k, v in single.items():
        torch.testing.assert_close(distributed[k], v, rtol=1e-5, atol=1e-5)
    assert any(not torch.equal(initial[k], v) for k, v in single.items())  # the steps moved the weights


def flags(data: Path, out: Path, *extra: str) -> list[str]:
    """train.py's flags for a tiny run on the sample, writing under `out`."""
    return ["--data-dir", str(data), *TINY, "--binarize", "--name", "t", "--out-dir", str(out / "weights"),
            "--run-dir", str(out / "runs"), *extra]


def torchrun(*args: str) -> str:
    """`torchrun --nproc_per_node=2 train.py ARGS` on this machine's CPU; return what it printed."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "train.py", *args]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_torchrun_matches_one_process_writes_loadable_weights_and_resumes(tmp_path: Path, sample_dir: Path) -> None:
    printed = torchrun(*flags(sample_dir, tmp_path / "ddp", "--epochs", "1"))
    train.main(flags(sample_dir, tmp_path / "one", "--epochs", "1"))
    assert printed.count("epoch   1") == 1 and "torchrun: 2 processes, each 128 images" in printed  # rank 0 alone
    ddp, one = (load_model(tmp_path / run / "weights" / "t.safetensors") for run in ("ddp", "one"))
    assert abs(ddp.metadata.history[0].test_nelbo - one.metadata.history[0].test_nelbo) < 0.1
    models, problems = load_models(tmp_path / "ddp" / "weights")
    assert list(models) == ["t"] and not problems

    torchrun(*flags(sample_dir, tmp_path / "ddp", "--epochs", "2", "--resume"))
    resumed = load_model(tmp_path / "ddp" / "weights" / "t.safetensors").metadata
    assert [h.epoch for h in resumed.history] == [1, 2] and resumed.command.endswith("--resume")
