"""Loading the datasets and binarizing them."""

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import write_idx_gz
from vae.data import batch_indices, binarize, evaluation_inputs, load_split, read_idx, to_float


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
    with pytest.raises(RuntimeError, match="not found"):
        load_split("mnist", tmp_path, train=False, download=False)


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
