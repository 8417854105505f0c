"""Loading the datasets (and saying clearly when they cannot be), and binarizing them."""

import functools
import gzip
import hashlib
import http.server
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

import train as train_cli
from tests.conftest import ROOT, write_idx_gz
from vae.data import DatasetError, batch_indices, binarize, evaluation_inputs, load_split, read_idx, to_float

IDX_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz"]


def test_idx_round_trip(tmp_path: Path) -> None:
    array = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28))
    write_idx_gz(tmp_path / "a-idx3-ubyte.gz", array)
    assert np.array_equal(read_idx(tmp_path / "a-idx3-ubyte.gz").numpy(), array)


def test_load_split_from_a_folder_of_idx_files(sample_dir: Path, mnist_sample: dict[str, torch.Tensor]) -> None:
    images, labels = load_split("fashion-mnist", sample_dir, train=False, download=False)
    assert images.shape == (1000, 28, 28) and images.dtype == torch.uint8
    assert torch.equal(labels, mnist_sample["test_labels"])


def test_unknown_dataset_is_named() -> None:
    with pytest.raises(ValueError, match="cifar"):
        load_split("cifar", ".", train=True)


def test_missing_dataset_without_download_says_so(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found: the files are not there and downloading is off") as e:
        load_split("mnist", tmp_path, train=False, download=False)
    assert str(tmp_path) in str(e.value) and "--data-dir FOLDER" in str(e.value)


def closed_port_url() -> str:
    """An http URL on which nothing listens: a download from it fails at once, as without network."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


def test_train_py_without_data_and_network_prints_one_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [closed_port_url()])
    with pytest.raises(SystemExit) as e:
        train_cli.main(["--data-dir", str(tmp_path / "data"), "--no-progress", "--run-dir", str(tmp_path)])
    message = str(e.value.code)
    assert message.startswith("mnist training set not found: the files are not there and the download failed")
    assert str((tmp_path / "data").resolve()) in message and "--data-dir FOLDER" in message
    assert all(name in message for name in IDX_FILES)
    assert "Traceback" not in capsys.readouterr().out


def test_train_py_process_without_data_exits_with_the_message_only(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "train.py", "--data-dir", str(tmp_path), "--no-download",
                           "--run-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and done.stderr.startswith("mnist training set not found"), done.stderr


@pytest.fixture
def mirror(sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """torchvision's MNIST download pointed at a local HTTP server holding the sample's idx files."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(sample_dir))
    handler.log_message = lambda *_: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    md5 = [(name, hashlib.md5((sample_dir / name).read_bytes()).hexdigest()) for name in IDX_FILES]
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [f"http://127.0.0.1:{server.server_port}/"])
    monkeypatch.setattr(torchvision.datasets.MNIST, "resources", md5)
    yield
    server.shutdown()


def test_download_still_works(tmp_path: Path, mirror: None, mnist_sample: dict[str, torch.Tensor]) -> None:
    images, labels = load_split("mnist", tmp_path, train=False, download=True)
    assert torch.equal(images, mnist_sample["test_images"]) and torch.equal(labels, mnist_sample["test_labels"])
    assert (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()


def truncate(path: Path, keep: float = 0.5) -> None:
    """Cut a file short, as an interrupted download leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("damage", ["truncated gzip", "truncated idx", "not idx"])
def test_damaged_idx_file_is_named(tmp_path: Path, sample_dir: Path, damage: str) -> None:
    shutil.copytree(sample_dir, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    if damage == "truncated gzip":
        truncate(path)
    else:
        raw = gzip.decompress(path.read_bytes())
        path.write_bytes(gzip.compress(raw[: len(raw) // 2] if damage == "truncated idx" else b"<html>" + raw))
    with pytest.raises(DatasetError, match="delete it and download it again") as e:
        load_split("mnist", tmp_path, train=False, download=False)
    assert str(path) in str(e.value)


def test_train_py_with_a_damaged_torchvision_file_says_which(tmp_path: Path, sample_dir: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in IDX_FILES:
        (raw / name.removesuffix(".gz")).write_bytes(gzip.decompress((sample_dir / name).read_bytes()))
    truncate(raw / "train-images-idx3-ubyte")
    with pytest.raises(SystemExit, match="train-images-idx3-ubyte is not a complete IDX file.*delete it and download"):
        train_cli.main(["--data-dir", str(tmp_path), "--no-download", "--no-progress", "--run-dir", str(tmp_path)])


def test_binarization_is_reproducible_and_has_the_right_mean(mnist_sample: dict[str, torch.Tensor]) -> None:
    x = to_float(mnist_sample["test_images"])
    a = binarize(x, torch.Generator().manual_seed(1))
    b = binarize(x, torch.Generator().manual_seed(1))
    c = binarize(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(a.unique().tolist()) == {0.0, 1.0}
    assert a.mean() == pytest.approx(float(x.mean()), abs=2e-3)
    once = evaluation_inputs(mnist_sample["test_images"], True)
    assert torch.equal(once, evaluation_inputs(mnist_sample["test_images"], True))


def test_batches_cover_every_index_once() -> None:
    batches = list(batch_indices(1001, 100, torch.Generator().manual_seed(0)))
    assert len(batches) == 11 and torch.equal(torch.cat(batches).sort().values, torch.arange(1001))


def test_full_mnist_loads_through_torchvision(full_data_dir: Path) -> None:
    images, labels = load_split("mnist", full_data_dir, train=True, download=False)
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)
    assert load_split("mnist", full_data_dir, train=False, download=False)[0].shape == (10000, 28, 28)
