"""How long does the page's own decoder (static/decoder.js) take per latent vector, model by model?

The math of a slider repaint in the page, without the app: each weights file's page copy (made in a scratch folder
when weights/page/ has no fresh one) is decoded by decoder.js alone in headless Chromium
(benchmarks/standalone_decoder.py), timed in the page around each call. Several rounds, each in a fresh page, the
models taking turns, print the spread. `--two-layer` adds an untrained two-layer model (seed 0) of the size of
docs/models.md's recipe: a stand-in until trained weights exist (the decoder skips the inputs a ReLU zeroed, so
trained weights may decode at another speed).

    python3 benchmarks/page_decode_speed.py [weights/conv-32d.safetensors ...] [--two-layer] [--codes 300] [--rounds 3]
"""
import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import ROOT, chromium  # noqa: E402
from benchmarks.standalone_decoder import DECODE_TIMES, decoder_page, spec_for  # noqa: E402
from vae.loaded import load_model, save_model  # noqa: E402
from vae.metadata import Metrics, ModelMetadata  # noqa: E402
from vae.model import VAE, VAEConfig  # noqa: E402
from vae.page_weights import fresh_page_weights, write_page_weights  # noqa: E402
from webapp.decoder_spec import decoder_bytes  # noqa: E402

TARGET_MS = 16.0  # one frame at 60 Hz: the whole repaint, of which the decode is nearly all
WARM_UP = 30
TWO_LAYER = VAEConfig(arch="conv", latent_dim=32, lower_dim=64, hidden=256)  # docs/models.md, "A two-layer model"


def two_layer_stand_in(folder: Path) -> Path:
    """An untrained model of the recipe's size, saved in `folder`."""
    torch.manual_seed(0)
    model = VAE(TWO_LAYER).eval()
    metrics = Metrics(test_recon=0.0, active_units=0, kl_per_dim=[1.0] * TWO_LAYER.latent_dim)
    path = folder / "two-layer-untrained.safetensors"
    save_model(path, model, ModelMetadata(dataset="mnist", config=TWO_LAYER, metrics=metrics))
    return path


def page_file(weights: Path, scratch: Path) -> Path:
    """The page copy of `weights`: the fresh one beside it, else one made from a copy in `scratch`."""
    fresh = fresh_page_weights(weights)
    if fresh:
        return fresh
    copy = scratch / weights.name
    if copy != weights:
        shutil.copy(weights, copy)
    return write_page_weights(copy)[0]


def main() -> None:
    """Time each model's page decoder over a few rounds and print one line per model."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path, nargs="*", default=[ROOT / "weights" / "conv-32d.safetensors"])
    parser.add_argument("--two-layer", action="store_true", help="add an untrained model of the recipe's size")
    parser.add_argument("--codes", type=int, default=300, help="timed decodes per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each in a fresh page")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, chromium() as browser:
        scratch = Path(tmp)
        files = [*args.weights, *([two_layer_stand_in(scratch)] if args.two_layer else [])]
        models = {weights: (load_model(weights), page_file(weights, scratch)) for weights in files}
        rounds: dict[Path, list[list[float]]] = {weights: [] for weights in files}
        for _ in range(args.rounds):  # the models take turns, so that the machine's load falls on all of them
            for weights, (loaded, page) in models.items():
                codes = (1.5 * torch.randn(WARM_UP + args.codes, loaded.latent_dim,
                                           generator=torch.Generator().manual_seed(0))).tolist()
                with decoder_page(browser, page) as tab:
                    rounds[weights].append(tab.evaluate(DECODE_TIMES, [spec_for(loaded, page), codes, WARM_UP]))
        for weights, (_, page) in models.items():
            p50 = [statistics.median(ms) for ms in rounds[weights]]
            p95 = [statistics.quantiles(ms, n=100, method="inclusive")[94] for ms in rounds[weights]]
            print(f"{weights.stem:<28} {decoder_bytes(page) / 1e6:5.2f} MB fetched, decode "
                  f"p50 {statistics.median(p50):.2f} ms ({min(p50):.2f}-{max(p50):.2f}), "
                  f"p95 {statistics.median(p95):.2f} ms ({min(p95):.2f}-{max(p95):.2f}) "
                  f"over {args.rounds} rounds of {args.codes}; target p95 <= {TARGET_MS:g} ms")

if __name__ == "__main__":
    main()
