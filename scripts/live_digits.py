"""Write the MNIST subset that the "Watch it learn" view trains on, shipped with the app.

    python scripts/live_digits.py --data-dir ../shared/data     # writes vae/assets/mnist-live.npz

The first 10,000 training and the first 1,000 test digits of MNIST, as uint8 in a compressed .npz
(the layout of tests/data/mnist-sample.npz, whose 3,000 + 1,000 digits are the first of these).
The first 10,000 training digits hold every class about equally (863 to 1,127 of each).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vae.data import load_split  # noqa: E402
from vae.live_training import DIGITS_FILE  # noqa: E402

TRAIN_DIGITS, TEST_DIGITS = 10_000, 1_000


def subset(data_dir: Path) -> dict[str, np.ndarray]:
    """The first TRAIN_DIGITS training and TEST_DIGITS test digits of MNIST, images and labels as uint8."""
    arrays = {}
    for split, n in (("train", TRAIN_DIGITS), ("test", TEST_DIGITS)):
        images, labels = load_split("mnist", data_dir, train=split == "train", download=False)
        arrays[f"{split}_images"] = images[:n].numpy()
        arrays[f"{split}_labels"] = labels[:n].numpy().astype(np.uint8)
    return arrays


def main() -> None:
    """Read MNIST from --data-dir and write the subset."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True, help="MNIST in torchvision's layout or as idx files")
    p.add_argument("--out", type=Path, default=DIGITS_FILE, help=f"where to write (default: {DIGITS_FILE})")
    args = p.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **subset(args.data_dir))
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
