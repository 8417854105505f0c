"""Write the decoder weights the page fetches (weights/page/NAME.safetensors) from the shipped weights files.

    python scripts/page_weights.py                        # every model the app serves (weights/)
    python scripts/page_weights.py weights/conv-32d.safetensors

Run it after training or replacing a model: the app serves a page file only while it was made from the
weights file's current tensors (else the page fetches the float32 decoder, several times the bytes).
Prints, per model, the bytes the page fetches and how far its decodings are from float32 on 1,000 codes
(--report-only: the same for the page files there are, writing none).
"""

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vae.checkpoint import load_tensors  # noqa: E402
from vae.latent import decode_probs  # noqa: E402
from vae.loaded import load_model, load_models  # noqa: E402
from vae.page_weights import (  # noqa: E402
    CHECK_SEED,
    DECODER_PREFIX,
    PAGE_PREFIXES,
    SCALE_SUFFIX,
    decode_with,
    page_path,
    sample_codes,
    write_page_weights,
)

CODES = 1000


def grey(probs: torch.Tensor) -> torch.Tensor:
    """Pixel probabilities as the grey levels (0-255) vae.render.to_image draws."""
    return (probs.clamp(0, 1) * 255 + 0.5).floor()


def tensor_bytes(tensors: dict[str, torch.Tensor]) -> int:
    """The bytes of the page's tensors (header aside): what the page fetches for them."""
    return sum(t.numel() * t.element_size() for k, t in tensors.items() if k.startswith(PAGE_PREFIXES))


def report(path: Path, tensors: dict[str, torch.Tensor]) -> str:
    """One line for a weights file and its page tensors: bytes, the 8-bit tensors, the error against float32."""
    loaded = load_model(path)
    codes, labels = sample_codes(loaded, CODES, CHECK_SEED + 1)  # codes the 8-bit choice did not see
    with torch.no_grad():
        exact = decode_probs(loaded.model, codes, labels).flatten(1)
    page = decode_with(loaded, tensors, codes, labels)
    levels = (grey(page) - grey(exact)).abs()
    eight = [k for k in tensors if k + SCALE_SUFFIX in tensors]
    return (f"| {path.stem} | {tensor_bytes(loaded.model.state_dict()) / 1e6:.2f} MB | "
            f"{tensor_bytes(tensors) / 1e6:.2f} MB | {', '.join(eight) or '-'} | "
            f"{(page - exact).abs().max().item():.1e} | {levels.max().item():.0f} | "
            f"{(levels > 0).float().mean().item():.2%} | {(levels > 1).float().mean().item():.4%} |")


def main() -> None:
    """Write the page file of each weights file given (default: all shipped ones) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", nargs="*", type=Path, help="weights files (default: every model the app serves)")
    parser.add_argument("--report-only", action="store_true", help="measure the page files there are; write none")
    args = parser.parse_args()
    print(f"| model | float32 decoder | page's decoder | 8-bit ({DECODER_PREFIX}*; the rest float16) | max |dp| "
          f"| max grey levels | pixels off by 1+ | off by 2+ |")
    print("|---|---|---|---|---|---|---|---|")
    served = sorted(load_models(ROOT / "weights")[0])  # VAEs: the page never decodes a plain autoencoder
    for path in args.weights or [ROOT / "weights" / f"{name}.safetensors" for name in served]:
        tensors = load_tensors(page_path(path))[0] if args.report_only else write_page_weights(path)[1]
        print(report(path, tensors), flush=True)


if __name__ == "__main__":
    main()
