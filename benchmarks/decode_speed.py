"""How long does one shipped model take to decode one latent vector on one CPU core?

This is the whole of a slider event's math (issue 4's budget: at most 2 ms for the default model).
Each model decodes random slider settings through `webapp.compute.decode_sliders`, the function the app
calls, with PyTorch limited to one thread as in the app.

    python3 benchmarks/decode_speed.py [--samples 1000] [--weights weights]
"""
import argparse
import os
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import ROOT, summary, timed  # noqa: E402
from vae.loaded import LoadedModel, load_models  # noqa: E402
from webapp.compute import SLIDER_RANGE, decode_sliders  # noqa: E402

TARGET_MS = 2.0
WARM_UP = 50


def bench_decode(loaded: LoadedModel, samples: int, seed: int = 0) -> list[float]:
    """Milliseconds per decode of one random slider setting, after WARM_UP calls that are not counted."""
    rng = random.Random(seed)
    calls = [[rng.uniform(-SLIDER_RANGE, SLIDER_RANGE) for _ in range(loaded.latent_dim)]
             for _ in range(samples + WARM_UP)]
    label = 0 if loaded.conditional else None
    ms = [timed(lambda v=values: decode_sliders(loaded, v, label)) for values in calls]
    return ms[WARM_UP:]


def main() -> None:
    """Time every model in the weights folder and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1000, help="timed decodes per model")
    parser.add_argument("--weights", type=Path, default=ROOT / "weights", help="folder of .safetensors files")
    args = parser.parse_args()

    torch.set_num_threads(1)
    models, problems = load_models(args.weights)
    for problem in problems:
        print("skipped:", problem)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread")
    for name, loaded in models.items():
        print(summary(f"{name} ({loaded.model.config.arch}, {loaded.latent_dim}-D)", bench_decode(loaded, args.samples),
                      TARGET_MS))


if __name__ == "__main__":
    main()
