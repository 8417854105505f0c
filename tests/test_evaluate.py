"""Importance-weighted NLL, active units and the evaluation CLI."""

import pytest
import torch

from vae.data import to_float
from vae.evaluate import active_units, elbo_terms, evaluate, iw_log_likelihood


@pytest.fixture(scope="module")
def test_x(mnist_sample: dict[str, torch.Tensor]) -> torch.Tensor:
    return to_float(mnist_sample["test_images"][:300])


def test_iw_nll_is_below_the_elbo_and_tightens_with_k(small_model, test_x: torch.Tensor) -> None:
    nelbo = elbo_terms(small_model, test_x)["nelbo"].mean()
    nll = {k: -iw_log_likelihood(small_model, test_x, k=k).mean() for k in (1, 10, 100)}
    assert nll[100] < nll[10] < nll[1]
    assert nll[100] <= nelbo
    assert abs(nll[1] - nelbo) < 1.0  # k = 1 is the ELBO itself, up to sampling noise


def test_iw_nll_is_repeatable_with_a_seed(small_model, test_x: torch.Tensor) -> None:
    x = test_x[:7]
    assert torch.equal(iw_log_likelihood(small_model, x, k=50, seed=3), iw_log_likelihood(small_model, x, k=50, seed=3))
    assert not torch.equal(iw_log_likelihood(small_model, x, k=50, seed=3), iw_log_likelihood(small_model, x, k=50))


def test_active_units_counts_varying_dimensions() -> None:
    mu = torch.zeros(1000, 4)
    mu[:, 0] = torch.randn(1000)  # variance ~1: active
    mu[:, 2] = 0.01 * torch.randn(1000)  # variance ~1e-4: inactive
    assert active_units(mu) == 1


def test_evaluate_reports_consistent_metrics(small_model, test_x: torch.Tensor) -> None:
    m = evaluate(small_model, test_x, None, k=20, nll_images=50)
    assert m["nll_images"] == 50 and m["nll_k"] == 20
    assert m["test_nelbo"] == pytest.approx(m["test_recon"] + m["test_kl"], rel=1e-5)
    assert sum(m["kl_per_dim"]) == pytest.approx(m["test_kl"], rel=1e-3)
    assert 0 < m["active_units"] <= 8
