"""The decoder's weights as the page fetches them: float16, and 8 bits where the pictures stay the same.

`scripts/page_weights.py` writes weights/page/NAME.safetensors from weights/NAME.safetensors: the decoder's
tensors in float16, each Linear weight in 8 bits (vae.quantize) if the model's decodings (and a hierarchy's
samples) then stay within TOLERANCE of float32, and the extras the page reads (the 2-D map's codes). The app
points the page at that file while it is fresh (made from the weights file's current tensors), else at the
float32 file itself.
"""

import copy
import json
from pathlib import Path

import safetensors
import torch
from torch import Tensor, nn

from vae.checkpoint import save_tensors
from vae.latent import decode_probs, sample_probs
from vae.loaded import EXTRA_PREFIX, LoadedModel, load_model
from vae.model import VAE
from vae.quantize import dequantize_rows, input_gram, quantize_rows

PAGE_DIR = "page"  # weights/page/: load_models reads only weights/*.safetensors
DECODER_PREFIX = "dec_"
# The page's tensors: the decoder, and a two-layer model's shift of q(z1|x, z) from p(z1|z), with which the page
# draws the lower layer of a digit's code ("How a VAE works", static/overview.js).
PAGE_PREFIXES = (DECODER_PREFIX, "enc_lower.")
SCALE_SUFFIX = ".scale"  # an 8-bit tensor's row scales: "dec_out.0.weight.scale" beside "dec_out.0.weight"
PAGE_EXTRAS = ("test_mu", "test_labels")  # what static/page.js reads besides the decoder: the 2-D map's codes
TOLERANCE = 0.01  # the most an 8-bit layer may move a pixel probability on the check codes: 2.55 grey levels
CODE_SPREAD = 1.5  # codes ~ N(0, 1.5^2): most slider positions (+-3), as the page's parity test draws them
CALIBRATION_CODES, CHECK_CODES = 16384, 1000
CALIBRATION_SEED, CHECK_SEED = 1, 2  # neither is the parity test's seed (0)
MADE_BY = "python scripts/page_weights.py"


def page_path(path: str | Path) -> Path:
    """Where the page's copy of a weights file lives: weights/page/NAME.safetensors."""
    path = Path(path)
    return path.parent / PAGE_DIR / path.name


def source_sha256(path: str | Path) -> str:
    """The SHA-256 of a weights file's tensors, from its header (vae.checkpoint writes it)."""
    with safetensors.safe_open(str(path), "pt") as f:
        return f.metadata()["sha256"]


def sample_codes(loaded: LoadedModel, n: int, seed: int) -> tuple[Tensor, Tensor | None]:
    """n codes of the kind the page decodes, and a label each for a conditional model (else None)."""
    gen = torch.Generator().manual_seed(seed)
    codes = CODE_SPREAD * torch.randn(n, loaded.latent_dim, generator=gen)
    labels = torch.randint(0, max(loaded.model.config.num_classes, 1), (n,), generator=gen)
    return codes, labels if loaded.conditional else None


def decoder_state(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """The float32 decoder (and lower posterior) tensors that page tensors stand for (8-bit ones times their row
    scales)."""
    out = {}
    for name, t in tensors.items():
        if not name.startswith(PAGE_PREFIXES) or name.endswith(SCALE_SUFFIX):
            continue
        scale = tensors.get(name + SCALE_SUFFIX)
        out[name] = t.float() if scale is None else dequantize_rows(t, scale)
    return out


def with_page_decoder(loaded: LoadedModel, tensors: dict[str, Tensor]) -> VAE:
    """A copy of `loaded`'s model whose decoder is the one page tensors stand for."""
    model = copy.deepcopy(loaded.model)
    model.load_state_dict(decoder_state(tensors), strict=False)
    return model


def decode_with(loaded: LoadedModel, tensors: dict[str, Tensor], codes: Tensor, labels: Tensor | None) -> Tensor:
    """Pixel probabilities (N, 784) of `loaded` with its decoder replaced by the one page tensors stand for."""
    with torch.no_grad():
        return decode_probs(with_page_decoder(loaded, tensors), codes, labels).flatten(1)


def page_pictures(model: VAE, codes: Tensor, labels: Tensor | None) -> Tensor:
    """What the page draws from `codes` (N, 784 each): their decodings and, for a hierarchy, also a sample of each
    (z1 drawn from p(z1|z), as Random samples draws it, with noise fixed by CHECK_SEED)."""
    decoded = decode_probs(model, codes, labels).flatten(1)
    if not model.config.lower_dim:
        return decoded
    noise = torch.randn(len(codes), model.config.lower_dim, generator=torch.Generator().manual_seed(CHECK_SEED))
    return torch.cat([decoded, sample_probs(model, torch.cat([codes, noise], 1), 1.0, labels).flatten(1)])


def max_error(loaded: LoadedModel, tensors: dict[str, Tensor], codes: Tensor, labels: Tensor | None) -> float:
    """The largest change of a pixel probability, page tensors against the float32 model, over what the page
    draws from `codes`."""
    exact = page_pictures(loaded.model, codes, labels)
    return (page_pictures(with_page_decoder(loaded, tensors), codes, labels) - exact).abs().max().item()


def linear_layers(loaded: LoadedModel) -> list[tuple[str, nn.Linear]]:
    """The decoder's Linear layers by state-dict name of their weight, largest first."""
    found = [(f"{name}.weight", m) for name, m in loaded.model.named_modules()
             if name.startswith(DECODER_PREFIX) and isinstance(m, nn.Linear)]
    return sorted(found, key=lambda item: -item[1].weight.numel())


def page_tensors(loaded: LoadedModel) -> dict[str, Tensor]:
    """The tensors of the page's file: the decoder (and a two-layer model's enc_lower) in float16, each decoder
    Linear weight in 8 bits where that keeps the decodings within TOLERANCE (largest first, on CHECK_CODES codes),
    and the extras the page reads."""
    tensors = {k: v.detach().half() for k, v in loaded.model.state_dict().items() if k.startswith(PAGE_PREFIXES)}
    codes, labels = sample_codes(loaded, CALIBRATION_CODES, CALIBRATION_SEED)
    check = sample_codes(loaded, CHECK_CODES, CHECK_SEED)
    for name, layer in linear_layers(loaded):
        gram = input_gram(layer, lambda: loaded.model.decode(codes, labels))
        q, scale = quantize_rows(layer.weight, gram)
        trial = {**tensors, name: q, name + SCALE_SUFFIX: scale}
        if max_error(loaded, trial, *check) <= TOLERANCE:
            tensors = trial
    tensors.update({EXTRA_PREFIX + k: loaded.extras[k] for k in PAGE_EXTRAS if k in loaded.extras})
    return tensors


def write_page_weights(path: str | Path) -> tuple[Path, dict[str, Tensor]]:
    """Write the page's file for the weights file at `path`; returns where, and its tensors."""
    loaded = load_model(path)
    tensors = page_tensors(loaded)
    out = page_path(path)
    save_tensors(out, tensors, {"source": Path(path).name, "source_sha256": source_sha256(path),
                                "tolerance": TOLERANCE, "made_by": MADE_BY})
    return out, tensors


def fresh_page_weights(path: str | Path) -> Path | None:
    """The page's file for the weights file at `path` if it was made from that file's current tensors, else None
    (missing, stale, or unreadable, e.g. a Git LFS pointer)."""
    page = page_path(path)
    try:
        with safetensors.safe_open(str(page), "pt") as f:
            made_from = json.loads(f.metadata()["metadata"])["source_sha256"]
        return page if made_from == source_sha256(path) else None
    except (OSError, KeyError, TypeError, ValueError, safetensors.SafetensorError):
        return None
