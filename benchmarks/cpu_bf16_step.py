"""Is `train.py --cpu-bf16` worth it for a model's training step on this CPU? Float32 against bf16 autocast.

Times the step `train.py` runs (vae.training.Objective: forward, loss, backward; no optimiser step, so the
weights stay put) on one batch of training digits (binarized if the model was trained so), the model and its
recipe (IWAE samples, KL floor) read from a weights file, in alternating rounds at torch's default threads, and
prints each precision's median and range per step and per 60,000 images, and the loss each gives on the same draws.

    python3 benchmarks/cpu_bf16_step.py --data-dir ../shared/data [--weights weights/hconv-32d-64d.safetensors]
"""
import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import ROOT  # noqa: E402
from vae.data import evaluation_inputs, load_split  # noqa: E402
from vae.loaded import LoadedModel, load_model  # noqa: E402
from vae.loss import LossConfig  # noqa: E402
from vae.training import Objective, cpu_has_bf16, draws_noise, steps_per_epoch  # noqa: E402


def step_fn(loaded: LoadedModel, bf16: bool) -> Objective:
    """The model's training objective as train.py builds it, in float32 or with bf16 autocast; no KL warm-up, so
    every step weighs the full objective."""
    cfg = dataclasses.replace(loaded.metadata.train, cpu_bf16=bf16)
    return Objective(loaded.model.train(), cfg, LossConfig(cfg.beta, 0, cfg.free_bits, cfg.lower_kl_floor))


def one_round(fn: Objective, x: Tensor, steps: int) -> tuple[float, float]:
    """Seconds per step over `steps` steps after one untimed, and the mean loss (the draws seeded per step)."""
    losses = []
    for i in range(steps + 1):
        if i == 1:
            start = time.perf_counter()
        torch.manual_seed(i)
        noise = torch.randn(len(x), fn.model.config.noise_dim) if draws_noise(fn.cfg) else None
        loss = fn(x, None, noise, 0)[0]
        fn.model.zero_grad(set_to_none=True)
        loss.backward()
        losses.append(loss.item())
    return (time.perf_counter() - start) / steps, statistics.fmean(losses[1:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("VAE_DATA_DIR", "data"), help="MNIST (torchvision root)")
    p.add_argument("--weights", type=Path, default=ROOT / "weights" / "hconv-32d-64d.safetensors")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of each precision")
    p.add_argument("--steps", type=int, default=10, help="timed steps a round")
    args = p.parse_args()
    if not cpu_has_bf16():
        sys.exit("this CPU has no bf16 instructions (AVX512-BF16 or AMX): --cpu-bf16 does nothing here")
    loaded = load_model(args.weights)
    train = loaded.metadata.train
    images, _ = load_split("mnist", args.data_dir, train=True, download=False)
    x = evaluation_inputs(images[: train.batch_size], train.binarize)
    times: dict[str, list[float]] = {"float32": [], "bf16": []}
    losses: dict[str, float] = {}
    for _ in range(args.rounds):
        for name in times:
            seconds, losses[name] = one_round(step_fn(loaded, name == "bf16"), x, args.steps)
            times[name].append(seconds)
    per_epoch = steps_per_epoch(60_000, train.batch_size)
    print(f"{loaded.name}: batch {train.batch_size}, {train.iw_samples} IWAE samples, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.rounds} alternating rounds of {args.steps} steps")
    for name, t in times.items():
        print(f"  {name:<8} median {statistics.median(t) * 1e3:6.1f} ms a step ({min(t) * 1e3:.1f}-"
              f"{max(t) * 1e3:.1f}), {statistics.median(t) * per_epoch:5.1f} s per 60,000 images; "
              f"mean loss {losses[name]:.3f}")
    ratios = [f / b for f, b in zip(times["float32"], times["bf16"], strict=True)]
    print(f"  float32 / bf16, round by round: median {statistics.median(ratios):.2f} "
          f"({min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
