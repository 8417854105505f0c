"""The ELBO of one image taken apart (webapp.anatomy), on real MNIST test digits."""

import math
from pathlib import Path

import pytest
import torch
from torch import Tensor

from tests.helpers import load_one, save_tiny
from vae.data import to_float
from vae.evaluate import elbo_terms
from vae.latent import rank_dimensions
from vae.loaded import LoadedModel
from vae.model import VAE
from webapp.anatomy import (
    HISTOGRAM_STEP,
    MEAN,
    PRIOR,
    SPREAD,
    Anatomy,
    describe_anatomy,
    histogram_lines,
    kl_bars,
    posterior_anatomy,
    posterior_points,
    score_axis_end,
    score_histogram,
)
from webapp.compute import describe_score, posterior


def loaded_as_the_app_loads(model: VAE, mnist_sample: dict[str, Tensor], folder: Path) -> LoadedModel:
    """`model` saved with its metadata and extras, and loaded as the app loads its weights."""
    save_tiny(folder / "tiny.safetensors", model, mnist_sample)
    return load_one(folder / "tiny.safetensors")


def anatomy(loaded: LoadedModel, x: Tensor, label: int | None = None) -> Anatomy:
    """The anatomy the Reconstruct view takes of a (28, 28) image under `label`."""
    return posterior_anatomy(loaded, posterior(loaded, x, label))


@pytest.fixture(scope="module")
def loaded(small_model: VAE, mnist_sample: dict[str, Tensor], tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return loaded_as_the_app_loads(small_model, mnist_sample, tmp_path_factory.mktemp("anatomy"))


@pytest.fixture(scope="module")
def digits(mnist_sample: dict[str, Tensor]) -> Tensor:
    return to_float(mnist_sample["test_images"][:5])


def test_recon_plus_kl_is_the_score(loaded: LoadedModel, digits: Tensor) -> None:
    for x in digits:
        a = anatomy(loaded, x[0])
        score = float(elbo_terms(loaded.model, x.view(1, 1, 28, 28))["nelbo"][0])  # as the app's score
        assert a.nelbo == pytest.approx(score, abs=1e-4)
        assert a.recon + a.kl == pytest.approx(a.nelbo, abs=1e-3)
        assert float(a.kl_per_dim.sum()) == pytest.approx(a.kl, abs=1e-4)
        assert a.recon > 0 and a.kl > 0


def test_the_sentence_gives_both_terms_and_the_percentile(loaded: LoadedModel, digits: Tensor) -> None:
    a = anatomy(loaded, digits[2, 0])
    text = describe_anatomy(a, 42.25, "mnist")
    assert text.startswith(f"**{a.nelbo:.2f} [nats](#g-nats)** ([negative ELBO](#g-nelbo)) = **{a.recon:.2f}** "
                           "reconstruction")
    assert f"+ **{a.kl:.2f}** [KL](#g-kl)" in text
    assert text.endswith("Lower is better: the model fits it worse than 42% of the MNIST test digits.")
    assert "test images" in describe_anatomy(a, 1.0, "fashion-mnist")


def test_the_score_and_its_terms_give_the_same_figures(loaded: LoadedModel, digits: Tensor) -> None:
    """Reconstruct shows both sentences for one digit: the same negative ELBO and percentile, to the same digit."""
    a = anatomy(loaded, digits[2, 0])
    terms, score = describe_anatomy(a, 69.5, "mnist"), describe_score(a.nelbo, 69.5, "mnist")
    for figure in (f"**{a.nelbo:.2f}", "worse than 70% of the MNIST test digits"):
        assert figure in terms and figure in score


def test_the_kl_per_dimension_is_that_of_the_posterior_shown(loaded: LoadedModel, digits: Tensor) -> None:
    a = anatomy(loaded, digits[0, 0])
    var = a.std**2
    assert torch.allclose(a.kl_per_dim, 0.5 * (a.mean**2 + var - 1 - var.log()), atol=1e-5)
    assert (a.std > 0).all() and a.mean.shape == a.std.shape == (loaded.latent_dim,)


def test_kl_bars_put_the_image_beside_the_test_average_in_slider_order(loaded: LoadedModel, digits: Tensor) -> None:
    a = anatomy(loaded, digits[1, 0])
    test_kl = torch.rand(loaded.latent_dim, generator=torch.Generator().manual_seed(0)).tolist()
    ranking = rank_dimensions(test_kl)
    bars = kl_bars(a.kl_per_dim, test_kl, ranking)
    d = len(ranking)
    assert {len(v) for v in bars.values()} == {2 * d}
    assert bars["dimension"][:d] == [f"z{i + 1}" for i in ranking]
    assert bars["KL (nats)"][:d] == pytest.approx([float(a.kl_per_dim[i]) for i in ranking])
    assert bars["KL (nats)"][d:] == pytest.approx(sorted(test_kl, reverse=True))
    assert all(left < right for left, right in zip(bars["place"][:d], bars["place"][d:], strict=True))
    assert set(bars["series"][:d]) == {"this image"} and set(bars["series"][d:]) == {"test-set average"}


def test_posterior_points_show_mean_plus_minus_sd_and_the_prior() -> None:
    mean, std = torch.tensor([0.5, -2.0, 0.0]), torch.tensor([0.1, 0.2, 1.0])
    points = posterior_points(mean, std, [1, 0, 2])
    by = {s: [(p, z) for p, z, t in zip(points["place"], points["z"], points["series"], strict=True) if t == s]
          for s in set(points["series"])}
    assert by[MEAN] == [(1, -2.0), (2, 0.5), (3, 0.0)]
    spread = [v for point in sorted(by[SPREAD]) for v in point]
    assert spread == pytest.approx([1, -2.2, 1, -1.8, 2, 0.4, 2, 0.6, 3, -1.0, 3, 1.0])
    assert sorted(by[PRIOR]) == [(p, s) for p in (1, 2, 3) for s in (-1.0, 1.0)]


def test_the_histogram_counts_every_test_score_once() -> None:
    scores = torch.randn(1000, generator=torch.Generator().manual_seed(0)).mul(10).add(100).sort().values
    hist = score_histogram(scores, bins=20)
    assert int(hist.counts.sum()) == len(scores) and len(hist.counts) == 20
    assert hist.edges[0] == scores[0] and (hist.edges.diff() > 0).all()
    above = int((scores > hist.edges[-1]).sum())
    assert above > 0 and hist.counts[-1] >= above  # the tail past the top quantile lands in the last bin
    inside = int(((scores >= hist.edges[3]) & (scores < hist.edges[4])).sum())
    assert int(hist.counts[3]) == inside


@pytest.mark.parametrize("score", [95.0, 250.0])
def test_the_marker_stands_at_the_score(score: float) -> None:
    scores = torch.randn(500, generator=torch.Generator().manual_seed(1)).mul(10).add(100).sort().values
    hist = score_histogram(scores, bins=10)
    lines = histogram_lines(hist, score)
    x, y, series = lines["negative ELBO (nats)"], lines["test images per bin"], lines["series"]
    marker = [(a, b) for a, b, s in zip(x, y, series, strict=True) if s == "this image"]
    assert marker == [(score, 0), (score, max(hist.counts.tolist()))]
    outline = [(a, b) for a, b, s in zip(x, y, series, strict=True) if s == "test set"]
    assert outline[:2] == [(0.0, 0), (float(hist.edges[0]), 0)]  # the zero line from 0 nats to the first bin
    assert outline[-2:] == [(float(hist.edges[-1]), 0), (score_axis_end(hist, score), 0)]  # and on to the axis's end
    assert [b for _, b in outline[2:-2:2]] == hist.counts.tolist()
    assert all(math.isfinite(v) for v in x)


@pytest.mark.parametrize("score", [95.0, 250.0])
def test_the_score_axis_ends_at_a_round_number_past_every_score_and_the_marker(score: float) -> None:
    scores = torch.randn(500, generator=torch.Generator().manual_seed(1)).mul(10).add(100).sort().values
    hist = score_histogram(scores, bins=10)
    end, last = score_axis_end(hist, score), max(float(hist.edges[-1]), score)
    assert end % HISTOGRAM_STEP == 0 and last <= end < last + HISTOGRAM_STEP
