"""What the page's own decoder needs to know about each model (no UI code).

The page decodes latent codes itself (static/decoder.js) from the model's safetensors file. It
reads only the start of the file: the header and the decoder's tensors, which the safetensors
writer stores first (tensors sorted by name: dec_* before enc_*, extra.*, features.*).
"""

import json
import struct
from pathlib import Path

from vae.explore import LoadedModel

DECODER_PREFIX = "dec_"


def header_tensors(path: str | Path) -> tuple[int, dict[str, dict]]:
    """A safetensors file's data start (8 + header length) and its tensor entries by name."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return 8 + n, header


def decoder_bytes(path: str | Path) -> int:
    """How many bytes from the start of the file hold the header and every decoder tensor."""
    start, tensors = header_tensors(path)
    return start + max(t["data_offsets"][1] for name, t in tensors.items() if name.startswith(DECODER_PREFIX))


def page_spec(lm: LoadedModel, path: str | Path, url: str) -> dict:
    """Everything the page needs to decode `lm` itself: where its weights are, its shape, slider order."""
    cfg = lm.model.config
    return {
        "url": url,
        "bytes": decoder_bytes(path),
        "arch": cfg.arch,
        "latent_dim": cfg.latent_dim,
        "hidden": cfg.hidden,
        "channels": list(cfg.channels),
        "num_classes": cfg.num_classes,
        "ranking": lm.ranking,
        "class_names": lm.class_names,
        "has_codes": "test_mu" in lm.extras,  # the 2-D map draws the stored test-set codes
    }
