"""What the page's decoder is told about each model: the bytes it fetches hold every tensor it reads (the decoder,
with a two-layer model's lower posterior) and no other;
the page's copy of the decoder (weights/page/) while it is fresh, else the model's own file."""

import base64
import json
from pathlib import Path

import pytest
import safetensors.torch
import torch

from tests.helpers import WEIGHTS, load_one
from tests.vae.test_page_weights import tiny_weights
from vae.checkpoint import read_header
from vae.latent import decode_probs
from vae.page_weights import PAGE_PREFIXES, page_path, write_page_weights
from webapp.decoder_spec import decoder_bytes, page_source, page_spec

SHIPPED = sorted(WEIGHTS.glob("*.safetensors"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_prefix_holds_the_decoder_and_nothing_after_it(path: Path) -> None:
    start, header = read_header(path)
    n = decoder_bytes(path)
    prefix = path.read_bytes()[:n]
    read_by_page = {k: v for k, v in load_one(path).model.state_dict().items() if k.startswith(PAGE_PREFIXES)}
    for name, tensor in read_by_page.items():  # each tensor the page reads, read from the prefix alone, is the model's
        begin, end = (start + o for o in header[name]["data_offsets"])
        assert end <= n
        read = torch.frombuffer(bytearray(prefix[begin:end]), dtype=torch.float32).view(tensor.shape)
        torch.testing.assert_close(read, tensor, rtol=0, atol=0)
    others = {k: t for k, t in header.items() if k != "__metadata__" and not k.startswith(PAGE_PREFIXES)}
    inside = {k for k, t in others.items() if start + t["data_offsets"][0] < n}
    # Encoder and extras stay behind, but for a two-layer model's enc_hidden.*, whose names sort before enc_lower.*
    assert len(others) > len(inside) and inside == ({"enc_hidden.weight", "enc_hidden.bias"}
                                                    if load_one(path).model.config.lower_dim else set())


def test_spec_follows_the_model(tmp_path: Path) -> None:
    path = SHIPPED[0]
    loaded = load_one(path)
    spec = page_spec(loaded, path, "gradio_api/file=x")
    cfg = loaded.model.config
    assert spec["ranking"] == loaded.ranking and spec["latent_dim"] == cfg.latent_dim
    assert (spec["arch"], spec["hidden"], spec["num_classes"]) == (cfg.arch, cfg.hidden, cfg.num_classes)
    assert spec["sha256"] == safetensors.safe_open(path, "pt").metadata()["sha256"]
    assert spec["has_codes"] == ("test_mu" in loaded.extras)
    assert json.loads(json.dumps(spec)) == spec  # it goes into the page as JSON


def test_the_page_is_pointed_at_the_page_file_only_while_it_is_fresh(tmp_path: Path) -> None:
    path = tiny_weights(tmp_path / "tiny.safetensors", seed=0)
    with pytest.warns(UserWarning, match="scripts/page_weights.py"):
        assert page_source(path) == path  # no page file yet: the float32 file
    write_page_weights(path)
    assert page_source(path) == page_path(path)
    tiny_weights(path, seed=1)  # the model is trained again, the page file is not
    with pytest.warns(UserWarning, match="made from other weights"):
        assert page_source(path) == path


def test_the_spec_carries_the_origin_as_the_server_draws_it() -> None:
    for path in SHIPPED:
        loaded = load_one(path)
        if loaded.autoencoder:
            continue
        probs = decode_probs(loaded.model, torch.zeros(1, loaded.latent_dim),
                             torch.zeros(1, dtype=torch.long) if loaded.conditional else None)
        grey = (probs.clamp(0, 1) * 255 + 0.5).floor().flatten().to(torch.uint8)
        assert base64.b64decode(page_spec(loaded, path, "x")["origin"]) == bytes(grey.tolist())

