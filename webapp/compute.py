"""What the views compute, as plain functions over loaded models: tensors in, tensors out (no Gradio).

Everything slow (reading files, ranking dimensions, the test-set scores) happens once in
`vae.loaded.load_models`; the functions a slider calls only decode one latent vector.
"""

from dataclasses import dataclass

import torch
from torch import Tensor

from vae.evaluate import posterior_terms
from vae.latent import (
    TRAVERSAL_ROWS,
    decode_posterior_mean,
    decode_probs,
    gaussian_grid,
    interpolate,
    prior_sample,
    sample_probs,
    traversal,
)
from vae.loaded import LoadedModel
from vae.model import reparameterize
from vae.posterior import decode_draw
from webapp.words import dataset_name, pictures, term

SLIDER_RANGE = 3.0  # +-3 standard deviations of the prior covers 99.7% of it
UNUSUAL_PERCENTILE = 99.0  # scores above this share of test digits are flagged as unusual


def dimension_name(d: int) -> str:
    """How the page names latent dimension d (0-based in the code) everywhere: z1, z2, ..., as the 2-D map's axes."""
    return f"z{d + 1}"


def label_tensor(loaded: LoadedModel, label: int | None, n: int = 1) -> Tensor | None:
    """The label batch for a conditional model, None for an unconditional one."""
    return torch.full((n,), int(label or 0), dtype=torch.long) if loaded.conditional else None


def code_from_sliders(values: list[float], ranking: list[int]) -> Tensor:
    """Slider i sets latent dimension ranking[i]; dimensions without a slider stay at 0. Shape (1, D)."""
    z = torch.zeros(1, len(ranking))
    n = min(len(values), len(ranking))
    z[0, ranking[:n]] = torch.tensor([float(v) for v in values[:n]])
    return z


def sliders_from_code(z: Tensor, ranking: list[int]) -> list[float]:
    """Inverse of code_from_sliders, clipped to the slider range."""
    return [round(float(v), 2) for v in z.flatten()[ranking].clamp(-SLIDER_RANGE, SLIDER_RANGE)]


def slider_values(z: Tensor, ranking: list[int], n: int) -> list[float]:
    """Values for n sliders (n at least the latent dimensions) from a latent code: sliders_from_code, 0 beyond."""
    values = sliders_from_code(z, ranking)
    return values + [0.0] * (n - len(values))


def decode_sliders(loaded: LoadedModel, values: list[float], label: int | None = None) -> Tensor:
    """The slider handler's whole job: one decode. Returns (1, 28, 28) probabilities."""
    return decode_probs(loaded.model, code_from_sliders(values, loaded.ranking), label_tensor(loaded, label))[0]


def slider_traversal(loaded: LoadedModel, values: list[float], label: int | None = None,
                     rows: int = TRAVERSAL_ROWS) -> Tensor:
    """The traversal grid from the sliders' point: one row per top dimension (slider order), -3 to +3."""
    z = code_from_sliders(values, loaded.ranking)
    return traversal(loaded.model, z, loaded.ranking[:rows], label_tensor(loaded, label))


@torch.no_grad()
def encode(loaded: LoadedModel, x: Tensor, label: int | None = None) -> Tensor:
    """Posterior mean of a (28, 28) image: shape (D,)."""
    return posterior(loaded, x, label).mean[0]


@dataclass(frozen=True)
class Posterior:
    """q(z|x) of one image, from one call of the encoder: mean and log-variance (1, D), under `label`."""

    x: Tensor  # (1, 1, 28, 28)
    mean: Tensor
    logvar: Tensor
    h: Tensor  # (1, hidden): the encoder's features, from which a two-layer model draws its lower layer
    label: int | None  # the class a conditional model was given (None: unconditional)


@torch.no_grad()
def posterior(loaded: LoadedModel, x: Tensor, label: int | None = None) -> Posterior:
    """Encode a (28, 28) image once."""
    x = x.view(1, 1, 28, 28)
    h = loaded.model.encoder_state(x, label_tensor(loaded, label))
    return Posterior(x, *loaded.model.posterior(h), h, label if loaded.conditional else None)


@torch.no_grad()
def read(loaded: LoadedModel, x: Tensor) -> Posterior:
    """The posterior under the class the model reads the image as: a conditional model encodes the image with
    every label in one call and keeps the label of the lowest negative ELBO; an unconditional one encodes once."""
    if not loaded.conditional:
        return posterior(loaded, x)
    n = loaded.model.config.num_classes
    xs, labels = x.view(1, 1, 28, 28).expand(n, -1, -1, -1), torch.arange(n)
    h = loaded.model.encoder_state(xs, labels)
    mean, logvar = loaded.model.posterior(h)
    k = int(posterior_terms(loaded.model, xs, mean, logvar, labels, torch.Generator().manual_seed(0), h)["nelbo"]
            .argmin())
    return Posterior(xs[:1], mean[k : k + 1], logvar[k : k + 1], h[k : k + 1], k)


def terms(loaded: LoadedModel, q: Posterior) -> dict[str, Tensor]:
    """The negative ELBO's terms of the image of `q`, exactly as the stored test scores were computed
    (one sample, seed 0: vae.evaluate.elbo_terms), so the two compare."""
    y = label_tensor(loaded, q.label)
    return posterior_terms(loaded.model, q.x, q.mean, q.logvar, y, torch.Generator().manual_seed(0), q.h)


@torch.no_grad()
def reconstruction(loaded: LoadedModel, q: Posterior, n_samples: int = 8, seed: int = 0) -> dict[str, Tensor]:
    """The decoding of the posterior mean, and decodings of n_samples draws from the posterior (a two-layer model's
    lower layer read from the encoder's features: at its posterior mean, and drawn for each sample)."""
    model, y, ys = loaded.model, label_tensor(loaded, q.label), label_tensor(loaded, q.label, n_samples)
    gen = torch.Generator().manual_seed(seed)
    z = reparameterize(q.mean, q.logvar, n_samples, gen)
    h = q.h.expand(n_samples, -1) if model.config.lower_dim else None
    return {"reconstruction": decode_posterior_mean(model, q.x, q.mean, y, q.h)[0],
            "samples": torch.sigmoid(decode_draw(model, h, z, ys, generator=gen).logits)}


def describe_score(nelbo: float, pct: float, dataset: str) -> str:
    """The 'how digit-like is this?' sentence for a score."""
    what = pictures(dataset)
    text = (f"**{nelbo:.2f} nats** ({term('negative ELBO')}, lower is better): the model fits it worse than "
            f"{pct:.0f}% of the {dataset_name(dataset)} test {what}.")
    if pct >= UNUSUAL_PERCENTILE:
        text += f" Unusual for this model: it looks little like the {what} it was trained on."
    return text


def random_samples(loaded: LoadedModel, n: int, temperature: float, seed: int, label: int | None = None) -> Tensor:
    """n samples from the model at a temperature (each layer of a hierarchy drawn): (n, 1, 28, 28)."""
    draws = prior_sample(n, loaded.model.config.noise_dim, seed=seed)
    return sample_probs(loaded.model, draws, temperature, label_tensor(loaded, label, n))


def interpolation_path(
    loaded: LoadedModel, x0: Tensor, x1: Tensor, steps: int, method: str, labels: tuple[int | None, int | None] = (0, 0)
) -> tuple[Tensor, Tensor | None]:
    """Codes (steps, D) on a path between the posterior means of two images, and their labels.

    For a conditional model the label moves too: each step uses the nearer endpoint's label.
    """
    z = interpolate(encode(loaded, x0, labels[0]), encode(loaded, x1, labels[1]), steps, method)
    y = None
    if loaded.conditional:
        y = torch.tensor([labels[0] if i < steps / 2 else labels[1] for i in range(steps)], dtype=torch.long)
    return z, y


def interpolation(
    loaded: LoadedModel, x0: Tensor, x1: Tensor, steps: int, method: str, labels: tuple[int | None, int | None] = (0, 0)
) -> Tensor:
    """Decodings along interpolation_path: (steps, 1, 28, 28)."""
    return decode_probs(loaded.model, *interpolation_path(loaded, x0, x1, steps, method, labels))


def manifold(loaded: LoadedModel, n: int = 15, label: int | None = None) -> Tensor:
    """The decoded 2-D manifold on an n x n grid of Gaussian quantiles: (n*n, 1, 28, 28)."""
    return decode_probs(loaded.model, gaussian_grid(n, loaded.latent_dim), label_tensor(loaded, label, n * n))


def code_map(loaded: LoadedModel, max_points: int = 5000) -> dict[str, list]:
    """Columns for a scatter of test-set codes (first two latent dims) coloured by class."""
    mu, labels = loaded.extras["test_mu"].float()[:max_points], loaded.extras["test_labels"].long()[:max_points]
    order = labels.argsort(stable=True)  # class order, so the plot's legend reads 0, 1, 2, ...
    mu, labels, names = mu[order], labels[order], loaded.class_names
    return {"z1": mu[:, 0].tolist(), "z2": mu[:, 1].tolist(), "class": [names[i] for i in labels.tolist()]}


def infer_label(loaded: LoadedModel, x: Tensor) -> int:
    """For a conditional model: the label under which the image is most likely (lowest negative ELBO)."""
    return int(read(loaded, x).label)


def every_label(loaded: LoadedModel, x: Tensor) -> tuple[Tensor, int]:
    """Same style, every class: encode with the inferred label, decode with each label. ((C, 1, 28, 28), label)."""
    label = infer_label(loaded, x)
    n = loaded.model.config.num_classes
    z = encode(loaded, x, label).expand(n, -1)
    return decode_probs(loaded.model, z, torch.arange(n)), label
