"""Where a model puts the test digits: a stored 2-D map of their codes, nearest neighbours, latent arithmetic.

`scripts/project_codes.py` computes, once per shipped model and ahead of time, the posterior means
of the test set and stores in `weights/projections/`:
- `NAME.safetensors`: the codes of a fixed subset of test digits (the first few of each class),
  their 2-D PCA and UMAP coordinates, the PCA axes (so a new code can be placed on the map) and
  the mean code of each class over the whole test set, with the SHA-256 of the network it came from;
- `DATASET.digits.safetensors`: the images and labels of that subset, shared by a dataset's models.
Nothing here runs at start-up: a view calls `load_projection` the first time it needs a map.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from vae.checkpoint import CheckpointError, load_tensors, tensors_sha256
from vae.data import to_float
from vae.loaded import LoadedModel
from vae.model import VAE

FOLDER = "projections"  # inside the weights folder, so vae.loaded.load_models never takes them for models
PER_CLASS = 200  # test digits kept per class: 2,000 points on the map (MNIST's 10,000 would be 7.8 MB of images)
RECOMPUTE = "python scripts/project_codes.py"


class ProjectionError(ValueError):
    """A stored projection that cannot be used (missing, stale, damaged); the message says what to do."""


@dataclass(frozen=True)
class Projection:
    """One model's stored map of test digits: codes, where they land in 2-D, and the class means."""

    codes: Tensor  # (N, D) posterior means of the stored test digits
    labels: Tensor  # (N,) their classes
    images: Tensor  # (N, 28, 28) uint8, the digits themselves
    test_indices: Tensor  # (N,) their positions in the test set
    pca: Tensor  # (N, 2) coordinates on the two PCA axes
    umap: Tensor  # (N, 2) coordinates of the UMAP embedding
    pca_mean: Tensor  # (D,) the mean code the PCA axes start from
    pca_axes: Tensor  # (2, D) the two directions of largest spread, unit length
    pca_explained: tuple[float, float]  # share of the codes' total variance along each PCA axis
    class_means: Tensor  # (C, D) mean code of each class over the whole test set


def projection_path(weights_dir: str | Path, name: str) -> Path:
    """Where the projection of the model `name` is stored."""
    return Path(weights_dir) / FOLDER / f"{name}.safetensors"


def digits_path(weights_dir: str | Path, dataset: str) -> Path:
    """Where the stored test digits of `dataset` are."""
    return Path(weights_dir) / FOLDER / f"{dataset}.digits.safetensors"


def network_sha256(model: VAE) -> str:
    """SHA-256 of the network's tensors: the codes depend on these alone (not on the scores stored beside them)."""
    return tensors_sha256(model.state_dict())


def subset_indices(labels: Tensor, per_class: int = PER_CLASS) -> Tensor:
    """Test-set positions of the first `per_class` digits of each class, in test-set order."""
    chosen = [torch.nonzero(labels == c).flatten()[:per_class] for c in labels.unique()]
    return torch.cat(chosen).sort().values


@torch.no_grad()
def posterior_means(model: VAE, images: Tensor, labels: Tensor, batch_size: int = 1000) -> Tensor:
    """Codes (N, D) of uint8 images (N, 28, 28), as the app encodes a digit: grey levels (and, for a
    conditional model, the true label)."""
    y = labels if model.config.num_classes else None
    return torch.cat([model.encode(to_float(images[i:i + batch_size]),
                                   None if y is None else y[i:i + batch_size])[0]
                      for i in range(0, len(images), batch_size)])


def fit_pca(codes: Tensor) -> tuple[Tensor, Tensor, tuple[float, float]]:
    """Of codes (N, D), D >= 2: the mean, the two principal axes (2, D) and their shares of the variance.

    Each axis points so that its largest entry is positive: a refit gives the same map, not a mirror image."""
    mean = codes.mean(0)
    _, s, vh = torch.linalg.svd(codes - mean, full_matrices=False)
    axes = vh[:2] * vh[:2].gather(1, vh[:2].abs().argmax(1, keepdim=True)).sign()
    share = s.square() / s.square().sum()
    return mean, axes, (float(share[0]), float(share[1]))


def pca_coordinates(z: Tensor, mean: Tensor, axes: Tensor) -> Tensor:
    """Where codes (N, D) land on the PCA map: (N, 2)."""
    return (z - mean) @ axes.T


def class_means(codes: Tensor, labels: Tensor, n_classes: int) -> Tensor:
    """The mean code of each class: (n_classes, D)."""
    return torch.stack([codes[labels == c].mean(0) for c in range(n_classes)])


def _read(path: Path) -> tuple[dict[str, Tensor], dict]:
    if not path.is_file():
        raise ProjectionError(f"No stored projection at {path}: run `{RECOMPUTE}` to compute it.")
    try:
        return load_tensors(path)
    except CheckpointError as e:
        raise ProjectionError(f"{e} (it is written by `{RECOMPUTE}`)") from e


def load_projection(loaded: LoadedModel, weights_dir: str | Path) -> Projection:
    """The stored projection of `loaded`, refused if it was computed from other weights or other digits."""
    path = projection_path(weights_dir, loaded.name)
    tensors, meta = _read(path)
    sha = network_sha256(loaded.model)
    if meta.get("weights_sha256") != sha:
        raise ProjectionError(
            f"{path} is stale: it was computed from weights with SHA-256 {str(meta.get('weights_sha256'))[:12]}..., "
            f"but {loaded.name} now has {sha[:12]}...: run `{RECOMPUTE} --only {loaded.name}` to recompute it.")
    shared = digits_path(weights_dir, loaded.dataset)
    digits, _ = _read(shared)
    if not torch.equal(digits["test_indices"], tensors["test_indices"]):
        raise ProjectionError(f"{path} was computed on other test digits than {shared}: run `{RECOMPUTE}`.")
    return Projection(
        codes=tensors["codes"].float(), labels=digits["labels"].long(), images=digits["images"],
        test_indices=tensors["test_indices"].long(), pca=tensors["pca"].float(), umap=tensors["umap"].float(),
        pca_mean=tensors["pca_mean"], pca_axes=tensors["pca_axes"], pca_explained=tuple(meta["pca_explained"]),
        class_means=tensors["class_means"])


def neighbours(codes: Tensor, z: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Positions in `codes` (N, D) of the k codes nearest to `z` (D,) (Euclidean, in latent space), nearest
    first, and their distances."""
    distances = (codes.float() - z.view(1, -1).float()).norm(dim=1)  # cdist's faster form rounds near ties
    found = distances.topk(min(k, len(codes)), largest=False)
    return found.indices, found.values


def same_class_share(points: Tensor, labels: Tensor, k: int = 5) -> float:
    """Share of each point's k nearest other points (N, d) that have its class: how well a space (the codes, or
    a 2-D map of them) keeps digits of a class together."""
    distances = torch.cdist(points.float(), points.float())
    distances.fill_diagonal_(float("inf"))
    nearest = distances.topk(k, largest=False).indices
    return float((labels[nearest] == labels[:, None]).float().mean())


def class_direction(means: Tensor, start: int, end: int) -> Tensor:
    """The step from class `start`'s mean code to class `end`'s: (D,)."""
    return means[end] - means[start]


def move_along(z: Tensor, direction: Tensor, t: float) -> Tensor:
    """`z` moved by `t` times `direction`: t=0 leaves it, t=1 adds the whole step."""
    return z + t * direction


def analogy(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """c + (a - b): c moved by the step that takes b to a ("b is to a as c is to ?")."""
    return a - b + c
