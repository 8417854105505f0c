"""What the page's own decoder needs to know about each model (no UI code).

The page decodes latent codes itself (static/decoder.js) from the model's safetensors file. It
reads only the start of the file: the header and the decoder's tensors, which the safetensors
writer stores first (tensors sorted by name: dec_* before enc_*, extra.*, features.*).
"""

from pathlib import Path

from vae.checkpoint import read_header
from vae.loaded import LoadedModel

DECODER_PREFIX = "dec_"


def decoder_bytes(path: str | Path) -> int:
    """How many bytes from the start of the file hold the header and every decoder tensor."""
    start, header = read_header(path)
    return start + max(t["data_offsets"][1] for name, t in header.items() if name.startswith(DECODER_PREFIX))


def page_spec(loaded: LoadedModel, path: str | Path, url: str) -> dict:
    """Everything the page needs to decode `loaded` itself: where its weights are, its shape, slider order."""
    cfg = loaded.model.config
    return {
        "url": url,
        "bytes": decoder_bytes(path),
        "sha256": read_header(path)[1]["__metadata__"]["sha256"],  # the page's cache key: new weights, new key
        "arch": cfg.arch,
        "latent_dim": cfg.latent_dim,
        "hidden": cfg.hidden,
        "channels": list(cfg.channels),
        "num_classes": cfg.num_classes,
        "ranking": loaded.ranking,
        "class_names": loaded.class_names,
        "has_codes": "test_mu" in loaded.extras,  # the 2-D map draws the stored test-set codes
    }
