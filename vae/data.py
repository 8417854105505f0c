"""Datasets as whole tensors on the training device, minibatched by shuffled indices.

MNIST is 47 MB as float32: it fits on any device, so a training step is one index-select
instead of 128 PIL conversions: most of the speed-up over the classic loop (docs/benchmarks.md).
"""

import contextlib
import gzip
import io
import math
from collections.abc import Iterator
from pathlib import Path
from urllib.error import URLError

import numpy as np
import torch
from torch import Tensor

CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
}
# How each dataset framed its objects in 28x28: MNIST scaled digits to fit 20x20 (centred by
# mass, 4-px margin); Fashion-MNIST scaled items to fill the whole 28x28 frame.
BOX_SIDES = {"mnist": 20, "fashion-mnist": 28}  # the `box` of pictures.digitize.find_digit
# torchvision's dataset class for each, which is also the folder it downloads into (ROOT/CLASS/raw)
_TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}


class DatasetError(RuntimeError):
    """The dataset is missing, cannot be downloaded, or a file of it is damaged; the message says what to do."""


def idx_names(train: bool) -> tuple[str, str]:
    """The original file names of one split's images and labels."""
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


def read_idx(path: Path) -> Tensor:
    """Read one IDX file (the original MNIST format), gzipped or not, as a uint8 tensor.

    A damaged file (truncated download, wrong file) raises DatasetError naming it.
    """
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DatasetError(f"{path} cannot be read ({e}): it is damaged; delete it and download it again") from e
    ndim = raw[3] if len(raw) > 3 and raw[:3] == b"\0\0\x08" else 0
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = 4 + 4 * ndim + math.prod(shape)
    if ndim == 0 or len(raw) != expected:
        raise DatasetError(f"{path} is not a complete IDX file of bytes ({len(raw):,} bytes"
                           + (f", its header promises {expected:,}" if ndim else ", no IDX header")
                           + "): it is truncated or damaged; delete it and download it again")
    return torch.from_numpy(np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape).copy())


def missing_message(dataset: str, root: Path, train: bool, reason: str) -> str:
    """What a user without the files (or without network) needs to know: where we looked, how to point us."""
    images, labels = idx_names(train)
    raw = root / _TORCHVISION[dataset] / "raw"
    return (f"{dataset} {'training' if train else 'test'} set not found: {reason}.\n"
            f"Looked in {root.resolve()} for {images} and {labels}, and in {raw.resolve()} (torchvision's layout).\n"
            f"Put the four original idx files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            f"t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in one folder and pass it: --data-dir FOLDER")


def failure_reason(e: Exception) -> str:
    """torchvision's error, in a few words: nothing there, no download, or a damaged file."""
    last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    if "Error downloading" in str(e):
        return f"the files are not there and the download failed ({last})"
    if "Dataset not found" in str(e):
        return "the files are not there and downloading is off (--no-download)"
    return f"a file there is damaged ({last}); delete it to download it again"


def local_copies(dataset: str, root: Path, train: bool) -> list[tuple[Path, Path]]:
    """Where one split's (images, labels) files may lie already: gzipped in `root`, or as torchvision unpacks them."""
    gzipped = tuple(root / name for name in idx_names(train))
    return [gzipped, tuple(root / _TORCHVISION[dataset] / "raw" / p.name.removesuffix(".gz") for p in gzipped)]


def load_split(dataset: str, root: str | Path, train: bool, download: bool = True) -> tuple[Tensor, Tensor]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of one split.

    `root` is either torchvision's root folder (downloaded there when `download`) or a folder
    holding the four original `*-idx?-ubyte.gz` files directly, as Debian's
    `dataset-fashion-mnist` installs them in /usr/share/datasets/fashion-mnist. Files already there
    are read directly; torchvision is used only to download. Anything that stops it (no files and
    no network, a damaged file) raises DatasetError with a message for people.
    """
    if dataset not in _TORCHVISION:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {sorted(_TORCHVISION)}")
    root = Path(root)
    for images, labels in local_copies(dataset, root, train):
        if images.exists():
            return read_idx(images), read_idx(labels).long()
    import torchvision  # only to download: it imports torch._dynamo, a large part of train.py's start-up (docs/gpu.md)

    log = io.StringIO()  # torchvision prints each failed mirror; on success it is passed on
    try:
        with contextlib.redirect_stdout(log):
            ds = getattr(torchvision.datasets, _TORCHVISION[dataset])(str(root), train=train, download=download)
    except (RuntimeError, URLError, OSError) as e:
        raise DatasetError(missing_message(dataset, root, train, failure_reason(e))) from e
    print(log.getvalue(), end="")
    return ds.data, ds.targets


def to_float(images: Tensor, device: torch.device | str = "cpu") -> Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1] on `device`."""
    return images.to(device).unsqueeze(1).float().div_(255.0)


def binarize(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw each pixel as Bernoulli(intensity): the standard 'dynamically binarized' MNIST."""
    return torch.bernoulli(x, generator=generator)


def permutation(n: int, generator: torch.Generator) -> Tensor:
    """range(n) shuffled, on the generator's device: one epoch's order of the images."""
    return torch.randperm(n, generator=generator, device=generator.device)


def batch_indices(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Shuffled minibatch index tensors covering range(n) once."""
    yield from permutation(n, generator).split(batch_size)


TEST_BINARIZATION_SEED = 0  # the binarized test set is drawn once, with this seed, for every model


def evaluation_inputs(images: Tensor, binarized: bool, device: torch.device | str = "cpu") -> Tensor:
    """Test images as the model is measured on: grey levels, or binarized once with a fixed seed."""
    x = to_float(images, device)
    if not binarized:
        return x
    return binarize(x, torch.Generator(device=x.device).manual_seed(TEST_BINARIZATION_SEED))
