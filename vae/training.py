"""The training loop: plain Adam on whole-tensor data, resumable at any step.

Randomness (shuffling, binarization, reparameterization noise) is re-seeded from
(seed, epoch) at the start of every epoch, so a run resumed at an epoch boundary follows
exactly the path of an uninterrupted one, with no RNG state to save.
"""

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor
from tqdm import tqdm

from vae.data import batch_indices, binarize
from vae.evaluate import mean_negative_elbo
from vae.loss import (
    LossConfig,
    iwae_loss,
    kl_per_dim,
    kl_weight,
    log_importance_weights,
    reconstruction_nll,
    training_loss,
)
from vae.model import VAE, reparameterize


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; stored in the weights file's metadata."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    lr_schedule: str = "constant"  # "constant" or "cosine" (to lr/20 at the last step)
    binarize: bool = False  # dynamically binarized targets instead of grey levels in [0, 1]
    beta: float = 1.0
    warmup_epochs: float = 0.0
    free_bits: float = 0.0
    iw_samples: int = 1  # > 1 trains on the importance-weighted bound (IWAE) instead of the ELBO
    seed: int = 0

    def __post_init__(self) -> None:
        if self.iw_samples < 1:
            raise ValueError(f"iw_samples must be at least 1, got {self.iw_samples}")
        if self.iw_samples > 1 and self.free_bits > 0:
            raise ValueError("free bits floor the ELBO's KL term, which the IWAE bound does not have")

    def to_dict(self) -> dict:
        """Plain dict for JSON metadata."""
        return asdict(self)


@dataclass
class TrainState:
    """Where a run is; enough, with model and optimiser weights, to resume it."""

    epoch: int = 0  # completed epochs
    step_in_epoch: int = 0  # batches done in the current epoch (non-zero after Ctrl-C)
    history: list[dict] = field(default_factory=list)  # one entry per finished epoch


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def steps_per_epoch(n: int, cfg: TrainConfig) -> int:
    """Number of minibatches in one epoch."""
    return math.ceil(n / cfg.batch_size)


def learning_rate(step: int, total_steps: int, cfg: TrainConfig) -> float:
    """Learning rate at a global step under the configured schedule."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule == "cosine":
        floor = cfg.lr / 20
        return floor + 0.5 * (cfg.lr - floor) * (1 + math.cos(math.pi * min(1.0, step / total_steps)))
    raise ValueError(f"unknown lr_schedule {cfg.lr_schedule!r}; use 'constant' or 'cosine'")


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """Seed every source of randomness for one epoch from (seed, epoch)."""
    torch.manual_seed(seed * 1_000_003 + epoch)
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + epoch)


def iw_training_loss(
    model: VAE, x: Tensor, y: Tensor | None, k: int, kl_weight: float = 1.0
) -> tuple[Tensor, Tensor, Tensor]:
    """The IWAE objective with k samples per image, and the first sample's recon and KL terms to report.

    Its gradient weights each sample by how well it explains the image, so the decoder learns from the
    good samples rather than the average one: a tighter bound, at k decodes per image.
    """
    mu, logvar = model.encode(x, y)
    z = reparameterize(mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape)).flatten(0, 1)
    logits = model.decode(z, None if y is None else y.repeat(k))
    log_w = log_importance_weights(logits, x.repeat(k, 1, 1, 1), z, mu.repeat(k, 1), logvar.repeat(k, 1), kl_weight)
    recon = reconstruction_nll(logits[: len(x)], x).detach()
    return iwae_loss(log_w.view(k, -1)), recon, kl_per_dim(mu, logvar).sum(1).detach()


def train_epoch(
    model: VAE, opt: torch.optim.Optimizer, x: Tensor, y: Tensor | None, cfg: TrainConfig, state: TrainState,
    progress: bool = True,
) -> float:
    """Run the rest of epoch `state.epoch`; return its mean training loss. Updates `state` per step."""
    model.train()
    n_steps = steps_per_epoch(len(x), cfg)
    loss_cfg = LossConfig(cfg.beta, round(cfg.warmup_epochs * n_steps), cfg.free_bits)
    gen = epoch_generator(cfg.seed, state.epoch, x.device)
    targets = binarize(x, gen) if cfg.binarize else x
    batches = list(batch_indices(len(x), cfg.batch_size, gen))[state.step_in_epoch :]
    total = 0.0
    bar = tqdm(batches, desc=f"epoch {state.epoch + 1}/{cfg.epochs}", disable=not progress, leave=False)
    for idx in bar:
        step = state.epoch * n_steps + state.step_in_epoch
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, cfg.epochs * n_steps, cfg)
        xb = targets[idx]
        yb = y[idx] if model.config.num_classes else None
        if cfg.iw_samples > 1:
            loss, recon, kl = iw_training_loss(model, xb, yb, cfg.iw_samples, kl_weight(step, loss_cfg))
        else:
            logits, mu, logvar = model(xb, yb)
            loss, recon, kl = training_loss(logits, xb, mu, logvar, step, loss_cfg)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"loss became {loss.item()} at epoch {state.epoch + 1}, step {state.step_in_epoch}: "
                "lower --lr, or add --warmup-epochs; the last good checkpoint is kept"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state.step_in_epoch += 1
        total += loss.item()
        bar.set_postfix(loss=f"{loss.item():.2f}", recon=f"{recon.mean():.1f}", kl=f"{kl.mean():.1f}")
    return total / max(1, len(batches))


def fit(
    model: VAE, opt: torch.optim.Optimizer, train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor],
    cfg: TrainConfig, state: TrainState, on_epoch_end=None, progress: bool = True,
) -> TrainState:
    """Train until `cfg.epochs`, evaluating the test negative ELBO after each epoch.

    `on_epoch_end(state)` is called after each epoch (train.py saves a resumable checkpoint
    there); if it returns True, training stops early.
    """
    while state.epoch < cfg.epochs:
        train_loss = train_epoch(model, opt, train[0], train[1], cfg, state, progress)
        state.history.append({
            "epoch": state.epoch + 1,
            "train_loss": train_loss,
            "test_nelbo": mean_negative_elbo(model, test[0], test[1], seed=cfg.seed),
        })
        state.epoch += 1
        state.step_in_epoch = 0
        if on_epoch_end is not None and on_epoch_end(state):
            break
    return state
