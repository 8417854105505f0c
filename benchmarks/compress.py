"""How short does bits-back coding with a shipped VAE make binarized MNIST test digits, and how fast is it?

Codes the test set (binarized once with the fixed seed every model is measured with, vae.data.evaluation_inputs)
as one message, decodes it back and checks it bit for bit; then codes each digit on its own message and prints
the median size beside a 1-bit PNG and zlib of the packed pixels, and the time per digit on one CPU thread.

    python3 benchmarks/compress.py --data-dir ../shared/data [--digits 10000] [--weights weights/conv-32d.safetensors]
"""
import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import vae.compress as coder  # noqa: E402
from benchmarks.harness import ROOT  # noqa: E402
from vae.data import evaluation_inputs, load_split  # noqa: E402
from vae.loaded import load_model  # noqa: E402
from vae.model import N_PIXELS  # noqa: E402

BB_ANS = 0.19  # bits per pixel, Townsend, Bird and Barber (ICLR 2019), dynamically binarized MNIST
TARGET = 0.17
T = TypeVar("T")


def spread(values: list[float], unit: str, digits: int = 2) -> str:
    """Median and range of some figures, in a few words."""
    return (f"median {statistics.median(values):.{digits}f} {unit} "
            f"(range {min(values):.{digits}f}-{max(values):.{digits}f})")


def timed(fn: Callable[..., T], *args: object) -> tuple[T, float, float]:
    """fn(*args), and the milliseconds it took: on the clock, and of this process's CPU time.

    On a shared machine the CPU time is the fairer figure: the wall clock also counts other jobs' turns.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def main() -> None:
    """Code the test set as one message and digit by digit; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("VAE_DATA_DIR", "data"), help="MNIST (torchvision root)")
    parser.add_argument("--weights", type=Path, default=ROOT / "weights" / "conv-32d.safetensors")
    parser.add_argument("--digits", type=int, default=10_000, help="test digits to code (default: all 10,000)")
    args = parser.parse_args()

    torch.set_num_threads(1)
    loaded = load_model(args.weights)
    codec = coder.make_codec(loaded)
    images, _ = load_split(loaded.dataset, args.data_dir, train=False, download=False)
    x = evaluation_inputs(images[: args.digits], binarized=True)[:, 0].to(torch.uint8).numpy()
    n, pixels = len(x), len(x) * N_PIXELS
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; torch {torch.__version__}, "
          f"1 thread; model {loaded.name}; {n:,} binarized test digits")

    message, wall_in, cpu_in = timed(coder.compress, codec, x)
    back, wall_out, cpu_out = timed(coder.decompress, codec, message.data)
    assert np.array_equal(back, x), "the message did not decode to the digits"
    nelbo = coder.negative_elbo_bits(codec, x, samples=16)
    print(f"one message: {len(message.data):,} bytes for {n:,} digits, decoded back exactly")
    print(f"  total {8 * len(message.data) / pixels:.4f} bits/pixel (header and start-up bits included; "
          f"target <= {TARGET}, BB-ANS published {BB_ANS})")
    print(f"  net   {message.net_bits / pixels:.4f} bits/pixel, {message.net_bits / n:.1f} bits a digit "
          f"(start-up {message.startup_bits} bits, header {8 * coder.HEADER.size} bits)")
    print(f"  negative ELBO {float(nelbo.mean()) / N_PIXELS:.4f} bits/pixel, {float(nelbo.mean()):.1f} bits a digit "
          f"(16 z draws a digit; recorded test -ELBO {loaded.metadata.metrics.test_nelbo / coder.LN2:.1f} bits)")
    print(f"  time a digit: compress {wall_in / n:.2f} ms ({cpu_in / n:.2f} ms CPU), "
          f"decompress {wall_out / n:.2f} ms ({cpu_out / n:.2f} ms CPU)")

    sizes, payload, png, zlib_ = [], [], [], []
    times: dict[str, list[float]] = {"compress": [], "compress CPU": [], "decompress": [], "decompress CPU": []}
    for digit in x:
        single, *ms_in = timed(coder.compress_digit, codec, digit)
        one, *ms_out = timed(coder.decompress, codec, single.data)
        for key, ms in zip(times, (*ms_in, *ms_out), strict=True):
            times[key].append(ms)
        assert np.array_equal(one[0], digit), "a digit did not decode to itself"
        sizes.append(len(single.data))
        payload.append(len(single.data) - coder.HEADER.size)
        reference = coder.comparison_sizes(digit)
        png.append(reference["png"])
        zlib_.append(reference["zlib"])
    print(f"one digit a message ({n:,} messages, each decoded back exactly):")
    print(f"  .vae file {spread(sizes, 'bytes', 0)}: {coder.HEADER.size}-byte header + coded words "
          f"{spread(payload, 'bytes', 0)}")
    print(f"  1-bit PNG {spread(png, 'bytes', 0)}; zlib -9 of the 98 packed bytes {spread(zlib_, 'bytes', 0)}")
    for key, ms in times.items():
        print(f"  {key:<15} {spread(ms, 'ms')} a digit")


if __name__ == "__main__":
    main()
