"""How thick a drawn digit comes out in the 28x28 the model sees, for a few widths of the drawing pad's pen.

    python3 benchmarks/pen_width.py

Draws the browser tests' 7 on a 280 px pad (static/draw.js) at two sizes, runs it through
pictures.digitize as the app does, and prints its ink (the sum of its pixels in [0, 1]) next to the
ink of the 7s in the MNIST test sample shipped in tests/data.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import PAD_SIZE, ROOT, SEVEN  # noqa: E402
from pictures.digitize import to_mnist  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "mnist-sample.npz"


def ink(width: int, scale: float) -> float:
    """Ink of SEVEN, scaled by `scale` about the pad's centre and drawn `width` px wide, as the model sees it."""
    image = Image.new("L", (PAD_SIZE, PAD_SIZE), 255)
    points = [(PAD_SIZE / 2 + x * scale, PAD_SIZE / 2 + y * scale) for x, y in SEVEN]
    ImageDraw.Draw(image).line(points, fill=0, width=width, joint="curve")
    return float(to_mnist(image).sum())


def main() -> None:
    """Print MNIST's 7s, then one line per pen width."""
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    with np.load(SAMPLE) as f:
        sevens = f["test_images"][f["test_labels"] == 7] / 255.0
    q25, q50, q75 = np.percentile(sevens.sum(axis=(1, 2)), [25, 50, 75])
    print(f"MNIST test sample, {len(sevens)} sevens: ink median {q50:.1f}, interquartile range {q25:.1f}-{q75:.1f}")
    height = max(y for _, y in SEVEN) - min(y for _, y in SEVEN)
    scales = (1.0, 1.6)
    print("pen px " + "".join(f"  7 of {height * s / PAD_SIZE:.0%} of the pad" for s in scales))
    for width in (12, 16, 20, 24, 28):
        print(f"{width:6d} " + "".join(f"  {ink(width, s):21.1f}" for s in scales))


if __name__ == "__main__":
    main()
