"""Importance-weighted NLL, active units and the evaluation CLI."""

import pytest
import torch

import vae.evaluate
from tests.helpers import iw_log_likelihood
from vae.data import to_float
from vae.evaluate import (
    IW_BLOCK,
    active_units,
    block_sizes,
    block_sums,
    elbo_terms,
    evaluate,
    nll_by_k,
)


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
    m, nll = evaluate(small_model, test_x, None, k=20, nll_images=50)
    assert m["nll_images"] == 50 and m["nll_k"] == 20
    assert nll.shape == (50,) and float(nll.mean()) == pytest.approx(m["test_nll"])
    assert m["test_nelbo"] == pytest.approx(m["test_recon"] + m["test_kl"], rel=1e-5)
    assert sum(m["kl_per_dim"]) == pytest.approx(m["test_kl"], rel=1e-3)
    assert 0 < m["active_units"] <= 8


def test_iw_samples_do_not_depend_on_how_images_are_batched(small_model, test_x: torch.Tensor) -> None:
    x = test_x[:10]
    whole = block_sums(small_model, x, None, k=30, chunk=10)
    assert torch.allclose(block_sums(small_model, x, None, k=30, chunk=3), whole, rtol=0, atol=1e-4)
    shifted = block_sums(small_model, x[4:], None, k=30, chunk=10)  # image 4 now seeded as image 0
    assert (shifted - whole[:, 4:]).abs().min() > 1e-3
    assert torch.allclose(vae.evaluate.iw_block(small_model, x[4:], None, 0, 30, first=4), whole[0, 4:])


def test_a_larger_k_reuses_the_smaller_k_blocks(small_model, test_x: torch.Tensor) -> None:
    x = test_x[:3]
    assert block_sizes(2500) == [IW_BLOCK, IW_BLOCK, 500]
    small, large = block_sums(small_model, x, None, k=IW_BLOCK), block_sums(small_model, x, None, k=2500)
    assert large.shape == (3, 3) and torch.equal(large[0], small[0])
    nll = nll_by_k(large, 2500)
    assert list(nll) == [1000, 2000, 2500]
    assert torch.allclose(nll[1000], -iw_log_likelihood(small_model, x, k=IW_BLOCK))
    assert float(nll[2500].mean()) < float(nll[1000].mean()) + 0.05  # more samples: a tighter bound, up to noise


def test_progress_file_resumes_without_redoing_work(small_model, test_x: torch.Tensor, tmp_path, monkeypatch) -> None:
    x, progress = test_x[:6], tmp_path / "progress.safetensors"
    first = block_sums(small_model, x, None, k=40, chunk=2, progress=progress)
    calls = []
    real = vae.evaluate.iw_block
    monkeypatch.setattr(vae.evaluate, "iw_block", lambda *a, **kw: calls.append(a[3]) or real(*a, **kw))
    assert torch.equal(block_sums(small_model, x, None, k=40, chunk=2, progress=progress), first)
    assert calls == []
    other = block_sums(small_model, x, None, k=40, seed=1, chunk=2, progress=progress)  # another seed: new work
    assert len(calls) == 3 and not torch.equal(other, first)
