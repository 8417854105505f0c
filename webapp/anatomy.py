"""The ELBO of one image, taken apart: what a student needs to read the score.

- the negative ELBO = reconstruction term + KL term, in nats;
- the KL of each latent dimension for this image, beside its average over the test set;
- the posterior q(z|x) per dimension (mean and standard deviation) against the prior N(0, 1);
- where the image's score falls in the test set's distribution of scores.

Plot data come as dicts of equal-length columns (a table), most informative dimension first.
"""

import math
from dataclasses import dataclass
from functools import cache

import torch
from torch import Tensor

from vae.latent import percentile
from vae.loaded import LoadedModel
from webapp.compute import Posterior, dimension_name, terms
from webapp.words import dataset_name, pictures, term

HISTOGRAM_BINS = 40
HISTOGRAM_TOP = 0.999  # the histogram's range ends at this quantile of the test scores; the rest go in the last bin
HISTOGRAM_STEP = 50.0  # nats: the score axis runs from 0 to a multiple of this, so a phone's labels stay apart
# The posterior plot's series and their colours; names short enough for its legend to fit a phone's width.
MEAN, SPREAD, PRIOR = "mean", "mean ± 1 sd", "prior ± 1 sd"
POSTERIOR_COLOURS = {MEAN: "#e0457b", SPREAD: "#f4a3c0", PRIOR: "#8a8a8a"}


@dataclass(frozen=True)
class Anatomy:
    """One image's ELBO terms (nats) and its posterior, per latent dimension in the model's own order."""

    nelbo: float
    recon: float
    kl: float  # the code z's, whose dimensions the sliders move
    kl_per_dim: Tensor  # (D,)
    mean: Tensor  # (D,) posterior means
    std: Tensor  # (D,) posterior standard deviations
    kl_lower: float = 0.0  # a two-layer model's lower layer's, KL(q(z1|x, z) || p(z1|z)); nelbo = recon + kl + kl_lower


def anatomy_of(elbo: dict[str, Tensor], logvar: Tensor) -> Anatomy:
    """An Anatomy from one image's ELBO terms (vae.evaluate.posterior_terms) and its posterior log-variance."""
    kl_dims = elbo["kl_dims"][0]
    return Anatomy(nelbo=float(elbo["nelbo"][0]), recon=float(elbo["recon"][0]), kl=float(kl_dims.sum()),
                   kl_per_dim=kl_dims, mean=elbo["mu"][0], std=torch.exp(0.5 * logvar[0]),
                   kl_lower=float(elbo["kl_lower"][0]))


def posterior_anatomy(loaded: LoadedModel, q: Posterior) -> Anatomy:
    """The anatomy of an image already encoded (webapp.compute.read): no second call of the encoder."""
    return anatomy_of(terms(loaded, q), q.logvar)


def describe_anatomy(a: Anatomy, pct: float, dataset: str) -> str:
    """The negative ELBO as the sum of its terms (two, or three for two layers), in words, and its percentile among
    the test images."""
    return (f"**{a.nelbo:.2f} {term('nats')}** ({term('negative ELBO')}) = **{a.recon:.2f}** reconstruction "
            f"(-log p(x|z): how badly the decoder redraws your image from a code z drawn from q(z|x)) "
            f"+ **{a.kl:.2f}** {term('KL')} (how far q(z|x) is from the {term('prior')} N(0, 1): what the code costs)"
            f"{lower_term(a.kl_lower)}. Lower is better: the model fits it worse than {pct:.0f}% of the "
            f"{dataset_name(dataset)} test {pictures(dataset)}.")


def lower_term(kl_lower: float) -> str:
    """The third term of a two-layer model's negative ELBO, in words (nothing for one layer, whose kl_lower is 0)."""
    if not kl_lower:
        return ""
    return (f" + **{kl_lower:.2f}** lower-layer KL (how far q(u|x, z), the lower layer u the decoder reads, is from "
            "its prior p(u|z) given the code)")


def dimension_names(ranking: list[int]) -> list[str]:
    """Axis labels of the latent dimensions in slider order: z4, z1, ..."""
    return [dimension_name(d) for d in ranking]


def kl_bars(kl_per_dim: Tensor, test_kl_per_dim: list[float], ranking: list[int],
            offset: float = 0.2) -> dict[str, list]:
    """Columns of a bar chart: this image's KL per dimension beside the test set's average.

    x is the dimension's place in the ranking (1 = most informative), shifted left for this image
    and right for the test set, so the two bars stand side by side instead of stacking.
    """
    names = dimension_names(ranking)
    places = list(range(1, len(ranking) + 1))
    return {
        "place": [p - offset for p in places] + [p + offset for p in places],
        "KL (nats)": [float(kl_per_dim[d]) for d in ranking] + [float(test_kl_per_dim[d]) for d in ranking],
        "series": ["this image"] * len(ranking) + ["test-set average"] * len(ranking),
        "dimension": names + names,
    }


def posterior_points(mean: Tensor, std: Tensor, ranking: list[int]) -> dict[str, list]:
    """Columns of a scatter plot: per dimension, the posterior mean, mean ± 1 sd, and the prior's ± 1 sd."""
    names, places = dimension_names(ranking), list(range(1, len(ranking) + 1))
    mean, std = mean[ranking], std[ranking]
    series = {
        MEAN: mean.tolist(),
        SPREAD: (mean - std).tolist() + (mean + std).tolist(),
        PRIOR: [-1.0] * len(ranking) + [1.0] * len(ranking),
    }
    columns: dict[str, list] = {"place": [], "z": [], "series": [], "dimension": []}
    for name, values in series.items():
        repeat = len(values) // len(ranking)
        columns["place"] += places * repeat
        columns["z"] += values
        columns["series"] += [name] * len(values)
        columns["dimension"] += names * repeat
    return columns


@dataclass(frozen=True)
class ScoreHistogram:
    """The test set's scores in equal bins: edges (B + 1,) and counts (B,); the last bin holds the tail."""

    edges: Tensor
    counts: Tensor


def score_histogram(sorted_scores: Tensor, bins: int = HISTOGRAM_BINS, top: float = HISTOGRAM_TOP) -> ScoreHistogram:
    """Bin the test set's negative ELBOs (ascending) once per model; the app marks an image on it."""
    scores = sorted_scores.double()
    low, high = float(scores[0]), float(torch.quantile(scores, top))
    edges = torch.linspace(low, high, bins + 1, dtype=torch.float64)
    index = (torch.searchsorted(edges, scores, right=True) - 1).clamp(0, bins - 1)
    return ScoreHistogram(edges, torch.bincount(index, minlength=bins))


def score_axis_end(hist: ScoreHistogram, score: float) -> float:
    """Where the score axis ends: the first multiple of HISTOGRAM_STEP past the test scores and `score` (an axis
    from 0 to a round number is labelled with few, spaced ticks: "0 50 100 150 200", not "160180" on a phone)."""
    return HISTOGRAM_STEP * math.ceil(max(float(hist.edges[-1]), score) / HISTOGRAM_STEP)


def histogram_lines(hist: ScoreHistogram, score: float) -> dict[str, list]:
    """Columns of a line plot: the histogram's outline (test digits per bin, on the zero line from 0 nats to the
    axis's end) and a vertical marker at `score`."""
    x, count = [], []
    for i, c in enumerate(hist.counts.tolist()):
        x += [float(hist.edges[i]), float(hist.edges[i + 1])]
        count += [c, c]
    peak = max(count)
    return {
        "negative ELBO (nats)": [0.0, x[0], *x, x[-1], score_axis_end(hist, score), score, score],
        "test images per bin": [0, 0, *count, 0, 0, 0, peak],
        "series": ["test set"] * (len(x) + 4) + ["this image"] * 2,
    }


@cache
def binned_test_scores(sorted_scores: Tensor) -> ScoreHistogram:
    """The test scores' histogram, binned once per model: tensors hash by identity, one entry per loaded model."""
    return score_histogram(sorted_scores)


def anatomy_plots(loaded: LoadedModel, a: Anatomy) -> dict[str, dict[str, list]]:
    """The three plots of an image's anatomy: KL per dimension, posterior vs prior, the score on the test set."""
    scores = loaded.extras["test_nelbo_sorted"]
    return {"kl": kl_bars(a.kl_per_dim, list(loaded.metadata.metrics.kl_per_dim), loaded.ranking),
            "posterior": posterior_points(a.mean, a.std, loaded.ranking),
            "histogram": histogram_lines(binned_test_scores(scores), a.nelbo)}


def score_percentile(loaded: LoadedModel, a: Anatomy) -> float:
    """The share of test images scoring at or below this image, in percent."""
    return percentile(a.nelbo, loaded.extras["test_nelbo_sorted"])
