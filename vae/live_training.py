"""Train a small VAE live and show it as it learns: the engine of the "Watch it learn" view (torch only, no UI).

`train_live` trains an MLP VAE on the MNIST subset shipped in vae/assets, one minibatch at a time,
and yields a `Snapshot` at once and then every `every` seconds of its own running time: the loss's two
parts at every step since the last snapshot, the test digits' codes in a plane, the KL of each latent
dimension, and a grid of samples from the prior (the same codes every time, so each cell goes from
noise to a digit). It ends, with a last snapshot, when the stop flag is set (checked every step),
when its time cap runs out, or after `max_steps`.

One seeded generator draws every random number of a run (shuffles, noise, prior codes) and the
initial weights come from the same seed, so a run repeats step for step; only which steps a
snapshot falls on depends on the machine's speed.
"""

import itertools
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from vae.checkpoint import LFS_POINTER_MAX, is_lfs_pointer
from vae.data import CLASS_NAMES, DatasetError, batch_indices, to_float
from vae.evaluate import evaluate, final_extras
from vae.latent import decode_probs
from vae.loaded import LoadedModel
from vae.loss import kl_per_dim
from vae.metadata import Metrics, ModelMetadata, TrainConfig
from vae.model import VAE, VAEConfig, count_parameters
from vae.training import Replica, TrainingDiverged, make_optimizer, objective, steps_per_epoch

DIGITS_FILE = Path(__file__).parent / "assets" / "mnist-live.npz"  # written by scripts/live_digits.py
MAX_LATENT = 8  # larger latents add nothing a student can see in a minute of training
MAX_SECONDS = 60.0  # the longest a run may train: one run at a time serves everybody in turn
SNAPSHOT_EVERY = 0.5  # seconds of training between snapshots
SAMPLE_GRID = 8  # the prior samples form an 8 x 8 grid
NLL_K, NLL_IMAGES = 100, 200  # a finished run's NLL: importance samples per digit, test digits (under a second)


@dataclass(frozen=True)
class LiveDigits:
    """The digits a live run learns from and is shown on."""

    train: Tensor  # (N, 1, 28, 28) grey levels in [0, 1]
    test: Tensor  # (M, 1, 28, 28)
    test_labels: Tensor  # (M,) int64: the class colours of the scatter


def read_arrays(path: Path, keys: list[str]) -> dict[str, np.ndarray]:
    """Some arrays of a digits .npz (each read only if asked for); a Git LFS pointer in its place says what to do."""
    with path.open("rb") as f:
        if is_lfs_pointer(f.read(LFS_POINTER_MAX + 1)):
            raise DatasetError(f"{path} is a Git LFS pointer, not the digits: the repository was cloned without "
                               "Git LFS; install git-lfs, then run `git lfs pull` in the clone")
    with np.load(path) as f:
        return {key: f[key] for key in keys}


def load_digits(path: Path = DIGITS_FILE) -> LiveDigits:
    """The shipped subset (or another .npz with train_images, test_images and test_labels as uint8)."""
    a = read_arrays(path, ["train_images", "test_images", "test_labels"])
    return LiveDigits(to_float(torch.from_numpy(a["train_images"])), to_float(torch.from_numpy(a["test_images"])),
                      torch.from_numpy(a["test_labels"]).long())


def test_labels(path: Path = DIGITS_FILE) -> list[int]:
    """The classes of the test digits every snapshot shows, in the order of its codes."""
    return read_arrays(path, ["test_labels"])["test_labels"].tolist()


@dataclass(frozen=True)
class LiveSettings:
    """What a visitor chooses for one run, with the limits that keep a run small."""

    latent_dim: int = 2
    beta: float = 1.0  # weight of the KL term: higher pulls codes towards the prior and the map together
    hidden: int = 256  # width of the one hidden layer of the encoder and of the decoder
    lr: float = 1e-3
    batch_size: int = 128
    warmup_epochs: float = 0.0  # the KL weight rises from 0 to beta over this many epochs
    seed: int = 0
    seconds: float = MAX_SECONDS  # time cap: seconds of training, snapshots included
    max_steps: int | None = None

    def __post_init__(self) -> None:
        checks = [
            (2 <= self.latent_dim <= MAX_LATENT, f"latent size must be 2 to {MAX_LATENT}, got {self.latent_dim}"),
            (0 <= self.beta <= 100, f"beta must be between 0 and 100, got {self.beta}"),
            (8 <= self.hidden <= 1024, f"hidden width must be 8 to 1024, got {self.hidden}"),
            (0 < self.lr <= 0.1, f"learning rate must be above 0 and at most 0.1, got {self.lr}"),
            (1 <= self.batch_size <= 1024, f"batch size must be 1 to 1024, got {self.batch_size}"),
            (self.warmup_epochs >= 0, f"warm-up must not be negative, got {self.warmup_epochs}"),
            (0 < self.seconds <= MAX_SECONDS, f"time cap must be above 0 and at most {MAX_SECONDS:g} s, "
                                              f"got {self.seconds}"),
            (self.max_steps is None or self.max_steps >= 1, f"max_steps must be at least 1, got {self.max_steps}"),
        ]
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise ValueError("; ".join(problems))

    def vae_config(self) -> VAEConfig:
        """The network: a 784-hidden-latent MLP VAE."""
        return VAEConfig(arch="mlp", latent_dim=self.latent_dim, hidden=self.hidden)

    def train_config(self) -> TrainConfig:
        """The optimisation settings, as a weights file records them (constant learning rate, grey-level targets)."""
        return TrainConfig(batch_size=self.batch_size, lr=self.lr, beta=self.beta, warmup_epochs=self.warmup_epochs,
                           seed=self.seed)


# Ready-made runs. Each comparison shares the time cap between its runs, which train in turn.
COMPARISONS: dict[str, tuple[LiveSettings, ...]] = {
    "beta 1 vs beta 8": (LiveSettings(beta=1.0, seconds=MAX_SECONDS / 2),
                         LiveSettings(beta=8.0, seconds=MAX_SECONDS / 2)),
}
# Posterior collapse as it happens: the map spreads while the KL weight is small, then, as the weight
# climbs to a beta no code is worth, every digit's code falls back onto the prior and the KL to zero.
COLLAPSE = LiveSettings(latent_dim=2, beta=30.0, warmup_epochs=20.0, seconds=MAX_SECONDS / 2)


@dataclass(frozen=True)
class Snapshot:
    """The state of a run at one moment, and its losses since the previous snapshot."""

    step: int  # optimisation steps done
    epoch: float  # passes over the training digits done (fractional)
    seconds: float  # time spent training so far
    steps: Tensor  # (k,) int64: the steps done since the previous snapshot, numbered from 1
    recon: Tensor  # (k,) the minibatch's mean reconstruction term at each of them, nats per digit
    kl: Tensor  # (k,) the minibatch's mean KL term, nats per digit
    codes: Tensor  # (M, 2) the test digits' posterior means: the first two dims, or their top two principal axes
    kl_per_dim: Tensor  # (D,) the test digits' mean KL of each latent dimension: near 0 means a dead dimension
    samples: Tensor  # (SAMPLE_GRID**2, 28, 28) pixel probabilities decoded from fixed prior codes
    finished: str | None = None  # None while training, else why it ended: "stopped", "time" or "steps"


class StopFlag(Protocol):
    """What stops a run: a threading.Event, a multiprocessing Event, or anything with is_set()."""

    def is_set(self) -> bool: ...


class StopWatch:
    """Seconds of a run's own time: it does not count while the generator waits for its consumer."""

    def __init__(self) -> None:
        self.total, self.since = 0.0, time.perf_counter()

    def elapsed(self) -> float:
        """Seconds counted so far."""
        return self.total + (time.perf_counter() - self.since if self.since is not None else 0.0)

    def pause(self) -> None:
        """Stop counting."""
        self.total, self.since = self.elapsed(), None

    def resume(self) -> None:
        """Count again."""
        self.since = time.perf_counter()


class Plane:
    """Where the test digits' codes go in two dimensions: the first two, or the top two principal axes.

    The axes are kept pointing the way they pointed in the previous snapshot, so the scatter does not
    flip from one snapshot to the next as the principal axes' signs are arbitrary.
    """

    def __init__(self) -> None:
        self.axes: Tensor | None = None

    def __call__(self, mu: Tensor) -> Tensor:
        """(M, D) codes -> (M, 2)."""
        if mu.shape[1] == 2:
            return mu.clone()
        centred = mu - mu.mean(0)
        axes = torch.linalg.eigh(centred.T @ centred).eigenvectors[:, [-1, -2]]  # the two largest eigenvalues
        if self.axes is None:  # the first time, each axis's largest loading is positive
            signs = axes.gather(0, axes.abs().argmax(0, keepdim=True)).sign().squeeze(0)
        else:  # then each axis points as it did
            signs = (axes * self.axes).sum(0).sign()
        self.axes = axes * torch.where(signs == 0, 1.0, signs)
        return centred @ self.axes


def new_model(settings: LiveSettings) -> VAE:
    """The untrained network of a run, its weights drawn from the run's seed (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        return VAE(settings.vae_config())


def endless_batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Shuffled minibatches of range(n), one epoch after another, for ever."""
    return itertools.chain.from_iterable(batch_indices(n, batch_size, generator) for _ in itertools.count())


def finish_reason(stop: StopFlag | None, seconds: float, step: int, settings: LiveSettings) -> str | None:
    """Why a run ends after this step, or None to go on."""
    if stop is not None and stop.is_set():
        return "stopped"
    if seconds >= settings.seconds:
        return "time"
    if settings.max_steps is not None and step >= settings.max_steps:
        return "steps"
    return None


@torch.no_grad()
def view(model: VAE, digits: LiveDigits, prior_codes: Tensor, plane: Plane) -> dict[str, Tensor]:
    """The pictures of a snapshot: test codes in the plane, KL per dimension, prior samples."""
    mu, logvar = model.encode(digits.test)
    return {"codes": plane(mu), "kl_per_dim": kl_per_dim(mu, logvar).mean(0),
            "samples": decode_probs(model, prior_codes).squeeze(1)}


def train_live(model: VAE, digits: LiveDigits, settings: LiveSettings, stop: StopFlag | None = None,
               every: float = SNAPSHOT_EVERY) -> Iterator[Snapshot]:
    """Train `model` (from new_model(settings)) and yield snapshots: one before the first step, one every
    `every` seconds of training, and a last one (with `finished` set) when the run ends.

    Raises TrainingDiverged if the loss stops being finite (a learning rate too high for the beta).
    """
    if model.config != settings.vae_config():
        raise ValueError(f"the model's config {model.config} is not the settings' {settings.vae_config()}")
    cfg = settings.train_config()
    generator = torch.Generator().manual_seed(settings.seed)
    prior_codes = torch.randn(SAMPLE_GRID**2, settings.latent_dim, generator=generator)
    step_fn, opt = objective(model, len(digits.train), cfg, Replica()), make_optimizer(model, cfg)
    per_epoch = steps_per_epoch(len(digits.train), cfg.batch_size)
    watch, plane, losses = StopWatch(), Plane(), []
    last_snapshot, step, finished = 0.0, 0, None

    def snapshot() -> Snapshot:
        """The state now; empties the loss log."""
        steps, recon, kl = (torch.tensor(column) for column in zip(*losses, strict=True)) if losses else (
            torch.zeros(0, dtype=torch.long), torch.zeros(0), torch.zeros(0))
        losses.clear()
        return Snapshot(step, step / per_epoch, watch.elapsed(), steps, recon, kl,
                        **view(model, digits, prior_codes, plane), finished=finished)

    for batch in itertools.chain([None], endless_batches(len(digits.train), cfg.batch_size, generator)):
        if batch is not None:
            noise = torch.randn(len(batch), settings.latent_dim, generator=generator)
            loss, recon, kl = step_fn(digits.train[batch], None, noise, step)
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"the loss became {loss.item()} at step {step + 1}: lower the learning rate")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            losses.append((step, recon.mean().item(), kl.mean().item()))
            finished = finish_reason(stop, watch.elapsed(), step, settings)
            if not finished and watch.elapsed() - last_snapshot < every:
                continue
        last_snapshot = watch.elapsed()
        shot = snapshot()
        watch.pause()
        yield shot
        if finished:
            return
        watch.resume()


def in_turn(runs: Sequence[Iterator[Snapshot]]) -> Iterator[tuple[Snapshot, ...]]:
    """Advance several live runs by turns, one snapshot each; yield every run's latest snapshot after each turn.

    Ends when every run has ended. Give each run half the usual `every` and a share of the time cap.
    """
    latest = [next(run) for run in runs]
    yield tuple(latest)
    going = list(range(len(runs)))
    while going:
        for i in list(going):
            shot = next(runs[i], None)
            if shot is None:
                going.remove(i)
                continue
            latest[i] = shot
            yield tuple(latest)


def as_loaded(model: VAE, settings: LiveSettings, last: Snapshot, digits: LiveDigits,
              name: str = "trained-here") -> LoadedModel:
    """A finished run as the app's other models are: measured on the test digits (NLL with NLL_K samples),
    with the extras the app reads, so it can be explored, or saved with vae.loaded.save_model."""
    model.eval()
    metrics, nll = evaluate(model, digits.test, digits.test_labels, k=NLL_K, nll_images=NLL_IMAGES)
    epochs = math.ceil(last.epoch)
    metadata = ModelMetadata(
        dataset="mnist", class_names=tuple(CLASS_NAMES["mnist"]), train=replace(settings.train_config(), epochs=epochs),
        epochs=epochs, metrics=Metrics(**metrics), parameters=count_parameters(model),
        train_seconds=round(last.seconds, 1), device="cpu",
        command=f"trained live in the app's Watch it learn view ({last.step} steps, {len(digits.train):,} digits): "
                f"{settings}",
        config=model.config)
    return LoadedModel(name, model, metadata, {**final_extras(model, digits.test, digits.test_labels),
                                               "test_nll": nll})
