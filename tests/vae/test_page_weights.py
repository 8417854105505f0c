"""The decoder weights the page fetches (weights/page/, vae/page_weights.py, vae/quantize.py): made from every
shipped model's current weights, float16 or smaller, and decoding the same pictures as float32 to within
vae.page_weights.TOLERANCE; a page file counts as fresh only while made from the weights file's tensors."""

from pathlib import Path

import pytest
import torch

from tests.helpers import WEIGHTS, lfs_pointer, load_one, tiny_metadata
from vae.checkpoint import load_tensors, read_header
from vae.loaded import EXTRA_PREFIX, load_models, save_model
from vae.model import VAE, VAEConfig
from vae.page_weights import (
    DECODER_PREFIX,
    PAGE_EXTRAS,
    PAGE_PREFIXES,
    SCALE_SUFFIX,
    TOLERANCE,
    decoder_state,
    fresh_page_weights,
    max_error,
    page_path,
    sample_codes,
    write_page_weights,
)
from vae.quantize import LEVELS, dequantize_rows, quantize_rows, row_scales

SHIPPED = [WEIGHTS / f"{name}.safetensors" for name in sorted(load_models(WEIGHTS)[0])]  # the models the page serves
PARITY_CODES, PARITY_SEED = 200, 0  # the codes of the browser's parity test (tests/test_browser.py)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_model_has_a_fresh_page_file(path: Path) -> None:
    assert fresh_page_weights(path) == page_path(path), f"run `python scripts/page_weights.py {path}`"


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_the_page_file_is_smaller_and_decodes_the_same_pictures(path: Path) -> None:
    loaded = load_one(path)
    tensors, metadata = load_tensors(page_path(path))
    page_part = {k for k in loaded.model.state_dict() if k.startswith(PAGE_PREFIXES)}  # with a lower posterior
    assert decoder_state(tensors).keys() == page_part
    stored = [t for k, t in tensors.items() if k.startswith(PAGE_PREFIXES) and not k.endswith(SCALE_SUFFIX)]
    assert all(t.element_size() <= 2 for t in stored)  # float16, or 8 bits
    assert decoder_size(page_path(path)) <= decoder_size(path) / 2 + 10_000  # header and row scales aside
    assert max_error(loaded, tensors, *sample_codes(loaded, PARITY_CODES, PARITY_SEED)) <= TOLERANCE
    extras = {k.removeprefix(EXTRA_PREFIX) for k in tensors if k.startswith(EXTRA_PREFIX)}
    assert extras == {k for k in PAGE_EXTRAS if k in loaded.extras}
    for name in extras:
        torch.testing.assert_close(tensors[EXTRA_PREFIX + name], loaded.extras[name], rtol=0, atol=0)
    assert metadata["source"] == path.name


def decoder_size(path: Path) -> int:
    """Bytes of a weights file's decoder tensors."""
    _, header = read_header(path)
    return sum(t["data_offsets"][1] - t["data_offsets"][0] for k, t in header.items() if k.startswith(DECODER_PREFIX))


# ---- 8 bits with a scale per row, rounded by GPTQ ----

def correlated_inputs(n: int, width: int, seed: int = 0) -> torch.Tensor:
    """Inputs whose columns vary together, the same way for every seed (and ReLU'd, as a decoder's hidden
    units are): 8 hidden factors mixed into `width` columns, plus a little noise of their own."""
    mix = torch.randn(8, width, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(100 + seed)
    return torch.relu(torch.randn(n, 8, generator=gen) @ mix + 0.3 * torch.randn(n, width, generator=gen))


def test_gptq_keeps_the_layer_outputs_closer_than_rounding_each_weight() -> None:
    weight, x = torch.randn(64, 48, generator=torch.Generator().manual_seed(1)), correlated_inputs(2000, 48)
    q, scale = quantize_rows(weight, x.double().T @ x.double())
    assert q.dtype == torch.int8 and q.abs().max() <= LEVELS and scale.shape == (64,)
    torch.testing.assert_close(scale, weight.abs().amax(dim=1) / LEVELS)
    rounded = dequantize_rows((weight / scale[:, None]).round().to(torch.int8), scale)
    test = correlated_inputs(2000, 48, seed=1)  # inputs GPTQ did not see, from the same distribution
    gptq_error = (test @ (dequantize_rows(q, scale) - weight).T).pow(2).mean()
    rounding_error = (test @ (rounded - weight).T).pow(2).mean()
    assert gptq_error < 0.5 * rounding_error


def test_a_zero_row_and_an_input_that_never_fires_are_handled() -> None:
    weight = torch.randn(4, 6)
    weight[2] = 0
    x = correlated_inputs(500, 6)
    x[:, 3] = 0  # a hidden unit that is always off
    q, scale = quantize_rows(weight, x.double().T @ x.double())
    assert scale[2] == 1 and (q[2] == 0).all() and torch.isfinite(dequantize_rows(q, scale)).all()
    assert row_scales(torch.zeros(3, 2)).tolist() == [1.0, 1.0, 1.0]


# ---- fresh or not ----

def tiny_weights(path: Path, seed: int) -> Path:
    """A small untrained model's weights file (different tensors for another seed)."""
    torch.manual_seed(seed)
    model = VAE(VAEConfig(latent_dim=3, hidden=32)).eval()
    save_model(path, model, tiny_metadata(model), {"test_mu": torch.zeros(5, 3)})
    return path


def test_a_page_file_is_fresh_only_while_made_from_the_weights_files_tensors(tmp_path: Path) -> None:
    path = tiny_weights(tmp_path / "tiny.safetensors", seed=0)
    assert fresh_page_weights(path) is None  # none made yet
    written, tensors = write_page_weights(path)
    assert written == page_path(path) == tmp_path / "page" / "tiny.safetensors"
    assert fresh_page_weights(path) == written and "extra.test_mu" in tensors
    tiny_weights(path, seed=1)  # the model is trained again, the page file is not
    assert fresh_page_weights(path) is None
    write_page_weights(path)
    written.write_bytes(lfs_pointer(written))  # a clone without Git LFS
    assert fresh_page_weights(path) is None
