"""Weights files: exact round trip, and a clear error for every way a file can be wrong."""

import pickle
from pathlib import Path

import pytest
import torch

from tests.helpers import tiny_metadata
from vae.checkpoint import CheckpointError, atomic_write, save_tensors
from vae.loaded import load_model, save_model
from vae.model import VAE, VAEConfig


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, VAE]:
    torch.manual_seed(0)
    model = VAE(VAEConfig(arch="conv", latent_dim=3, hidden=32, channels=(4, 8), num_classes=10)).eval()
    path = tmp_path / "m.safetensors"
    save_model(path, model, tiny_metadata(model, {"test_nelbo": 1.5}), {"scores": torch.arange(5.0)})
    return path, model


def test_round_trip_gives_identical_outputs(saved: tuple[Path, VAE]) -> None:
    path, model = saved
    loaded = load_model(path)
    z, y = torch.randn(6, 3), torch.arange(6)
    assert torch.equal(loaded.model.decode(z, y), model.decode(z, y))
    assert loaded.model.config == model.config
    assert loaded.metadata == tiny_metadata(model, {"test_nelbo": 1.5})
    assert torch.equal(loaded.extras["scores"], torch.arange(5.0))
    assert not loaded.model.training


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="No weights file.*train.py"):
        load_model(tmp_path / "nope.safetensors")


@pytest.mark.parametrize("keep", [0, 5, 100, -100])
def test_truncated_file(saved: tuple[Path, VAE], keep: int) -> None:
    path, _ = saved
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(CheckpointError, match="truncated|not a safetensors"):
        load_model(path)


def test_tampered_tensor_bytes(saved: tuple[Path, VAE]) -> None:
    path, _ = saved
    data = bytearray(path.read_bytes())
    data[-7] ^= 0x55  # flip bits inside the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_model(path)


def test_mismatched_config(tmp_path: Path) -> None:
    small = VAE(VAEConfig(latent_dim=2))
    path = tmp_path / "mixed.safetensors"
    save_tensors(path, dict(small.state_dict()), tiny_metadata(VAE(VAEConfig(latent_dim=20))).to_dict())
    with pytest.raises(CheckpointError, match="do not fit its config"):
        load_model(path)


def test_pickle_is_refused_without_unpickling(tmp_path: Path) -> None:
    for name, payload in [("m.pt", None), ("m.pkl", pickle.dumps({"a": 1}))]:
        path = tmp_path / name
        if payload is None:
            torch.save(VAE(VAEConfig(latent_dim=2)).state_dict(), path)
        else:
            path.write_bytes(payload)
        with pytest.raises(CheckpointError, match="pickle"):
            load_model(path)


def test_header_length_that_spells_a_pickle_signature_still_loads(tmp_path: Path) -> None:
    model, path = VAE(VAEConfig(latent_dim=2, hidden=8)), tmp_path / "pk.safetensors"
    save_model(path, model, tiny_metadata(model, command=""))
    base = int.from_bytes(path.read_bytes()[:8], "little")
    for pad in range(0x4B50 - base - 8, 0x4B50 - base + 8):  # header length 0x4B50: its bytes read b"PK"
        save_model(path, model, tiny_metadata(model, command="x" * pad))
        if path.read_bytes()[:2] == b"PK":
            break
    assert path.read_bytes()[:2] == b"PK"
    assert load_model(path).metadata.command == "x" * pad


def test_foreign_safetensors_file(tmp_path: Path) -> None:
    import safetensors.torch

    path = tmp_path / "other.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="not written by this project"):
        load_model(path)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "w.bin"
    atomic_write(path, b"old")

    def fail(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("vae.checkpoint.os.fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, b"new")
    assert path.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind
