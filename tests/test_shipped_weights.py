"""Every weights file in weights/ loads, and its recorded test metrics are reproduced from it."""

from pathlib import Path

import pytest
import torch

from vae.checkpoint import load_model
from vae.data import evaluation_inputs, load_split
from vae.evaluate import elbo_terms

WEIGHTS = sorted((Path(__file__).parent.parent / "weights").glob("*.safetensors"))
SHIPPED = pytest.mark.parametrize("path", WEIGHTS, ids=[p.stem for p in WEIGHTS])


def test_the_promised_models_are_shipped() -> None:
    names = {p.stem for p in WEIGHTS}
    assert {"mlp-20d", "mlp-2d"} <= names


@SHIPPED
def test_loads_with_complete_metadata(path: Path) -> None:
    ckpt = load_model(path)
    meta = ckpt.metadata
    assert meta["command"].startswith("python train.py")
    assert {"test_nelbo", "test_nll", "nll_k", "kl_per_dim", "active_units"} <= set(meta["metrics"])
    assert len(meta["metrics"]["kl_per_dim"]) == ckpt.model.config.latent_dim
    assert meta["train_seconds"] > 0 and meta["epochs"] == meta["train"]["epochs"]
    scores = ckpt.extras["test_nelbo_sorted"]
    assert torch.all(scores[1:] >= scores[:-1])


@SHIPPED
def test_reproduces_recorded_test_elbo(path: Path, full_data_dir: Path) -> None:
    ckpt = load_model(path)
    images, labels = load_split(ckpt.metadata["dataset"], full_data_dir, train=False, download=False)
    x = evaluation_inputs(images, ckpt.metadata["train"]["binarize"])
    nelbo = float(elbo_terms(ckpt.model, x, labels)["nelbo"].mean())
    assert nelbo == pytest.approx(ckpt.metadata["metrics"]["test_nelbo"], abs=0.5)
