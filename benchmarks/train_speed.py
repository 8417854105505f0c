"""How fast does the classic 784-400-20 VAE reach 105.6 nats on MNIST?

Runs, in one process on one machine, two loops on the same model and metric:
  1. the reference: torchvision's DataLoader + ToTensor, batch 128, Adam 1e-3, as in
     pytorch/examples vae/main.py (by default 1 epoch, enough for its seconds per epoch);
  2. ours: the whole dataset as one tensor, minibatched by shuffled indices (vae.training),
     with the batch size and learning rate given here;
and prints seconds per epoch, images per second, and the wall time until the test loss
(single-sample negative ELBO over the 10,000 test images, continuous targets) first reaches
the target. Wall time counts training and the per-epoch test passes, not data loading.

    python benchmarks/train_speed.py --data-dir ../shared/data
"""

import argparse
import sys
import time
from pathlib import Path

import torch
import torchvision
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vae.data import load_split, to_float  # noqa: E402
from vae.evaluate import mean_negative_elbo  # noqa: E402
from vae.loss import negative_elbo  # noqa: E402
from vae.model import VAE, VAEConfig  # noqa: E402
from vae.training import TrainConfig, TrainState, fit  # noqa: E402


def reference_epochs(data_dir: str, epochs: int, test_x: torch.Tensor, seed: int) -> list[tuple[float, float]]:
    """The classic per-image PIL pipeline; returns (cumulative wall seconds, test loss) per epoch."""
    torch.manual_seed(seed)
    ds = torchvision.datasets.MNIST(data_dir, train=True, download=False, transform=torchvision.transforms.ToTensor())
    loader = DataLoader(ds, batch_size=128, shuffle=True)
    model = VAE(VAEConfig())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    out, start = [], time.perf_counter()
    for _ in range(epochs):
        model.train()
        for x, _ in loader:
            logits, mu, logvar = model(x)
            loss = negative_elbo(logits, x, mu, logvar).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        out.append((time.perf_counter() - start, mean_negative_elbo(model, test_x)))
    return out


def ours(train_x: torch.Tensor, test_x: torch.Tensor, cfg: TrainConfig, target: float) -> list[tuple[float, float]]:
    """The whole-tensor loop until the target or cfg.epochs; (cumulative wall seconds, test loss) per epoch."""
    torch.manual_seed(cfg.seed)
    model = VAE(VAEConfig())
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    out, start = [], time.perf_counter()

    def record(state: TrainState) -> bool:
        out.append((time.perf_counter() - start, state.history[-1]["test_nelbo"]))
        return out[-1][1] <= target

    fit(model, opt, (train_x, None), (test_x, None), cfg, TrainState(), record, progress=False)
    return out


def time_to(rows: list[tuple[float, float]], target: float) -> float | None:
    """Wall seconds at the first epoch whose test loss is at or below target."""
    return next((t for t, loss in rows if loss <= target), None)


def report(name: str, rows: list[tuple[float, float]], n_images: int, target: float) -> float:
    """Print one loop's figures; return its seconds per epoch."""
    per_epoch = rows[-1][0] / len(rows)
    print(f"\n{name}")
    for i, (t, loss) in enumerate(rows):
        print(f"  epoch {i + 1:2d}  {t:7.1f} s  test -ELBO {loss:8.3f}")
    print(f"  {per_epoch:.2f} s/epoch, {n_images / per_epoch:,.0f} images/s")
    reached = time_to(rows, target)
    print(f"  reached {target}: " + ("not within these epochs" if reached is None else f"after {reached:.1f} s"))
    return per_epoch


def main() -> None:
    """Run both loops and print the comparison."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="data", help="torchvision MNIST root (default: data)")
    p.add_argument("--batch-size", type=int, default=128, help="our loop's batch size (default: 128)")
    p.add_argument("--lr", type=float, default=3e-3, help="our loop's peak Adam learning rate (default: 3e-3)")
    p.add_argument("--lr-schedule", default="cosine", choices=["constant", "cosine"], help="(default: cosine)")
    p.add_argument("--max-epochs", type=int, default=8, help="length of our schedule, in epochs (default: 8)")
    p.add_argument("--reference-epochs", type=int, default=1, help="epochs of the classic loop (default: 1)")
    p.add_argument("--target", type=float, default=105.6, help="test loss to reach, nats (default: 105.6)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    train_images, _ = load_split("mnist", args.data_dir, train=True, download=False)
    test_images, _ = load_split("mnist", args.data_dir, train=False, download=False)
    train_x, test_x = to_float(train_images), to_float(test_images)
    cfg = TrainConfig(epochs=args.max_epochs, batch_size=args.batch_size, lr=args.lr,
                      lr_schedule=args.lr_schedule, seed=args.seed)

    ref_rows = reference_epochs(args.data_dir, args.reference_epochs, test_x, args.seed)
    ref = report("reference: DataLoader + ToTensor, batch 128, lr 1e-3",
                 ref_rows, len(train_x), args.target)
    rows = ours(train_x, test_x, cfg, args.target)
    mine = report(f"ours: whole-tensor batches, batch {cfg.batch_size}, lr {cfg.lr} {cfg.lr_schedule}",
                  rows, len(train_x), args.target)
    print(f"\nspeed-up per epoch: {ref / mine:.1f}x")
    ours_t, ref_t = time_to(rows, args.target), time_to(ref_rows, args.target)
    if ours_t is not None and ref_t is not None:
        print(f"speed-up to {args.target} nats: {ref_t / ours_t:.1f}x ({ref_t:.1f} s -> {ours_t:.1f} s)")


if __name__ == "__main__":
    main()
