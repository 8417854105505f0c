"""What the page's own decoder needs to know about each model (no UI code).

The page decodes latent codes itself (static/decoder.js) from a safetensors file: the page's copy of
the model's decoder (weights/page/, vae/page_weights.py), or else the model's own file. It reads only
the start of the file: the header and the decoder's tensors (with a two-layer model's enc_lower.*), which the
safetensors writer stores first (tensors sorted by dtype, then name: dec_*, enc_* before extra.*, features.* of the
same dtype). A two-layer model's own file holds enc_hidden.* in that start too, between dec_* and enc_lower.*: the
page reads it only when the page's copy, which leaves it out, is missing.
"""

import base64
import warnings
from pathlib import Path

from torch import Tensor

from vae.checkpoint import read_header
from vae.loaded import LoadedModel
from vae.page_weights import MADE_BY, PAGE_PREFIXES, fresh_page_weights, page_path
from vae.render import to_image
from webapp.compute import decode_sliders


def decoder_bytes(path: str | Path) -> int:
    """How many bytes from the start of the file hold the header and every tensor the page reads (PAGE_PREFIXES)."""
    start, header = read_header(path)
    return start + max(t["data_offsets"][1] for name, t in header.items() if name.startswith(PAGE_PREFIXES))


def page_source(path: str | Path) -> Path:
    """The file the page decodes the model at `path` from: its page copy while that is fresh, else the model's
    float32 file (several times the bytes), with a warning that says how to make the copy."""
    page = fresh_page_weights(path)
    if page is None:
        warnings.warn(f"{page_path(path)} is missing or was made from other weights: the page fetches the float32 "
                      f"decoder ({decoder_bytes(path) / 1e6:.1f} MB). Make it with `{MADE_BY} {path}`.", stacklevel=2)
    return page or Path(path)


def grey_base64(probs: Tensor) -> str:
    """A 28x28 decoding as the server draws it (vae.render.to_image): 784 grey levels, base64, for the page."""
    return base64.b64encode(to_image(probs).tobytes()).decode()


def origin_grey(loaded: LoadedModel) -> str:
    """The model's digit at the origin (class 0), as grey_base64."""
    return grey_base64(decode_sliders(loaded, [], 0))


def page_spec(loaded: LoadedModel, path: str | Path, url: str) -> dict:
    """Everything the page needs to decode `loaded` itself: where its weights are, its shape, slider order, and
    its origin's picture, which the page shows before anything else has arrived."""
    cfg = loaded.model.config
    return {
        "url": url,
        "bytes": decoder_bytes(path),
        "sha256": read_header(path)[1]["__metadata__"]["sha256"],  # the page's cache key: new weights, new key
        "arch": cfg.arch,
        "latent_dim": cfg.latent_dim,
        "lower_dim": cfg.lower_dim,  # > 0: a lower layer z1 between the sliders' code and the pixels
        "hidden": cfg.hidden,
        "channels": list(cfg.channels),
        "num_classes": cfg.num_classes,
        "ranking": loaded.ranking,
        "class_names": loaded.class_names,
        "has_codes": "test_mu" in loaded.extras,  # the 2-D map draws the stored test-set codes
        "origin": origin_grey(loaded),
    }
