"""On a machine with a CUDA GPU, one command: the CUDA tests, the race against pytorch/examples, the epoch times.

    python benchmarks/gpu.py --data-dir DIR            # DIR: the four MNIST idx files (.gz), or torchvision's root
    python benchmarks/gpu.py --data-dir DIR --smoke    # a short dry run of every part, on a CPU too

1. The CUDA tests: pytest -k cuda on tests/vae/test_training.py and tests/vae/test_device_step.py.
2. Time to the target (105.6 nats, test -ELBO), whole processes, alternating (reference, ours, reference, ...)
   so that a change of load hits both: pytorch/examples' vae/main.py as published
   (benchmarks/pytorch_examples_vae_main.py) against train.py with its fastest flags. For each process: the
   seconds from its start to each epoch's test loss (so the epochs' times are the differences), to the target,
   and the ratio per pair, then their median and range. train.py's own start-up line (imports, CUDA, data) is
   shown too. Both stop once they reach the target.
3. Epoch times in this process, data on the GPU: 784-400-20 on the fast recipe, conv-32d's recipe and
   conv-32d on the IWAE bound (k=5), each through train_epoch (eager) and through CUDA graphs (DeviceEpochs);
   the epochs after the first (which warms up and captures), median and range.
docs/gpu.md says what the figures are for. Nothing here needs a network: MNIST comes from --data-dir.
"""

import argparse
import gzip
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vae.data import load_split, local_copies, to_float  # noqa: E402
from vae.device_step import DeviceEpochs  # noqa: E402
from vae.model import VAE, VAEConfig  # noqa: E402
from vae.training import Replica, TrainConfig, TrainState, make_optimizer, objective, train_epoch  # noqa: E402

REFERENCE = ROOT / "benchmarks" / "pytorch_examples_vae_main.py"
FAST_FLAGS = ["--lr", "5e-3", "--lr-schedule", "onecycle", "--mean-image-init", "--cuda-graph"]
REFERENCE_LOSS = re.compile(r"====> Test set loss: ([-\d.]+)")  # what main.py prints after each epoch
OURS_LOSS = re.compile(r"test -ELBO\s+([-\d.]+) nats")  # what train.py prints after each epoch
CONV_32D = VAEConfig(arch="conv", latent_dim=32, hidden=512)
Lines = list[tuple[float, str]]  # each line a process printed, with the seconds since its start when it came


def prepare_data(data_dir: Path, scratch: Path) -> Path:
    """A torchvision root in `scratch` holding MNIST/raw unpacked, as main.py reads it (its ../data); train.py too."""
    raw = scratch / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for train in (True, False):
        for gz, unpacked in zip(*local_copies("mnist", data_dir, train), strict=True):
            if unpacked.exists():
                shutil.copyfile(unpacked, raw / unpacked.name)
            elif gz.exists():
                (raw / unpacked.name).write_bytes(gzip.decompress(gz.read_bytes()))
            else:
                sys.exit(f"{gz.name} is neither in {data_dir} nor in {unpacked.parent}: pass --data-dir with MNIST")
    return scratch / "data"


def run_process(cmd: list[str], cwd: Path, loss: re.Pattern, target: float) -> Lines:
    """Run `cmd` until it ends or prints a test loss at or below `target`; every line with its arrival time."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: Lines = []
    for line in proc.stdout:
        lines.append((time.perf_counter() - start, line.rstrip()))
        found = loss.search(line)
        if found and float(found.group(1)) <= target:
            proc.terminate()  # reached: the rest of the run is not part of the race
            break
    proc.wait()
    if not any(loss.search(line) for _, line in lines):
        sys.exit(f"{cmd[1]} printed no test loss; its last lines:\n" + "\n".join(line for _, line in lines[-15:]))
    return lines


def epochs_of(lines: Lines, loss: re.Pattern) -> list[tuple[float, float]]:
    """(seconds since the start, test loss) at each epoch's loss line."""
    return [(t, float(m.group(1))) for t, line in lines if (m := loss.search(line))]


def show_run(name: str, lines: Lines, loss: re.Pattern, target: float) -> float | None:
    """Print one process: its start-up line if any, each epoch's arrival and time, the time to the target."""
    epochs = epochs_of(lines, loss)
    reached = next((t for t, value in epochs if value <= target), None)
    arrivals = " ".join(f"{t:.1f}" for t, _ in epochs)
    steps = " ".join(f"{b - a:.2f} s" for (a, _), (b, _) in zip(epochs, epochs[1:], strict=False)) or "none"
    print(f"  {name:9s} to {target} nats: {'not reached' if reached is None else f'{reached:6.2f} s'}; "
          f"test loss {' '.join(f'{v:.2f}' for _, v in epochs)}", flush=True)
    print(f"  {'':9s} seconds from the start to each epoch's loss: {arrivals}; epochs after the first: {steps}")
    for _, line in lines:
        if line.startswith("start-up:") or line.startswith("epoch "):
            print(f"  {'':9s} | {line}")
    return reached


def spread(values: list[float], unit: str) -> str:
    """Median and range."""
    return f"median {statistics.median(values):.3g}{unit}, range {min(values):.3g}-{max(values):.3g}{unit}"


def race(args: argparse.Namespace, data: Path, scratch: Path) -> None:
    """Alternate the reference and ours; print each run and the ratios of their times to the target."""
    run_dir = scratch / "reference"
    (run_dir / "results").mkdir(parents=True)  # main.py writes its pictures there
    reference = [sys.executable, str(REFERENCE), "--epochs", str(args.reference_epochs)]
    ours = [sys.executable, str(ROOT / "train.py"), "--data-dir", str(data), "--no-download", "--no-progress",
            *FAST_FLAGS, "--epochs", str(args.epochs), "--name", "race", "--out-dir", str(scratch / "weights"),
            "--run-dir", str(scratch / "runs"), "--eval-k", "100", "--nll-images", "100"]
    print(f"reference: {REFERENCE.name} --epochs {args.reference_epochs}\nours:      train.py {' '.join(ours[2:])}")
    ratios = []
    for i in range(args.pairs):
        print(f"pair {i + 1}/{args.pairs}", flush=True)
        ref_t = show_run("reference", run_process(reference, run_dir, REFERENCE_LOSS, args.target), REFERENCE_LOSS,
                         args.target)
        ours_t = show_run("train.py", run_process(ours, ROOT, OURS_LOSS, args.target), OURS_LOSS, args.target)
        if ref_t is not None and ours_t is not None:
            ratios.append(ref_t / ours_t)
            print(f"  ratio {ratios[-1]:.2f}x")
    print(f"time to {args.target} nats, reference / train.py: " +
          (f"{spread(ratios, 'x')} over {len(ratios)} pairs" if ratios else "no pair where both reached it"))


def epoch_seconds(model_cfg: VAEConfig, cfg: TrainConfig, x: torch.Tensor, run_epoch: Callable) -> list[float]:
    """Wall seconds of each epoch of a fresh run, the GPU's work included, through `run_epoch`."""
    torch.manual_seed(0)
    model = VAE(model_cfg).to(x.device)
    opt, step_fn = make_optimizer(model, cfg), objective(model, len(x), cfg, Replica())
    seconds = []
    for epoch in range(cfg.epochs):
        sync(x.device)
        start = time.perf_counter()
        run_epoch(step_fn, opt, x, None, cfg, TrainState(epoch=epoch), progress=False)
        sync(x.device)
        seconds.append(time.perf_counter() - start)
    return seconds


def sync(device: torch.device) -> None:
    """Wait for the GPU's queued work, so that a clock reads it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def epoch_times(args: argparse.Namespace, data: Path, device: torch.device) -> None:
    """Eager and captured epochs of the three recipes on `args.images` training images."""
    x = to_float(load_split("mnist", data, train=True, download=False)[0][: args.images], device)
    recipes = {
        "784-400-20, fast recipe": (VAEConfig(), TrainConfig(epochs=args.timed_epochs, lr=5e-3,
                                                             lr_schedule="onecycle", mean_image_init=True)),
        "conv-32d": (CONV_32D, TrainConfig(epochs=args.timed_epochs, binarize=True, warmup_epochs=5,
                                           lr_schedule="cosine")),
        "conv-32d, IWAE k=5": (CONV_32D, TrainConfig(epochs=args.timed_epochs, binarize=True, warmup_epochs=5,
                                                     lr_schedule="cosine", iw_samples=5)),
    }
    captured = "CUDA graphs" if device.type == "cuda" else "device steps"  # which run eagerly on a CPU
    print(f"epoch times, {len(x):,} images a {args.timed_epochs}-epoch run; the first epoch apart "
          "(warm-up, and the captures)", flush=True)
    for name, (model_cfg, cfg) in recipes.items():
        for how, run_epoch in (("eager", train_epoch), (captured, DeviceEpochs())):
            seconds = epoch_seconds(model_cfg, cfg, x, run_epoch)
            later = spread(seconds[1:], " s") if len(seconds) > 1 else "no later epoch"
            print(f"  {name:24s} {how:12s} {later}; first {seconds[0]:.2f} s", flush=True)


def cuda_tests() -> None:
    """Run the tests that need CUDA (by their names), saying why any skip."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-k", "cuda", "tests/vae/test_training.py",
           "tests/vae/test_device_step.py"]
    print("CUDA tests: " + " ".join(cmd[1:]), flush=True)
    done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    print(f"CUDA tests: exit code {done.returncode}", flush=True)


def main() -> None:
    """Parse flags; on a GPU (or with --smoke) run the three parts and print what each measures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True,
                   help="MNIST: a folder of the four idx files (.gz), or a torchvision root (MNIST/raw)")
    p.add_argument("--smoke", action="store_true",
                   help="a dry run of every part on a few epochs and images, on whatever device is here")
    p.add_argument("--pairs", type=int, default=2, help="alternating pairs of processes (default: 2)")
    p.add_argument("--target", type=float, default=105.6, help="test -ELBO to reach, nats (default: 105.6)")
    p.add_argument("--reference-epochs", type=int, default=10, help="most epochs of main.py (default: 10, its own)")
    p.add_argument("--epochs", type=int, default=4, help="train.py's epochs (default: 4, the fast recipe)")
    p.add_argument("--timed-epochs", type=int, default=3, help="epochs per timed run in part 3 (default: 3)")
    p.add_argument("--images", type=int, default=60000, help="training images of the timed runs (default: all)")
    p.add_argument("--skip-tests", action="store_true", help="leave out part 1")
    args = p.parse_args()
    if args.smoke:
        args.pairs, args.reference_epochs, args.epochs, args.timed_epochs = 1, 1, 1, 2
        args.images = min(args.images, 512)
    elif not torch.cuda.is_available():
        print("benchmarks/gpu.py measures a CUDA GPU, and torch sees none here. "
              "Run it on a machine with one (docs/gpu.md), or add --smoke for a short dry run on this one.")
        return
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "no GPU (smoke run on the CPU)"
    print(f"{gpu}; torch {torch.__version__}, CUDA {torch.version.cuda}, {os.cpu_count()} CPU cores", flush=True)
    start = time.perf_counter()
    if not args.skip_tests:
        cuda_tests()
    with tempfile.TemporaryDirectory() as scratch:
        data = prepare_data(args.data_dir, Path(scratch))
        race(args, data, Path(scratch))
        epoch_times(args, data, device)
    print(f"benchmarks/gpu.py took {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
