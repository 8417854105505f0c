"""Phone photos of real MNIST digits: how many are read right, per condition, and how long finding the digit takes.

The pictures are the generated corpus of the tests (tests/pictures/photo_corpus.py, the first test digits of
tests/data/mnist-sample.npz). Accuracy: the share of pictures whose 28x28 matches its source digit (the tests'
judge, photo_corpus.match >= MATCH). Time: `pictures.digitize.find_digit` on the decoded upload (decoding the JPEG
is Pillow's, before it, and printed apart), OpenCV and PyTorch on one thread, per picture size.

    python3 benchmarks/photos.py [--pictures 40] [--timed 30]
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import ROOT, summary, timed  # noqa: E402
from pictures.digitize import find_digit  # noqa: E402
from pictures.uploads import ImageError, open_image  # noqa: E402
from tests.pictures.photo_corpus import CONDITIONS, HARD, MATCH, judged, make  # noqa: E402

SIZES = {"1 MP": (1200, 900), "3 MP": (2000, 1500), "12 MP": (4000, 3000)}
TARGET_12MP_MS = 50.0
ACCURACY_SIZE = (1200, 900)
SMALL_DIGIT_SIZE = (1600, 1200)


def load_digits(count: int) -> np.ndarray:
    """The first `count` MNIST test digits of the shipped sample."""
    with np.load(ROOT / "tests" / "data" / "mnist-sample.npz") as sample:
        return sample["test_images"][:count]


def picture(data: bytes | np.ndarray):
    """What the app passes to find_digit: the opened upload, or the Sketchpad's array."""
    return open_image(data) if isinstance(data, bytes) else data


def read(data: bytes | np.ndarray, digit: np.ndarray) -> float:
    """How well the 28x28 made of a picture matches its source digit; -1 when no digit was found in it."""
    try:
        return judged(find_digit(picture(data)).digit, digit)
    except ImageError as error:
        return judged(error, digit)


def accuracy(digits: np.ndarray) -> None:
    """One line per condition: the share read right and the worst match (-1: no digit found)."""
    print(f"accuracy: {len(digits)} pictures per condition (1200x900; small_digit 1600x1200), match >= {MATCH}")
    for condition in CONDITIONS:
        print(condition_line(condition, digits))
    print("  not read reliably yet (tests/pictures/photo_corpus.py, HARD):")
    for condition in HARD:
        print(condition_line(condition, digits))


def condition_line(condition: str, digits: np.ndarray) -> str:
    """The share of one condition's pictures read right, and the worst match."""
    size = SMALL_DIGIT_SIZE if condition == "small_digit" else ACCURACY_SIZE
    scores = np.array([read(make(condition, digit, seed, *size), digit) for seed, digit in enumerate(digits)])
    return f"  {condition:<20} {np.mean(scores >= MATCH):6.1%} read right   worst match {scores.min():.2f}"


def speed(digits: np.ndarray, count: int) -> None:
    """p50 / p95 of find_digit per picture size, over photos of every photographic condition in turn."""
    photographic = [c for c in CONDITIONS if c not in ("scan", "light_on_dark", "transparent", "sketchpad")]
    for label, (width, height) in SIZES.items():
        uploads = [make(photographic[i % len(photographic)], digits[i % len(digits)], i, width, height)
                   for i in range(count)]
        opened = [picture(data) for data in uploads]
        find_digit(opened[0])  # warm-up: OpenCV's first call
        decode_ms = [timed(lambda d=data: open_image(d)) for data in uploads]
        find_ms = [timed(lambda p=p: find_digit(p)) for p in opened]
        print(summary(f"find_digit, {label} ({width}x{height})", find_ms,
                      TARGET_12MP_MS if label == "12 MP" else None))
        print(summary(f"  (decoding the JPEG first, {label})", decode_ms))


def main() -> None:
    """Print accuracy per condition, then the time per picture size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pictures", type=int, default=40, help="pictures per condition for the accuracy")
    parser.add_argument("--timed", type=int, default=30, help="timed pictures per size")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    digits = load_digits(max(args.pictures, args.timed))
    accuracy(digits[: args.pictures])
    speed(digits, args.timed)


if __name__ == "__main__":
    main()
