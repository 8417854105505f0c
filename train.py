"""Train a VAE on MNIST (or Fashion-MNIST) and write its weights as safetensors.

    python train.py                                   # the classic 784-400-20 model, 10 epochs
    python train.py --latent-dim 2 --name mlp-2d      # a 2-D latent space for the latent map
    python train.py --resume --name mlp-20d           # continue an interrupted run
    python train.py --latent-dim 2 --autoencoder      # a plain autoencoder, to compare with the 2-D VAE
    python train.py --arch conv --lower-dim 64        # two stochastic layers, z (sliders) -> z1 -> x
    torchrun --nproc_per_node=4 train.py ...          # data-parallel on 4 GPUs (or CPU processes)

Weights go to weights/NAME.safetensors with their metrics in the metadata; a resumable
state, a sample grid and a reconstruction grid go to runs/NAME/.
"""

import argparse
import json
import os
import platform
import shlex
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import safetensors
import torch
import torch.distributed as dist

from vae.checkpoint import CheckpointError
from vae.data import CLASS_NAMES, DatasetError, evaluation_inputs, load_split, to_float
from vae.device_step import DeviceEpochs
from vae.evaluate import evaluate, evaluate_autoencoder, final_extras
from vae.latent import decode_posterior_mean, prior_sample, sample_probs
from vae.loaded import save_model
from vae.metadata import Epoch, Metrics, ModelMetadata
from vae.model import VAE, VAEConfig, count_parameters
from vae.render import grid_image
from vae.training import (
    Replica,
    Run,
    TrainConfig,
    TrainingDiverged,
    TrainState,
    fit,
    load_resume,
    make_optimizer,
    resumed,
    save_resume,
    train_epoch,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags, each with a default and help."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--dataset", default="mnist", choices=sorted(CLASS_NAMES), help="dataset (default: mnist)")
    d.add_argument("--data-dir", default="data", help="dataset root, or a folder of the .gz idx files (default: data)")
    d.add_argument("--no-download", action="store_true", help="fail instead of downloading a missing dataset")
    d.add_argument("--binarize", action="store_true", help="dynamically binarized pixels (default: grey levels)")
    m = p.add_argument_group("model")
    m.add_argument("--arch", default="mlp", choices=["mlp", "conv"], help="network (default: mlp)")
    m.add_argument("--latent-dim", type=int, default=20,
                   help="latent dimensions: the code the sliders move, a hierarchy's top layer (default: 20)")
    m.add_argument("--lower-dim", type=int, default=0,
                   help="add a lower stochastic layer of this size, z -> z1 -> x (default: 0, one layer)")
    m.add_argument("--hidden", type=int, default=400, help="dense hidden width (default: 400)")
    m.add_argument("--channels", type=int, nargs=2, default=[32, 64], help="conv channels (default: 32 64)")
    m.add_argument("--conditional", action="store_true", help="condition encoder and decoder on the label")
    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=10, help="epochs (default: 10)")
    o.add_argument("--batch-size", type=int, default=128,
                   help="minibatch size, shared by all processes under torchrun (default: 128)")
    o.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default: 1e-3)")
    o.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine", "onecycle"],
                   help="cosine: down to lr/20; onecycle: up from 0 over a tenth of the run, then a cosine down "
                        "to lr/100 (default: constant)")
    o.add_argument("--mean-image-init", action="store_true",
                   help="start the decoder's output bias at the mean training image (default: off)")
    o.add_argument("--cpu-bf16", action="store_true",
                   help="bfloat16 autocast on a CPU with bf16 instructions (AVX512-BF16, AMX); "
                        "CUDA uses bf16 whenever it can; with --resume, from the resumed step on "
                        "(default: off; what it gives: docs/engineering.md)")
    o.add_argument("--beta", type=float, default=1.0, help="KL weight (default: 1)")
    o.add_argument("--warmup-epochs", type=float, default=0.0, help="linear KL warm-up, in epochs (default: 0)")
    o.add_argument("--free-bits", type=float, default=0.0, help="free nats per latent dimension (default: 0)")
    o.add_argument("--lower-kl-floor", type=float, default=0.0,
                   help="with --lower-dim and --warmup-epochs: the lower layer's KL weight starts at this fraction "
                        "of beta instead of 0, so the code z (the sliders) takes the digit first (default: 0)")
    o.add_argument("--iw-samples", type=int, default=None,
                   help="train on the importance-weighted bound with this many samples per image (IWAE); "
                        "with --resume, from the resumed epoch on (default: 1, or the resumed run's)")
    o.add_argument("--autoencoder", action="store_true",
                   help="a plain (deterministic) autoencoder: z = the encoder's mean, no sampling, no KL term; "
                        "its name starts with ae- (default: off, a VAE)")
    o.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    r = p.add_argument_group("run")
    r.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    r.add_argument("--cuda-graph", action="store_true",
                   help="replay each training step from a CUDA graph, with no host work between steps; one process "
                        "only (on a CPU the same steps run eagerly) (default: off)")
    r.add_argument("--name", default=None, help="output name (default: ARCH-LATENTd, e.g. mlp-20d)")
    r.add_argument("--out-dir", default="weights", help="where the final weights go (default: weights)")
    r.add_argument("--run-dir", default="runs", help="where resumable state and PNGs go (default: runs)")
    r.add_argument("--resume", action="store_true", help="continue runs/NAME/resume.safetensors")
    r.add_argument("--eval-k", type=int, default=1000, help="importance samples for the final NLL (default: 1000)")
    r.add_argument("--nll-images", type=int, default=None, help="final NLL on this many test images (default: all)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def pick_device(requested: str | None) -> torch.device:
    """CUDA, then Apple MPS, then CPU, unless the user asked for one."""
    if requested:
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def start_processes(requested: str | None) -> tuple[Replica, torch.device]:
    """Under torchrun, join its process group (NCCL between GPUs, gloo between CPU processes).

    Each process on a machine takes the GPU of its LOCAL_RANK. A lone `python train.py` is rank 0 of 1.
    """
    device = pick_device(requested)
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return Replica(), device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        sys.exit(f"torchrun trains on CUDA GPUs or CPU processes, not on {device.type}: pass --device cpu")
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Replica.current(), device


def process_age() -> float | None:
    """Seconds since this process began (from Linux's /proc), or None elsewhere: Python's start and the imports."""
    try:
        stat, uptime = Path("/proc/self/stat").read_text(), Path("/proc/uptime").read_text()
    except OSError:
        return None
    started = int(stat.rpartition(")")[2].split()[19])  # field 22, starttime, in clock ticks after boot
    return float(uptime.split()[0]) - started / os.sysconf("SC_CLK_TCK")


def start_device(device: torch.device) -> None:
    """Create the CUDA context now (the first tensor would), so that the start-up line can show what it costs."""
    if device.type == "cuda":
        torch.empty(1, device=device)
        torch.cuda.synchronize(device)


def epoch_runner(args: argparse.Namespace, replica: Replica, device: torch.device, say: Callable) -> Callable:
    """train_epoch, or with --cuda-graph the device steps (vae.device_step), where they can run."""
    if not args.cuda_graph:
        return train_epoch
    if replica.world > 1:
        sys.exit("--cuda-graph trains in one process: leave it out under torchrun")
    if device.type not in ("cuda", "cpu"):
        sys.exit(f"--cuda-graph needs CUDA (or a CPU, where the steps run eagerly), not {device.type}")
    if device.type == "cpu":
        say("--cuda-graph: no CUDA here: the device steps run eagerly, as train_epoch's would")
    return DeviceEpochs()


def load_data(args: argparse.Namespace, job: Run, replica: Replica, device: torch.device) -> tuple[tuple, tuple]:
    """Both splits on the device, training images as floats and test images as the model is measured on;
    under torchrun rank 0 first, so only it downloads."""
    if replica.rank > 0:
        dist.barrier()
    try:
        splits = [load_split(job.dataset, args.data_dir, train=t, download=not args.no_download) for t in (True, False)]
    except DatasetError as e:
        sys.exit(str(e))
    if replica.rank == 0 and replica.world > 1:
        dist.barrier()
    (train_images, train_labels), (test_images, test_labels) = splits
    return ((to_float(train_images, device), train_labels.to(device)),
            (evaluation_inputs(test_images, job.train.binarize, device), test_labels.to(device)))


def configs(args: argparse.Namespace) -> tuple[VAEConfig, TrainConfig]:
    """Model and optimisation configs from the flags."""
    if args.autoencoder and args.lower_dim:
        raise ValueError("a plain autoencoder has one deterministic code: --lower-dim does not apply")
    if args.lower_kl_floor and not (args.lower_dim and args.warmup_epochs):
        raise ValueError("--lower-kl-floor weights a lower layer's KL during the warm-up: "
                         "it needs --lower-dim and --warmup-epochs")
    model_cfg = VAEConfig(
        arch=args.arch, latent_dim=args.latent_dim, hidden=args.hidden, channels=tuple(args.channels),
        num_classes=len(CLASS_NAMES[args.dataset]) if args.conditional else 0, lower_dim=args.lower_dim,
    )
    train_cfg = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_schedule=args.lr_schedule,
        binarize=args.binarize, beta=args.beta, warmup_epochs=args.warmup_epochs, free_bits=args.free_bits,
        lower_kl_floor=args.lower_kl_floor, iw_samples=args.iw_samples or 1, seed=args.seed,
        mean_image_init=args.mean_image_init, cpu_bf16=args.cpu_bf16,
        autoencoder=args.autoencoder,
    )
    return model_cfg, train_cfg


def write_pictures(model: VAE, x_test: torch.Tensor, y_test: torch.Tensor, run_dir: Path) -> None:
    """A grid of prior samples and a grid of test inputs above their reconstructions."""
    y = torch.arange(64, device=x_test.device) % max(1, model.config.num_classes) if model.config.num_classes else None
    draws = prior_sample(64, model.config.noise_dim, seed=0).to(x_test.device)
    grid_image(sample_probs(model, draws, 1.0, y), nrow=8, scale=2).save(run_dir / "samples.png")
    x, yt = x_test[:32], y_test[:32] if model.config.num_classes else None
    recon = decode_posterior_mean(model, x, model.encode(x, yt)[0], yt)
    rows = torch.cat([x[:16], recon[:16], x[16:], recon[16:]])
    grid_image(rows, nrow=16, scale=2).save(run_dir / "reconstructions.png")


def main(argv: list[str] | None = None) -> None:
    """Train, checkpoint every epoch, evaluate, write weights and pictures."""
    imported, started = process_age(), time.perf_counter()
    args = parse_args(argv)
    replica, device = start_processes(args.device)
    start_device(device)
    startup = (f"Python and imports {'?' if imported is None else f'{imported:.2f}'} s, "
               f"{device.type} initialisation {time.perf_counter() - started:.2f} s")
    try:
        command = "python train.py " + shlex.join(argv if argv is not None else sys.argv[1:])
        train_and_save(args, replica, device, command, startup)
    finally:
        if replica.world > 1:
            dist.destroy_process_group()


def start_or_resume(args: argparse.Namespace, path: Path, command: str, device: torch.device, say: Callable
                    ) -> tuple[VAE, torch.optim.Optimizer, TrainState, Run]:
    """A new run from the flags, or with --resume the saved one, continued by this command."""
    try:
        model_cfg, train_cfg = configs(args)
    except ValueError as e:
        sys.exit(f"invalid settings: {e}")
    if not args.resume:
        torch.manual_seed(train_cfg.seed)
        model = VAE(model_cfg).to(device)
        return model, make_optimizer(model, train_cfg), TrainState(), Run(model_cfg, train_cfg, args.dataset, command)
    if not path.exists():
        sys.exit(f"cannot resume: no saved run at {path}; start it without --resume")
    try:
        model, opt, state, run = load_resume(path, device)
    except CheckpointError as e:
        sys.exit(f"cannot resume: {e}")
    # bf16 on a CPU is the machine's lever, not the recipe's: the command that resumes says whether it is on
    changes = {"epochs": args.epochs, "cpu_bf16": args.cpu_bf16,
               **({"iw_samples": args.iw_samples} if args.iw_samples else {})}
    run.train = replace(run.train, **changes)
    run.command = resumed(run.command, state.epoch, command)
    say(f"resuming {path.parent.name} at epoch {state.epoch + 1}, step {state.step_in_epoch}")
    return model, opt, state, run


def train_and_save(args: argparse.Namespace, replica: Replica, device: torch.device, command: str,
                   startup: str) -> None:
    """Train on this process's share; rank 0 alone prints, checkpoints, evaluates and writes the weights.

    `startup` says what the start so far cost; the time to load the data is added to it and printed.
    """
    lead = replica.rank == 0
    say = print if lead else (lambda *_, **__: None)
    kind = "ae-" if args.autoencoder else "c" if args.conditional else ""
    name = args.name or f"{kind}{args.arch}-{args.latent_dim}d" + (f"-{args.lower_dim}d" if args.lower_dim else "")
    run_dir = Path(args.run_dir) / name
    resume_path = run_dir / "resume.safetensors"
    say(f"device: {device}  ({torch.get_num_threads()} CPU threads)" if device.type == "cpu" else f"device: {device}")
    model, opt, state, job = start_or_resume(args, resume_path, command, device, say)
    if replica.world > 1:
        say(f"torchrun: {replica.world} processes, each {job.train.batch_size // replica.world} images of a batch")
    run_epoch = epoch_runner(args, replica, device, say)
    loading = time.perf_counter()
    train, test = load_data(args, job, replica, device)
    say(f"{job.dataset}: {len(train[0])} train / {len(test[0])} test images; "
        f"model {model.config.arch}, latent {model.config.latent_dim}, {count_parameters(model):,} parameters")
    say(f"start-up: {startup}, data {time.perf_counter() - loading:.2f} s", flush=True)
    clock = [time.perf_counter()]

    def save(s: TrainState) -> float:
        """Add the wall time since the last save to the run, and save it; return that time."""
        now = time.perf_counter()
        spent, clock[0] = now - clock[0], now
        job.train_seconds += spent
        save_resume(resume_path, model, opt, s, job)
        return spent

    def on_epoch_end(s: TrainState) -> None:
        spent = save(s)  # before printing: a printed epoch is a saved one
        h = s.history[-1]
        figure = f"test recon {h['test_recon']:8.3f}" if "test_recon" in h else f"test -ELBO {h['test_nelbo']:8.3f}"
        print(f"epoch {h['epoch']:3d}  train loss {h['train_loss']:8.3f}  {figure} nats  "
              f"({spent:.2f} s; {job.train_seconds:.1f} s in all)", flush=True)

    try:
        fit(model, opt, train, test, job.train, state, on_epoch_end if lead else None,
            progress=lead and not args.no_progress, run_epoch=run_epoch)
    except KeyboardInterrupt:
        if lead:
            save(state)
        sys.exit(f"\ninterrupted: state saved to {resume_path}; continue with the same command plus --resume")
    except TrainingDiverged as e:
        sys.exit(f"training stopped: {e} ({resume_path})")
    if lead:
        write_results(args, model, state, job, test, device, run_dir)


def write_results(args: argparse.Namespace, model: VAE, state: TrainState, job: Run,
                  test: tuple[torch.Tensor, torch.Tensor], device: torch.device, run_dir: Path) -> None:
    """Evaluate the trained model, write the weights with their metadata, and the pictures."""
    import torchvision  # for its version only: importing it pulls in torch._dynamo, slow to import (docs/gpu.md)

    if job.train.autoencoder:
        print("evaluating: test reconstruction error (a plain autoencoder has no likelihood to estimate) ...")
        metrics, extras = evaluate_autoencoder(model, test[0], test[1]), {}
    else:
        print(f"evaluating: test -ELBO, NLL with k={args.eval_k}, KL per dimension ...", flush=True)
        metrics, nll = evaluate(model, test[0], test[1], k=args.eval_k, nll_images=args.nll_images)
        extras = {"test_nll": nll}
    metadata = ModelMetadata(
        dataset=job.dataset, class_names=CLASS_NAMES[job.dataset], train=job.train, epochs=state.epoch,
        metrics=Metrics(**metrics), history=[Epoch(**h) for h in state.history], parameters=count_parameters(model),
        train_seconds=round(job.train_seconds, 1), device=str(device), command=job.command,
        versions={"python": platform.python_version(), "torch": torch.__version__,
                  "torchvision": torchvision.__version__, "safetensors": safetensors.__version__},
        config=model.config,
    )
    out = Path(args.out_dir) / f"{run_dir.name}.safetensors"
    save_model(out, model, metadata, {**final_extras(model, test[0], test[1], job.train.autoencoder), **extras})
    write_pictures(model, test[0], test[1], run_dir)
    print(json.dumps({k: v for k, v in metrics.items() if k != "kl_per_dim"}))
    print(f"wrote {out}  (pictures in {run_dir}/)")


def stop_gracefully_on_signals() -> None:
    """Ctrl-C and `kill` both save a resumable state before exiting.

    A job started in the background (`nohup ... &`) inherits SIGINT as ignored, and SIGTERM (what
    `kill` and container stops send) would end the run without saving: both raise KeyboardInterrupt.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)


if __name__ == "__main__":
    stop_gracefully_on_signals()
    main()
