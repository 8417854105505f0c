"""The traversal grid's labels (webapp.labelled_grid): the grid itself unchanged, each row and column named."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vae.latent import traversal_values
from vae.render import grid_image
from webapp.labelled_grid import labelled_grid, row_labels, traversal_picture, value_label

SCALE = 2


def fake_model(kl: list[float], ranking: list[int]) -> SimpleNamespace:
    """What the labels read of a loaded model: its ranking and its KL per dimension."""
    return SimpleNamespace(ranking=ranking, metadata=SimpleNamespace(metrics=SimpleNamespace(kl_per_dim=kl)))


@pytest.fixture
def probs() -> torch.Tensor:
    """A 3 x 7 grid of random grey digits."""
    return torch.rand(21, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_columns_read_minus_three_to_plus_three() -> None:
    assert [value_label(float(v)) for v in traversal_values()] == ["-3", "-2", "-1", "0", "+1", "+2", "+3"]


def test_rows_are_named_by_dimension_and_kl_in_slider_order() -> None:
    model = fake_model(kl=[0.5, 0.004, 2.25], ranking=[2, 0, 1])
    assert row_labels(model, 2) == [("z3", "KL 2.25"), ("z1", "KL 0.50")]


def test_the_grid_is_the_bottom_right_of_the_picture_unchanged(probs: torch.Tensor) -> None:
    grid = np.asarray(grid_image(probs, nrow=7, scale=SCALE))
    out = np.asarray(labelled_grid(probs, [("z1",), ("z2",), ("z3",)], [str(c) for c in range(7)], SCALE))
    assert out.shape[0] > grid.shape[0] and out.shape[1] > grid.shape[1]
    assert np.array_equal(out[-grid.shape[0]:, -grid.shape[1]:], grid)


def test_each_row_and_column_has_its_own_label(probs: torch.Tensor) -> None:
    rows = [("z1", "KL 1.00"), ("z22", "KL 0.20"), ("z7", "KL 3.50")]
    out = np.asarray(traversal_picture(fake_model([1.0] * 22, [0, 21, 6]), probs, SCALE))
    grid_h, grid_w = (3 * 30 + 2) * SCALE, (7 * 30 + 2) * SCALE
    left, top = out.shape[1] - grid_w, out.shape[0] - grid_h
    pitch = 30 * SCALE
    # Ink (dark text on white) in each row's band left of the grid, and above each column.
    bands = [out[top + r * pitch + 4: top + (r + 1) * pitch, :left] for r in range(len(rows))]
    assert all((band < 128).any() for band in bands)
    assert len({band.tobytes() for band in bands}) == len(rows)  # three different names
    heads = [out[:top, left + c * pitch + 4: left + (c + 1) * pitch] for c in range(7)]
    assert all((head < 128).any() for head in heads)
    assert len({head.tobytes() for head in heads}) == 7
