"""Shared fixtures: a small real MNIST sample shipped in tests/data, and the full set when provided."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# The apps these tests launch cache files in a folder of their own: on closing, Gradio deletes what its app cached,
# and in a shared /tmp/gradio those were the very files (named by their content) a running `python app.py` served.
os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="vae-tests-gradio-")
atexit.register(shutil.rmtree, os.environ["GRADIO_TEMP_DIR"], ignore_errors=True)

SAMPLE = Path(__file__).parent / "data" / "mnist-sample.npz"
ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="session")
def mnist_sample() -> dict[str, torch.Tensor]:
    """3,000 training and 1,000 test digits from real MNIST (uint8 images, int64 labels)."""
    with np.load(SAMPLE) as f:
        return {k: torch.from_numpy(f[k]).long() if "labels" in k else torch.from_numpy(f[k]) for k in f.files}


DATA_ENV = {"mnist": "VAE_DATA_DIR", "fashion-mnist": "VAE_FASHION_DIR"}


def dataset_dir(dataset: str) -> Path:
    """Where the full dataset is (CI sets both variables); skips the calling test when it is not provided."""
    value = os.environ.get(DATA_ENV[dataset])
    if not value:
        pytest.skip(f"full {dataset} not provided: set {DATA_ENV[dataset]} (see .ci/run)")
    return Path(value)


@pytest.fixture(scope="session")
def full_data_dir() -> Path:
    """The full MNIST, from VAE_DATA_DIR (e.g. ../shared/data); tests that need it skip without it."""
    return dataset_dir("mnist")


def write_idx_gz(path: Path, array: np.ndarray) -> None:
    """Write an array in the original MNIST IDX format, gzipped (as Debian ships Fashion-MNIST)."""
    import gzip

    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory, mnist_sample: dict[str, torch.Tensor]) -> Path:
    """The shipped sample as a folder of .gz IDX files, which train.py --data-dir reads."""
    root = tmp_path_factory.mktemp("mnist-idx")
    for split, prefix in (("train", "train"), ("test", "t10k")):
        write_idx_gz(root / f"{prefix}-images-idx3-ubyte.gz", mnist_sample[f"{split}_images"].numpy())
        write_idx_gz(root / f"{prefix}-labels-idx1-ubyte.gz", mnist_sample[f"{split}_labels"].numpy())
    return root


@pytest.fixture(scope="session")
def small_model(mnist_sample: dict[str, torch.Tensor]):
    """A small MLP VAE trained for a few epochs on the sample: real enough for metric tests."""
    from vae.data import to_float
    from vae.model import VAE, VAEConfig
    from vae.training import TrainConfig, TrainState, fit

    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=8, hidden=128))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    train = (to_float(mnist_sample["train_images"]), mnist_sample["train_labels"])
    test = (to_float(mnist_sample["test_images"][:200]), mnist_sample["test_labels"][:200])
    fit(model, opt, train, test, TrainConfig(epochs=4, batch_size=64, lr=2e-3), TrainState(), progress=False)
    return model.eval()
