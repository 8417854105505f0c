"""Does a model's code z alone draw the digit it came from? What the sliders, the maps and Interpolate show.

Each MNIST model decodes the posterior mean of random test images (a two-layer model's lower layer at its prior
mean, as the page decodes z), and each decoding is read by its nearest training image (pixels, L2): the share whose
class is kept. For a two-layer model also with the lower layer at its posterior mean given x, where the digit's
identity may live instead. The test images themselves, read the same way, give the reader's own ceiling.

    python3 benchmarks/code_alone.py --data-dir ../shared/data [--images 1000] [--reference 20000]
"""
import argparse
import os
import sys
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import ROOT  # noqa: E402
from vae.data import load_split, to_float  # noqa: E402
from vae.loaded import LoadedModel, load_models  # noqa: E402


def nearest_labels(pictures: Tensor, reference: Tensor, labels: Tensor) -> Tensor:
    """The label of each picture's nearest reference image (L2 over pixels)."""
    return labels[torch.cdist(pictures.flatten(1), reference.flatten(1)).argmin(1)]


@torch.no_grad()
def decodings(loaded: LoadedModel, x: Tensor) -> dict[str, Tensor]:
    """Pixel probabilities of x's posterior mean code: z alone, and for a two-layer model with u from q(u|x, z)."""
    model = loaded.model.eval()
    h = model.encoder_state(x)
    mu = model.posterior(h)[0]
    out = {"z alone": torch.sigmoid(model.decode(mu))}
    if model.config.lower_dim:
        out["z, u given x"] = torch.sigmoid(model.decode_lowest(model.lower_posterior(h, mu)[0]))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("VAE_DATA_DIR", "data"), help="MNIST (torchvision root)")
    p.add_argument("--weights", type=Path, default=ROOT / "weights")
    p.add_argument("--images", type=int, default=1000, help="random test images (seed 0)")
    p.add_argument("--reference", type=int, default=20000, help="training images the decodings are read against")
    args = p.parse_args()
    test, test_labels = load_split("mnist", args.data_dir, train=False, download=False)
    train, train_labels = load_split("mnist", args.data_dir, train=True, download=False)
    picked = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[: args.images]
    x, y = to_float(test[picked]), test_labels[picked]
    reference, reference_labels = to_float(train[: args.reference]), train_labels[: args.reference]
    kept = (nearest_labels(x, reference, reference_labels) == y).float().mean()
    print(f"{'the test images themselves':<44} class kept {kept:6.1%}")
    models, _ = load_models(args.weights)
    for name, loaded in models.items():
        if loaded.dataset != "mnist" or loaded.conditional:
            continue
        for how, probs in decodings(loaded, x).items():
            kept = (nearest_labels(probs, reference, reference_labels) == y).float().mean()
            print(f"{name + ': ' + how:<44} class kept {kept:6.1%}")


if __name__ == "__main__":
    main()
