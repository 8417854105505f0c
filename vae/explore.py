"""What the app computes, as plain functions over loaded models (no UI code).

Everything slow (reading files, ranking dimensions, the test-set scores) happens once in
`load_models`; the functions a slider calls only decode one latent vector.
"""

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch
from torch import Tensor

from vae.checkpoint import CheckpointError, load_model
from vae.data import FRAME
from vae.evaluate import elbo_terms
from vae.latent import decode_probs, gaussian_grid, interpolate, percentile, prior_sample, rank_dimensions
from vae.model import VAE

SLIDER_RANGE = 3.0  # +-3 standard deviations of the prior covers 99.7% of it
UNUSUAL_PERCENTILE = 99.0  # scores above this share of test digits are flagged as unusual


@dataclass
class LoadedModel:
    """One weights file, ready to serve."""

    name: str
    model: VAE
    metadata: dict
    extras: dict[str, Tensor] = field(default_factory=dict)

    @property
    def latent_dim(self) -> int:
        return self.model.config.latent_dim

    @property
    def conditional(self) -> bool:
        return self.model.config.num_classes > 0

    @property
    def class_names(self) -> list[str]:
        return self.metadata.get("class_names") or [str(i) for i in range(10)]

    @property
    def frame(self) -> int:
        """The square, in pixels of 28, that this dataset's objects were scaled to fit."""
        return FRAME[self.metadata["dataset"]]

    @cached_property
    def ranking(self) -> list[int]:
        """Latent dimensions, most informative first (by test-set KL)."""
        return rank_dimensions(self.metadata["metrics"]["kl_per_dim"])

    def describe(self) -> str:
        """One line for the model picker's info text."""
        m, cfg = self.metadata["metrics"], self.model.config
        kind = "conditional " if self.conditional else ""
        return (f"{kind}{cfg.arch}, {cfg.latent_dim}-D latent, {self.metadata['dataset']}: "
                f"test -ELBO {m['test_nelbo']:.1f} nats, NLL {m['test_nll']:.1f} "
                f"(k={m['nll_k']}, {m['nll_images']:,} test images)")


def load_models(folder: str | Path) -> tuple[dict[str, LoadedModel], list[str]]:
    """Every loadable weights file in `folder` by name, and a message per file that failed to load.

    PyTorch pickles (.pt/.pth) are never loaded, but are reported, so a visitor learns why they were skipped.
    """
    models, problems = {}, []
    for path in sorted(p for pattern in ("*.safetensors", "*.pt", "*.pth") for p in Path(folder).glob(pattern)):
        try:
            ckpt = load_model(path)
        except CheckpointError as e:
            problems.append(str(e))
            continue
        models[path.stem] = LoadedModel(path.stem, ckpt.model, ckpt.metadata, ckpt.extras)
    return models, problems


def default_model(models: dict[str, LoadedModel]) -> str:
    """The model a visitor sees first: the one whose metadata says so, else the first MNIST model."""
    flagged = [n for n, m in models.items() if m.metadata.get("default")]
    mnist = [n for n, m in models.items() if m.metadata["dataset"] == "mnist" and not m.conditional]
    return (flagged or mnist or list(models))[0]


def label_tensor(lm: LoadedModel, label: int | None, n: int = 1) -> Tensor | None:
    """The label batch for a conditional model, None for an unconditional one."""
    return torch.full((n,), int(label or 0), dtype=torch.long) if lm.conditional else None


def code_from_sliders(values: list[float], ranking: list[int]) -> Tensor:
    """Slider i sets latent dimension ranking[i]; dimensions without a slider stay at 0. Shape (1, D)."""
    z = torch.zeros(1, len(ranking))
    n = min(len(values), len(ranking))
    z[0, ranking[:n]] = torch.tensor([float(v) for v in values[:n]])
    return z


def sliders_from_code(z: Tensor, ranking: list[int]) -> list[float]:
    """Inverse of code_from_sliders, clipped to the slider range."""
    return [round(float(v), 2) for v in z.flatten()[ranking].clamp(-SLIDER_RANGE, SLIDER_RANGE)]


def decode_sliders(lm: LoadedModel, values: list[float], label: int | None = None) -> Tensor:
    """The slider handler's whole job: one decode. Returns (1, 28, 28) probabilities."""
    return decode_probs(lm.model, code_from_sliders(values, lm.ranking), label_tensor(lm, label))[0]


@torch.no_grad()
def encode(lm: LoadedModel, x: Tensor, label: int | None = None) -> Tensor:
    """Posterior mean of a (28, 28) image: shape (D,)."""
    return lm.model.encode(x.view(1, 1, 28, 28), label_tensor(lm, label))[0][0]


def score(lm: LoadedModel, x: Tensor, label: int | None = None) -> tuple[float, float]:
    """Negative ELBO of a (28, 28) image in nats, and the percentage of test images scoring at or below it.

    Computed exactly as the stored test scores were (one sample, seed 0), so the two compare.
    """
    nelbo = float(elbo_terms(lm.model, x.view(1, 1, 28, 28), label_tensor(lm, label))["nelbo"][0])
    return nelbo, percentile(nelbo, lm.extras["test_nelbo_sorted"])


@torch.no_grad()
def reconstruct(lm: LoadedModel, x: Tensor, label: int | None = None, n_samples: int = 8, seed: int = 0) -> dict:
    """Reconstruction from the posterior mean, decodings of posterior samples, and the score."""
    y = label_tensor(lm, label)
    mu, logvar = lm.model.encode(x.view(1, 1, 28, 28), y)
    gen = torch.Generator().manual_seed(seed)
    z = mu + torch.exp(0.5 * logvar) * torch.randn((n_samples, lm.latent_dim), generator=gen)
    nelbo, pct = score(lm, x, label)
    return {
        "reconstruction": decode_probs(lm.model, mu, y)[0],
        "samples": decode_probs(lm.model, z, label_tensor(lm, label, n_samples)),
        "nelbo": nelbo,
        "percentile": pct,
    }


def describe_score(nelbo: float, pct: float, dataset: str) -> str:
    """The 'how digit-like is this?' sentence for a score."""
    what = "digits" if dataset == "mnist" else "images"
    text = f"**{nelbo:.1f} nats** (negative ELBO): higher than {pct:.0f}% of the {dataset} test {what}."
    if pct >= UNUSUAL_PERCENTILE:
        text += f" Unusual for this model: it looks little like the {what} it was trained on."
    return text


def random_samples(lm: LoadedModel, n: int, temperature: float, seed: int, label: int | None = None) -> Tensor:
    """n decoded samples from the prior (scaled by temperature): (n, 1, 28, 28)."""
    z = prior_sample(n, lm.latent_dim, temperature, seed)
    return decode_probs(lm.model, z, label_tensor(lm, label, n))


def interpolation_path(
    lm: LoadedModel, x0: Tensor, x1: Tensor, steps: int, method: str, labels: tuple[int | None, int | None] = (0, 0)
) -> tuple[Tensor, Tensor | None]:
    """Codes (steps, D) on a path between the posterior means of two images, and their labels.

    For a conditional model the label moves too: each step uses the nearer endpoint's label.
    """
    z = interpolate(encode(lm, x0, labels[0]), encode(lm, x1, labels[1]), steps, method)
    y = None
    if lm.conditional:
        y = torch.tensor([labels[0] if i < steps / 2 else labels[1] for i in range(steps)], dtype=torch.long)
    return z, y


def interpolation(
    lm: LoadedModel, x0: Tensor, x1: Tensor, steps: int, method: str, labels: tuple[int | None, int | None] = (0, 0)
) -> Tensor:
    """Decodings along interpolation_path: (steps, 1, 28, 28)."""
    return decode_probs(lm.model, *interpolation_path(lm, x0, x1, steps, method, labels))


def manifold(lm: LoadedModel, n: int = 15, label: int | None = None) -> Tensor:
    """The decoded 2-D manifold on an n x n grid of Gaussian quantiles: (n*n, 1, 28, 28)."""
    return decode_probs(lm.model, gaussian_grid(n, lm.latent_dim), label_tensor(lm, label, n * n))


def code_map(lm: LoadedModel, max_points: int = 5000) -> dict[str, list]:
    """Columns for a scatter of test-set codes (first two latent dims) coloured by class."""
    mu, labels = lm.extras["test_mu"].float()[:max_points], lm.extras["test_labels"].long()[:max_points]
    order = labels.argsort(stable=True)  # class order, so the plot's legend reads 0, 1, 2, ...
    mu, labels, names = mu[order], labels[order], lm.class_names
    return {"z1": mu[:, 0].tolist(), "z2": mu[:, 1].tolist(), "class": [names[i] for i in labels.tolist()]}


def infer_label(lm: LoadedModel, x: Tensor) -> int:
    """For a conditional model: the label under which the image is most likely (lowest negative ELBO)."""
    xs = x.view(1, 1, 28, 28).expand(lm.model.config.num_classes, -1, -1, -1)
    labels = torch.arange(lm.model.config.num_classes)
    return int(elbo_terms(lm.model, xs, labels)["nelbo"].argmin())


def every_label(lm: LoadedModel, x: Tensor) -> tuple[Tensor, int]:
    """Same style, every class: encode with the inferred label, decode with each label. ((C, 1, 28, 28), label)."""
    label = infer_label(lm, x)
    n = lm.model.config.num_classes
    z = encode(lm, x, label).expand(n, -1)
    return decode_probs(lm.model, z, torch.arange(n)), label
