"""Training and saving survive being killed: resume after SIGKILL, and no half-written weights."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT
from tests.helpers import TINY, tiny_metadata
from vae.checkpoint import load_tensors
from vae.loaded import load_model, save_model
from vae.model import VAE, VAEConfig


def _train_cmd(sample_dir: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "train.py", "--data-dir", str(sample_dir), *TINY, "--epochs", "3",
            "--out-dir", str(out / "w"), "--run-dir", str(out / "r"), "--name", "k", *extra]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> float:
    """The final test -ELBO of the tiny run, trained in one go."""
    out = tmp_path_factory.mktemp("straight")
    done = subprocess.run(_train_cmd(sample_dir, out), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return load_model(out / "w" / "k.safetensors").metadata.metrics.test_nelbo


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["SIGKILL", "Ctrl-C", "kill"])
def test_interrupted_mid_epoch_then_resumed_matches_an_uninterrupted_run(
    tmp_path: Path, sample_dir: Path, uninterrupted: float, sig: signal.Signals
) -> None:
    proc = subprocess.Popen(_train_cmd(sample_dir, tmp_path), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:  # interrupt as soon as epoch 1 is saved, i.e. early in epoch 2
        if line.startswith("epoch   1"):
            os.kill(proc.pid, sig)
            break
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:  # Ctrl-C or kill: a resumable state is saved first, and the user is told how to go on
        assert proc.returncode == 1 and "--resume" in err
    assert not (tmp_path / "w" / "k.safetensors").exists()
    resumed = subprocess.run(_train_cmd(sample_dir, tmp_path, "--resume"), cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    meta = load_model(tmp_path / "w" / "k.safetensors").metadata
    assert [h.epoch for h in meta.history] == [1, 2, 3]
    assert abs(meta.metrics.test_nelbo - uninterrupted) < 1.0


SAVER = """
import sys, torch

from vae.loaded import save_model
from vae.model import VAE, VAEConfig
model = VAE(VAEConfig(latent_dim=2, hidden=2000))
print("ready", flush=True)
while True:
    save_model(sys.argv[1], model, tiny_metadata(model, command="round 1"))
"""


def test_sigkill_while_saving_leaves_the_previous_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    model = VAE(VAEConfig(latent_dim=2, hidden=2000))
    save_model(path, model, tiny_metadata(model, command="round 0"))
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    for _ in range(5):  # kill at different points of the write cycle
        time.sleep(0.15)
        _, meta = load_tensors(path)  # every read in between sees a complete file
        assert meta["command"] in ("round 0", "round 1")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    tensors, meta = load_tensors(path)
    assert meta["command"] in ("round 0", "round 1") and tensors["enc_hidden.weight"].shape == (2000, 784)
    leftovers = [p for p in tmp_path.iterdir() if p != path]
    assert all(p.name.endswith(".tmp") for p in leftovers)  # at most the killed write's temp file
    assert torch.equal(load_model(path).model.enc_hidden.weight, tensors["enc_hidden.weight"])
