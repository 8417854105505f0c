"""Latent traversals (vae.latent): each row moves one dimension, the others hold."""

import torch

from vae.latent import TRAVERSAL_SPAN, TRAVERSAL_STEPS, decode_probs, traversal, traversal_codes, traversal_values
from vae.model import VAE


def test_values_run_from_minus_to_plus_span() -> None:
    values = traversal_values()
    assert len(values) == TRAVERSAL_STEPS
    assert values[0] == -TRAVERSAL_SPAN and values[-1] == TRAVERSAL_SPAN
    assert (values.diff() > 0).all()


def test_each_row_moves_its_own_dimension_and_holds_the_others() -> None:
    z = torch.randn(8, generator=torch.Generator().manual_seed(1))
    dims, values = [5, 0, 3], traversal_values(2.0, 5)
    codes = traversal_codes(z, dims, values).view(len(dims), len(values), -1)
    for row, d in enumerate(dims):
        assert torch.equal(codes[row, :, d], values)
        others = [i for i in range(8) if i != d]
        assert torch.equal(codes[row][:, others], z[others].expand(len(values), -1))


def test_the_grid_is_the_decode_of_its_codes(small_model: VAE) -> None:
    z = torch.randn(1, small_model.config.latent_dim, generator=torch.Generator().manual_seed(2))
    dims = [2, 7]
    grid = traversal(small_model, z, dims)
    assert grid.shape == (len(dims) * TRAVERSAL_STEPS, 1, 28, 28)
    assert torch.allclose(grid, decode_probs(small_model, traversal_codes(z, dims, traversal_values())))
    # The column at the row's own value of z is z's own decode: every row passes through the held point.
    held = traversal(small_model, z, dims, values=z[0, dims[:1]])
    assert torch.allclose(held[0], decode_probs(small_model, z)[0], atol=1e-6)


def test_a_conditional_grid_uses_the_label_in_every_cell() -> None:
    from vae.model import VAEConfig

    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=4, hidden=32, num_classes=10)).eval()
    z, y = torch.zeros(4), torch.tensor([3])
    grid = traversal(model, z, [1], y)
    codes = traversal_codes(z, [1], traversal_values())
    assert torch.allclose(grid, decode_probs(model, codes, y.expand(len(codes))))
    assert not torch.allclose(grid, traversal(model, z, [1], torch.tensor([4])))
