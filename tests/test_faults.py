"""Training and saving survive being killed: resume after SIGKILL, and no half-written weights."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from tests.test_training import ROOT, TINY
from vae.checkpoint import load_model, load_tensors, save_model
from vae.model import VAE, VAEConfig


def _train_cmd(sample_dir: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "train.py", "--data-dir", str(sample_dir), *TINY, "--epochs", "3",
            "--out-dir", str(out / "w"), "--run-dir", str(out / "r"), "--name", "k", *extra]


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path: Path, sample_dir: Path) -> None:
    straight = subprocess.run(_train_cmd(sample_dir, tmp_path / "a"), cwd=ROOT, capture_output=True, timeout=300)
    assert straight.returncode == 0, straight.stderr
    proc = subprocess.Popen(_train_cmd(sample_dir, tmp_path / "b"), cwd=ROOT, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:  # kill as soon as epoch 1 is saved, i.e. during epoch 2
        if line.startswith("epoch   1"):
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "b" / "w" / "k.safetensors").exists()
    resumed = subprocess.run(_train_cmd(sample_dir, tmp_path / "b", "--resume"), cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    a = load_model(tmp_path / "a" / "w" / "k.safetensors").metadata["metrics"]["test_nelbo"]
    b = load_model(tmp_path / "b" / "w" / "k.safetensors").metadata["metrics"]["test_nelbo"]
    assert abs(a - b) < 1.0


SAVER = """
import sys, torch
from vae.checkpoint import save_model
from vae.model import VAE, VAEConfig
model = VAE(VAEConfig(latent_dim=2, hidden=2000))
print("ready", flush=True)
while True:
    save_model(sys.argv[1], model, {"round": 1})
"""


def test_sigkill_while_saving_leaves_the_previous_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_model(path, VAE(VAEConfig(latent_dim=2, hidden=2000)), {"round": 0})
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    for _ in range(5):  # kill at different points of the write cycle
        time.sleep(0.15)
        _, meta = load_tensors(path)  # every read in between sees a complete file
        assert meta["round"] in (0, 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    tensors, meta = load_tensors(path)
    assert meta["round"] in (0, 1) and tensors["enc_hidden.weight"].shape == (2000, 784)
    leftovers = [p for p in tmp_path.iterdir() if p != path]
    assert all(p.name.endswith(".tmp") for p in leftovers)  # at most the killed write's temp file
    assert torch.equal(load_model(path).model.enc_hidden.weight, tensors["enc_hidden.weight"])
