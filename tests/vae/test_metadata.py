"""Weights metadata as typed dataclasses: the shipped files read and write the same JSON, a bad one is refused, and
scripts/set_default.py flags the model a visitor sees first."""

import json
from pathlib import Path

import pytest
import torch

from scripts.set_default import main as set_default
from tests.helpers import WEIGHTS, tiny_metadata
from vae.checkpoint import CheckpointError, load_tensors, save_tensors
from vae.loaded import default_model, load_model, load_models, save_model
from vae.metadata import ModelMetadata, TrainConfig
from vae.model import VAE, VAEConfig, reparameterize

SHIPPED = pytest.mark.parametrize("path", sorted(WEIGHTS.glob("*.safetensors")), ids=lambda p: p.stem)


@SHIPPED
def test_shipped_metadata_reads_and_writes_the_same_json(path: Path) -> None:
    _, raw = load_tensors(path)
    metadata = ModelMetadata.from_dict(raw)
    # Files written before a setting existed get its default: a training setting, or one stochastic layer.
    assert metadata.to_dict() == {**raw, "train": {**TrainConfig().to_dict(), **raw["train"]},
                                  "config": {"lower_dim": 0, **raw["config"]}}
    assert ModelMetadata.from_dict(json.loads(json.dumps(metadata.to_dict()))) == metadata
    assert metadata.train.seed == raw["seed"]


def test_a_saved_model_loads_with_equal_metadata(tmp_path: Path) -> None:
    model = VAE(VAEConfig(latent_dim=3, hidden=16))
    metadata = tiny_metadata(model, {"kl_per_dim": [0.5, 2.0, 1.0]}, class_names=list("abcdefghij"), default=True)
    save_model(tmp_path / "m.safetensors", model, metadata)
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.metadata == metadata and loaded.ranking == [1, 2, 0] and loaded.class_names == list("abcdefghij")


def test_metadata_of_another_model_is_refused(tmp_path: Path) -> None:
    model = VAE(VAEConfig(latent_dim=3, hidden=16))
    with pytest.raises(ValueError, match="not the model's"):
        save_model(tmp_path / "m.safetensors", model, tiny_metadata(VAE(VAEConfig(latent_dim=4, hidden=16))))


def test_set_default_flags_one_model_and_keeps_the_tensors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for name in ("a-first", "b-second"):
        model = VAE(VAEConfig(latent_dim=4, hidden=16))
        save_model(tmp_path / f"{name}.safetensors", model, tiny_metadata(model))
    assert default_model(load_models(tmp_path)[0]) == "a-first"  # no flag: the first MNIST VAE
    before = load_tensors(tmp_path / "b-second.safetensors")[0]
    set_default(["b-second", "--weights", str(tmp_path)])
    assert default_model(load_models(tmp_path)[0]) == "b-second"
    assert all(torch.equal(before[k], t) for k, t in load_tensors(tmp_path / "b-second.safetensors")[0].items())
    set_default(["a-first", "--weights", str(tmp_path)])  # the flag moves: one default at a time
    flags = {name: m.metadata.default for name, m in load_models(tmp_path)[0].items()}
    assert flags == {"a-first": True, "b-second": False}
    assert "rewrote: a-first, b-second" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no weights file"):
        set_default(["c-missing", "--weights", str(tmp_path)])


@pytest.mark.parametrize("damage", ["dataset", "metrics", "config"])
def test_metadata_without_a_required_part_is_a_clear_error(tmp_path: Path, damage: str) -> None:
    model = VAE(VAEConfig(latent_dim=3, hidden=16))
    raw = tiny_metadata(model).to_dict()
    del raw[damage]
    save_tensors(tmp_path / "m.safetensors", dict(model.state_dict()), raw)
    with pytest.raises(CheckpointError, match=f"no valid model metadata.*{damage}.*train.py"):
        load_model(tmp_path / "m.safetensors")


def test_reparameterize_draws_from_the_posterior_repeatably() -> None:
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, 2 * torch.log(torch.tensor(3.0))]])  # sigma 1 and 3
    z = reparameterize(mu, logvar, 20_000, torch.Generator().manual_seed(1))
    assert z.shape == (20_000, 2)
    assert torch.allclose(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.1)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 3.0]), atol=0.1)
    assert torch.equal(z, reparameterize(mu, logvar, 20_000, torch.Generator().manual_seed(1)))
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.tensor([[20_000.0, 20_000.0]]))
    assert reparameterize(mu.expand(5, 2), logvar.expand(5, 2)).shape == (5, 2)  # one z per row
