"""How much faster than the classic loop does the 784-400-20 VAE reach 105.6 nats on MNIST?

Runs two loops on the same model and metric, alternately (reference, ours, reference, ours, ...)
so that a load change on a shared machine hits both, and prints every run and the median ratio
of their wall times to the target with its range:
  1. the reference, as pytorch/examples vae/main.py trains: torchvision's DataLoader + ToTensor,
     batch 128, Adam 1e-3, a test pass over a test DataLoader after every epoch;
  2. ours: vae.training on the whole dataset as one tensor, with the flags given here (by default
     train.py's --epochs 4 --lr 5e-3 --lr-schedule onecycle --mean-image-init, in float32).
Wall time counts training and the per-epoch test passes, not loading the files; the process's CPU
time is printed beside it, as it barely depends on other jobs when both loops run one thread
(--threads 1). The test loss is the mean single-sample negative ELBO over the 10,000 test images
(grey-level targets), in float32.
--levers also runs ours with one choice changed at a time (the precision, the init) and the previous round's loop,
in the same alternation, to show what each gives.

    python benchmarks/train_speed.py --data-dir ../shared/data --runs 3
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
import torchvision
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vae.data import load_split, to_float  # noqa: E402
from vae.loss import negative_elbo  # noqa: E402
from vae.model import VAE, VAEConfig  # noqa: E402
from vae.training import TrainConfig, TrainState, fit, make_optimizer, uses_bf16  # noqa: E402

Rows = list[tuple[float, float, float]]  # (cumulative wall seconds, cumulative CPU seconds, test loss) per epoch


class Stopwatch:
    """Wall and CPU seconds since it was made: the process's CPU time barely depends on other jobs at one thread."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        """(wall seconds, CPU seconds of this process) so far."""
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def mnist_loader(data_dir: str, train: bool) -> DataLoader:
    """A torchvision MNIST split through ToTensor, batch 128, as the classic example builds it."""
    ds = torchvision.datasets.MNIST(data_dir, train=train, download=False, transform=torchvision.transforms.ToTensor())
    return DataLoader(ds, batch_size=128, shuffle=train)


def reference(data_dir: str, max_epochs: int, target: float, seed: int) -> Rows:
    """The classic loop until the target or max_epochs."""
    torch.manual_seed(seed)
    train, test = mnist_loader(data_dir, True), mnist_loader(data_dir, False)
    model = VAE(VAEConfig())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rows: Rows = []
    clock = Stopwatch()
    while len(rows) < max_epochs and (not rows or rows[-1][-1] > target):
        model.train()
        for x, _ in train:
            logits, mu, logvar = model(x)
            loss = negative_elbo(logits, x, mu, logvar).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        total = 0.0
        with torch.no_grad():
            for x, _ in test:
                logits, mu, logvar = model(x)
                total += float(negative_elbo(logits, x, mu, logvar).sum())
        rows.append((*clock.read(), total / len(test.dataset)))
    return rows


def ours(train_x: torch.Tensor, test_x: torch.Tensor, cfg: TrainConfig, target: float) -> Rows:
    """The whole-tensor loop until the target or cfg.epochs."""
    torch.manual_seed(cfg.seed)
    model = VAE(VAEConfig())
    opt = make_optimizer(model, cfg)
    rows: Rows = []
    clock = Stopwatch()

    def record(state: TrainState) -> bool:
        rows.append((*clock.read(), state.history[-1]["test_nelbo"]))
        return rows[-1][-1] <= target

    fit(model, opt, (train_x, None), (test_x, None), cfg, TrainState(), record, progress=False)
    return rows


def time_to(rows: Rows, target: float) -> tuple[float, float] | None:
    """(wall, CPU) seconds at the first epoch whose test loss is at or below target."""
    return next(((wall, cpu) for wall, cpu, loss in rows if loss <= target), None)


def show(name: str, rows: Rows, target: float) -> tuple[float, float] | None:
    """Print one run on one line; return its (wall, CPU) time to the target."""
    reached = time_to(rows, target)
    losses = " ".join(f"{loss:.2f}" for *_, loss in rows)
    outcome = "not reached" if reached is None else f"{reached[0]:6.1f} s (CPU {reached[1]:6.1f} s)"
    print(f"  {name:24s} {outcome:>24s}  {len(rows):2d} epochs, {rows[-1][0] / len(rows):.2f} s/epoch, "
          f"test -ELBO {losses}", flush=True)
    return reached


def load() -> str:
    """The machine's load averages: timings are only comparable at similar load."""
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def alternate(runs: int, loops: dict[str, Callable[[], Rows]], target: float) -> None:
    """Each loop in turn (the reference first), `runs` times; print each run's ratios, then medians and ranges."""
    ratios: dict[str, list[tuple[float, float]]] = {name: [] for name in list(loops)[1:]}
    for i in range(runs):
        print(f"run {i + 1}/{runs} ({load()})", flush=True)
        times = {name: show(name, run(), target) for name, run in loops.items()}
        ref_t = times.pop("reference")
        for name, t in times.items():
            if ref_t is not None and t is not None:
                ratios[name].append((ref_t[0] / t[0], ref_t[1] / t[1]))
                print(f"  ratio {ratios[name][-1][0]:5.2f}x (CPU time {ratios[name][-1][1]:5.2f}x)  {name}", flush=True)
    print(f"after the last run: {load()}\n")
    for name, r in ratios.items():
        if not r:
            print(f"{name}: no pair reached {target} nats; raise --reference-epochs or --epochs")
            continue
        print(f"speed-up to {target} nats, {name}: {spread([wall for wall, _ in r])} over {len(r)} alternating pairs "
              f"(CPU time: {spread([cpu for _, cpu in r])})")


def spread(ratios: list[float]) -> str:
    """A list of ratios as its median and range."""
    return f"median {statistics.median(ratios):.2f}x, range {min(ratios):.2f}-{max(ratios):.2f}x"


def lever_configs(cfg: TrainConfig) -> dict[str, TrainConfig]:
    """Ours, then ours with its precision flipped, with the init off (if on), and the previous round's loop."""
    changes = {"bf16": {"cpu_bf16": True}, "fp32": {"cpu_bf16": False},
               "no mean-image init": {"mean_image_init": False},
               "previous": {"epochs": 8, "lr": 3e-3, "lr_schedule": "cosine", "mean_image_init": False,
                            "cpu_bf16": False}}
    configs = {"ours": cfg}
    for name, change in changes.items():
        variant = replace(cfg, **change)
        if variant != cfg:
            configs[f"ours, {name}"] = variant
    return configs


def main() -> None:
    """Parse flags, load MNIST once, alternate the loops."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="data", help="torchvision MNIST root (default: data)")
    p.add_argument("--runs", type=int, default=3, help="runs of each loop, alternating (default: 3)")
    p.add_argument("--reference-epochs", type=int, default=10, help="most epochs of the classic loop (default: 10)")
    p.add_argument("--target", type=float, default=105.6, help="test loss to reach, nats (default: 105.6)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=torch.get_num_threads(),
                   help="CPU threads of both loops (default: torch's, one per core)")
    p.add_argument("--epochs", type=int, default=4, help="length of our schedule, in epochs (default: 4)")
    p.add_argument("--batch-size", type=int, default=128, help="our batch size (default: 128)")
    p.add_argument("--lr", type=float, default=5e-3, help="our peak Adam learning rate (default: 5e-3)")
    p.add_argument("--lr-schedule", default="onecycle", choices=["constant", "cosine", "onecycle"],
                   help="(default: onecycle)")
    p.add_argument("--mean-image-init", action=argparse.BooleanOptionalAction, default=True,
                   help="start the decoder at the mean training image (default: on)")
    p.add_argument("--cpu-bf16", action=argparse.BooleanOptionalAction, default=False,
                   help="bfloat16 autocast if this CPU has bf16 instructions (default: off; docs/engineering.md)")
    p.add_argument("--levers", action="store_true", help="also run ours with each choice changed, alternating")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    train_x = to_float(load_split("mnist", args.data_dir, train=True, download=False)[0])
    test_x = to_float(load_split("mnist", args.data_dir, train=False, download=False)[0])
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_schedule=args.lr_schedule,
                      seed=args.seed, mean_image_init=args.mean_image_init, cpu_bf16=args.cpu_bf16)
    print(f"reference: DataLoader + ToTensor, batch 128, Adam 1e-3, at most {args.reference_epochs} epochs")
    print(f"ours: {cfg}; bfloat16 {'on' if uses_bf16(train_x.device, cfg) else 'off'}")
    configs = lever_configs(cfg) if args.levers else {"ours": cfg}
    loops = {"reference": lambda: reference(args.data_dir, args.reference_epochs, args.target, args.seed)}
    loops.update({name: (lambda c=c: ours(train_x, test_x, c, args.target)) for name, c in configs.items()})
    alternate(args.runs, loops, args.target)


if __name__ == "__main__":
    main()
