"""A trained model as one object: network, typed metadata, extra tensors, and what follows from them.

`save_model` writes a model and its `ModelMetadata` through `vae.checkpoint` (atomic, SHA-256
checked); `load_model` rebuilds it from the file alone. Everything slow that the app needs
(reading files, ranking dimensions) happens once here, at start-up.
"""

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch
from torch import Tensor

from vae.checkpoint import TRAIN_HINT, CheckpointError, load_tensors, save_tensors
from vae.data import BOX_SIDES
from vae.latent import rank_dimensions
from vae.metadata import ModelMetadata
from vae.model import VAE

EXTRA_PREFIX = "extra."  # tensors stored beside the weights (test-set codes, score quantiles)


@dataclass
class LoadedModel:
    """One weights file, ready to serve: the network in eval mode, its metadata and extras."""

    name: str
    model: VAE
    metadata: ModelMetadata
    extras: dict[str, Tensor] = field(default_factory=dict)

    @property
    def latent_dim(self) -> int:
        return self.model.config.latent_dim

    @property
    def conditional(self) -> bool:
        return self.model.config.num_classes > 0

    @property
    def autoencoder(self) -> bool:
        """A plain autoencoder (`train.py --autoencoder`): a deterministic code, no prior, no KL."""
        return self.metadata.train is not None and self.metadata.train.autoencoder

    @property
    def dataset(self) -> str:
        return self.metadata.dataset

    @property
    def class_names(self) -> list[str]:
        return list(self.metadata.class_names) or [str(i) for i in range(10)]

    @property
    def box_side(self) -> int:
        """The square, in pixels of 28, that this dataset's objects were scaled to fit."""
        return BOX_SIDES[self.metadata.dataset]

    @cached_property
    def ranking(self) -> list[int]:
        """Latent dimensions, most informative first (by test-set KL; a plain autoencoder's in their order)."""
        kl = self.metadata.metrics.kl_per_dim
        return list(range(self.latent_dim)) if kl is None else rank_dimensions(list(kl))


def save_model(path: str | Path, model: VAE, metadata: ModelMetadata, extras: dict[str, Tensor] | None = None) -> None:
    """Write a model's weights, its metadata (whose config must be the model's) and optional extra tensors."""
    if metadata.config != model.config:
        raise ValueError(f"metadata config {metadata.config} is not the model's {model.config}")
    tensors = dict(model.state_dict())
    tensors.update({EXTRA_PREFIX + k: v for k, v in (extras or {}).items()})
    save_tensors(path, tensors, metadata.to_dict())


def load_model(path: str | Path, device: torch.device | str = "cpu") -> LoadedModel:
    """Rebuild a model from a weights file alone, in eval mode, with its metadata and extras."""
    tensors, raw = load_tensors(path)
    try:
        metadata = ModelMetadata.from_dict(raw)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path} has no valid model metadata ({type(e).__name__}: {e}). {TRAIN_HINT}") from e
    extras = {k.removeprefix(EXTRA_PREFIX): v for k, v in tensors.items() if k.startswith(EXTRA_PREFIX)}
    model = VAE(metadata.config)
    try:
        model.load_state_dict({k: v for k, v in tensors.items() if not k.startswith(EXTRA_PREFIX)})
    except RuntimeError as e:
        raise CheckpointError(
            f"{path}: its tensors do not fit its config {metadata.config}: {e}. "
            "The file mixes weights of another model; train it again."
        ) from e
    return LoadedModel(Path(path).stem, model.to(device).eval(), metadata, extras)


def load_models(folder: str | Path, autoencoders: bool = False) -> tuple[dict[str, LoadedModel], list[str]]:
    """Every loadable VAE in `folder` by name (with `autoencoders`, plain autoencoders too), and a message per file
    that failed to load.

    Plain autoencoders are left out by default: the explorer's views read a VAE's prior, posterior and KL, which
    they lack. PyTorch pickles (.pt/.pth) are never loaded, but are reported, so a visitor learns why they were skipped.
    """
    models, problems = {}, []
    for path in sorted(p for pattern in ("*.safetensors", "*.pt", "*.pth") for p in Path(folder).glob(pattern)):
        try:
            loaded = load_model(path)
        except CheckpointError as e:
            problems.append(str(e))
            continue
        if autoencoders or not loaded.autoencoder:
            models[path.stem] = loaded
    return models, problems


def default_model(models: dict[str, LoadedModel]) -> str:
    """The model a visitor sees first: the one whose metadata says so, else the first MNIST VAE."""
    flagged = [n for n, m in models.items() if m.metadata.default]
    mnist = [n for n, m in models.items() if m.dataset == "mnist" and not m.conditional and not m.autoencoder]
    return (flagged or mnist or list(models))[0]
