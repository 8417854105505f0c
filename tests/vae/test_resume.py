"""The resume file: a run saved mid-way comes back whole, also from files written by older versions."""

from pathlib import Path

import torch

from vae.checkpoint import load_tensors, save_tensors
from vae.model import VAE, VAEConfig
from vae.training import Run, TrainConfig, TrainState, load_resume, make_optimizer, save_resume


def saved_run(path: Path) -> tuple[VAE, Run]:
    """A tiny model after one Adam step, saved as a run stopped in epoch 3."""
    torch.manual_seed(0)
    model, cfg = VAE(VAEConfig(latent_dim=3, hidden=16)), TrainConfig(epochs=5, lr=3e-3)
    opt = make_optimizer(model, cfg)
    model.decode(torch.randn(4, 3)).sum().backward()
    opt.step()
    run = Run(model.config, cfg, "mnist", "python train.py --epochs 5", train_seconds=12.5)
    save_resume(path, model, opt, TrainState(epoch=2, step_in_epoch=7, history=[{"epoch": 1}, {"epoch": 2}]), run)
    return model, run


def test_a_saved_run_comes_back_whole(tmp_path: Path) -> None:
    model, run = saved_run(tmp_path / "resume.safetensors")
    resumed, opt, state, back = load_resume(tmp_path / "resume.safetensors", torch.device("cpu"))
    assert back == run and state == TrainState(epoch=2, step_in_epoch=7, history=[{"epoch": 1}, {"epoch": 2}])
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), resumed.state_dict().values(),
                                                  strict=True))
    assert all(len(s) == 3 for s in opt.state_dict()["state"].values())  # Adam's step and both moments


def test_a_resume_file_of_an_older_version_still_loads(tmp_path: Path) -> None:
    """Older versions stored the model config under "model"; the weights file always called it "config"."""
    path = tmp_path / "resume.safetensors"
    _, run = saved_run(path)
    tensors, meta = load_tensors(path)
    meta["model"] = meta.pop("config")
    save_tensors(path, tensors, meta)
    assert load_resume(path, torch.device("cpu"))[3] == run
