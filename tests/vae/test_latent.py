"""Latent-space operations: interpolation paths, dimension ranking, the manifold grid, sampling, percentiles."""

import pytest
import torch
from torch import Tensor

from tests.helpers import slider_effects
from vae.latent import (
    decode_probs,
    gaussian_grid,
    interpolate,
    lerp,
    percentile,
    prior_sample,
    rank_dimensions,
    slerp,
)

PATHS = pytest.mark.parametrize("method", ["linear", "spherical"])
STEPS = 9


def codes(*scales: float, dim: int = 6, seed: int = 0) -> list[Tensor]:
    """Random directions in `dim` dimensions with the given norms."""
    gen = torch.Generator().manual_seed(seed)
    return [s * torch.nn.functional.normalize(torch.randn(dim, generator=gen), dim=0) for s in scales]


@PATHS
def test_interpolation_starts_and_ends_at_the_inputs(method: str) -> None:
    z0, z1 = codes(2.0, 3.5)
    path = interpolate(z0, z1, STEPS, method)
    assert path.shape == (STEPS, 6)
    torch.testing.assert_close(path[0], z0)
    torch.testing.assert_close(path[-1], z1)


def test_interpolate_dispatches_by_name() -> None:
    z0, z1 = codes(1.0, 2.0)
    torch.testing.assert_close(interpolate(z0, z1, STEPS, "linear"), lerp(z0, z1, STEPS))
    torch.testing.assert_close(interpolate(z0, z1, STEPS, "spherical"), slerp(z0, z1, STEPS))


def test_interpolate_rejects_an_unknown_method() -> None:
    z0, z1 = codes(1.0, 2.0)
    with pytest.raises(ValueError, match="'linear' or 'spherical'.*'cubic'"):
        interpolate(z0, z1, STEPS, "cubic")


def test_lerp_moves_in_equal_steps_on_a_straight_line() -> None:
    z0, z1 = codes(1.0, 2.0)
    path = lerp(z0, z1, STEPS)
    steps = path[1:] - path[:-1]
    torch.testing.assert_close(steps, ((z1 - z0) / (STEPS - 1)).expand_as(steps))


@pytest.mark.parametrize("norms", [(2.0, 5.0), (4.0, 4.0), (5.0, 0.5)])
def test_slerp_norm_goes_linearly_between_the_endpoint_norms(norms: tuple[float, float]) -> None:
    z0, z1 = codes(*norms)
    expected = torch.linspace(norms[0], norms[1], STEPS)
    torch.testing.assert_close(slerp(z0, z1, STEPS).norm(dim=1), expected)


def test_slerp_moves_the_angle_evenly() -> None:
    z0, z1 = codes(3.0, 3.0)
    unit = torch.nn.functional.normalize(slerp(z0, z1, STEPS), dim=1)
    angles = torch.arccos((unit[1:] * unit[:-1]).sum(1).clamp(-1, 1))
    torch.testing.assert_close(angles, angles[:1].expand_as(angles), atol=1e-4, rtol=0)
    assert float(angles.sum()) > 0.5  # the two random directions are far apart: the check means something


def test_lerp_cuts_through_the_low_norm_middle_where_slerp_does_not() -> None:
    z0, z1 = codes(4.0, 4.0)
    middle = STEPS // 2
    assert float(lerp(z0, z1, STEPS)[middle].norm()) < 0.9 * 4.0
    assert float(slerp(z0, z1, STEPS)[middle].norm()) == pytest.approx(4.0, rel=1e-5)


@pytest.mark.parametrize("factor", [1.0, 2.5])
def test_slerp_of_parallel_vectors_stays_on_their_ray(factor: float) -> None:
    (z0,) = codes(1.5)
    path = slerp(z0, factor * z0, STEPS)
    assert torch.isfinite(path).all()
    torch.testing.assert_close(path, lerp(z0, factor * z0, STEPS))


@pytest.mark.parametrize("wobble", [0.0, 1e-5])
def test_slerp_of_opposite_vectors_keeps_the_norm_profile(wobble: float) -> None:
    (z0,) = codes(2.0)
    z1 = -1.5 * z0 + wobble
    path = slerp(z0, z1, STEPS)
    torch.testing.assert_close(path[[0, -1]], torch.stack([z0, z1]), atol=1e-4, rtol=0)
    torch.testing.assert_close(path.norm(dim=1), torch.linspace(2.0, 3.0, STEPS), atol=1e-3, rtol=0)


def test_rank_dimensions_orders_by_kl_most_informative_first() -> None:
    kl = torch.rand(12, generator=torch.Generator().manual_seed(3)).tolist()
    ranking = rank_dimensions(kl)
    assert sorted(ranking) == list(range(12))
    ranked = [kl[d] for d in ranking]
    assert ranked == sorted(kl, reverse=True)


@pytest.mark.parametrize("n", [1, 4, 15])
def test_gaussian_grid_covers_equal_prior_mass(n: int) -> None:
    grid = gaussian_grid(n)
    assert grid.shape == (n * n, 2)
    z1 = grid.view(n, n, 2)[0, :, 0]
    torch.testing.assert_close(z1, -z1.flip(0))  # symmetric around the prior's mean
    # each quantile sits in the middle of an equal share of the prior's mass
    torch.testing.assert_close(torch.special.ndtr(z1), torch.linspace(0.5 / n, 1 - 0.5 / n, n))


def test_gaussian_grid_rows_run_from_high_to_low_z2() -> None:
    n = 5
    cells = gaussian_grid(n).view(n, n, 2)  # (row, column, dim)
    assert torch.all(cells[:, :, 0] == cells[:1, :, 0])  # z1 depends on the column only
    assert torch.all(cells[:, :, 1] == cells[:, :1, 1])  # z2 depends on the row only
    assert torch.all(cells[0, 1:, 0] > cells[0, :-1, 0])  # left to right: increasing z1
    assert torch.all(cells[1:, 0, 1] < cells[:-1, 0, 1])  # top to bottom: decreasing z2


def test_gaussian_grid_leaves_other_dimensions_at_zero() -> None:
    grid = gaussian_grid(3, latent_dim=5)
    assert grid.shape == (9, 5)
    torch.testing.assert_close(grid[:, :2], gaussian_grid(3))
    assert torch.all(grid[:, 2:] == 0)


def test_prior_sample_is_repeatable_with_a_seed() -> None:
    assert torch.equal(prior_sample(4, 3, seed=7), prior_sample(4, 3, seed=7))
    assert not torch.equal(prior_sample(4, 3, seed=7), prior_sample(4, 3, seed=8))
    assert not torch.equal(prior_sample(4, 3), prior_sample(4, 3))  # no seed: a new draw each time


@pytest.mark.parametrize("temperature", [0.3, 1.0, 1.8])
def test_prior_sample_std_is_the_temperature(temperature: float) -> None:
    z = prior_sample(20_000, 2, temperature, seed=0)
    assert z.shape == (20_000, 2)
    assert z.std(0).tolist() == pytest.approx([temperature] * 2, rel=0.03)
    assert z.mean(0).abs().max() < 0.05 * temperature


@pytest.mark.parametrize(
    ("score", "expected"),
    [(-1.0, 0.0), (1000.0, 100.0), (25.0, 50.0), (20.0, 50.0), (19.9, 25.0)],
    ids=["below_all", "above_all", "middle", "ties_count_as_at_or_below", "just_below_a_value"],
)
def test_percentile(score: float, expected: float) -> None:
    reference = torch.tensor([10.0, 20.0, 30.0, 40.0])
    assert percentile(score, reference) == pytest.approx(expected)


def test_slider_effects_are_the_change_between_the_slider_ends(small_model) -> None:
    effects = slider_effects(small_model, [5, 2], span=1.5)
    z = torch.zeros(2, 8)
    z[0, 2], z[1, 2] = -1.5, 1.5
    ends = decode_probs(small_model, z).flatten(1)
    assert effects.shape == (2, 784)
    assert torch.allclose(effects[1], ends[1] - ends[0], atol=1e-6)
    assert not torch.allclose(effects[0], effects[1])
