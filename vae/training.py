"""The training loop: Adam on whole-tensor data, resumable at any step, data-parallel under torchrun.

Randomness (shuffling, binarization, reparameterization noise) is re-seeded from
(seed, epoch) at the start of every epoch, so a run resumed at an epoch boundary follows
exactly the path of an uninterrupted one, with no RNG state to save. Every process of a
distributed run draws the same shuffled batches and the same noise for the whole batch, and
takes its own shard of both: N processes follow the path of one with the same global batch.
"""

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from vae.checkpoint import load_tensors, save_tensors
from vae.data import batch_indices, binarize
from vae.evaluate import mean_negative_elbo, reconstruction_errors
from vae.loss import (
    LossConfig,
    autoencoder_loss,
    iwae_loss,
    kl_per_dim,
    kl_weight,
    log_importance_weights,
    lower_kl_weight,
    reconstruction_nll,
    training_loss,
)
from vae.metadata import TrainConfig
from vae.model import N_PIXELS, VAE, VAEConfig, reparameterize
from vae.posterior import decode_draw

ONECYCLE_WARMUP = 0.1  # the fraction of a one-cycle run spent raising the learning rate from 0
RESUME_BUDGET = 16_000_000  # bytes of a resume file's tensors: small enough to carry a run between machines
HALF_MOMENTS = ("exp_avg", "exp_avg_sq")  # Adam's moments, stored in bfloat16 in a resume file over the budget


@dataclass
class TrainState:
    """Where a run is; enough, with model and optimiser weights, to resume it."""

    epoch: int = 0  # completed epochs
    step_in_epoch: int = 0  # batches done in the current epoch (non-zero after Ctrl-C)
    history: list[dict] = field(default_factory=list)  # one entry per finished epoch


RESUMED = "  # stopped after epoch "  # how Run.command joins a resumed run's invocations


def resumed(command: str, epoch: int, then: str) -> str:
    """A run's command once the invocation `then` resumed it after `epoch`."""
    return f"{command}{RESUMED}{epoch}, then: {then}"


@dataclass
class Run:
    """What a training run is beside its tensors: its configs, data, command lines and time spent so far."""

    config: VAEConfig
    train: TrainConfig
    dataset: str
    command: str  # every invocation, so the weights say exactly how they came about
    train_seconds: float = 0.0


def save_resume(path: Path, model: VAE, opt: torch.optim.Optimizer, state: TrainState, run: Run) -> None:
    """Everything needed to continue a run: weights, Adam moments, position, history.

    Where that would pass RESUME_BUDGET, Adam's moments are stored in bfloat16 (the weights stay float32):
    the run then resumes on moments rounded to 3 significant digits, close to its uninterrupted path but
    not on it bit for bit, as smaller runs resume.
    """
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt_state = opt.state_dict()
    moments = {f"optim.{i}.{k}": v for i, s in opt_state["state"].items() for k, v in s.items()}
    if sum(t.numel() * t.element_size() for t in [*tensors.values(), *moments.values()]) > RESUME_BUDGET:
        moments = {k: v.bfloat16() if k.rpartition(".")[2] in HALF_MOMENTS else v for k, v in moments.items()}
    tensors.update(moments)
    meta = {"config": run.config.to_dict(), "train": run.train.to_dict(), "dataset": run.dataset,
            "train_seconds": run.train_seconds, "command": run.command, "state": asdict(state),
            "param_groups": opt_state["param_groups"]}
    save_tensors(path, tensors, meta)


def load_resume(path: Path, device: torch.device) -> tuple[VAE, torch.optim.Optimizer, TrainState, Run]:
    """Inverse of save_resume."""
    tensors, meta = load_tensors(path)
    run = Run(VAEConfig.from_dict(meta.get("config") or meta["model"]),  # "model" in files of older versions
              TrainConfig(**meta["train"]), meta["dataset"], meta["command"], meta["train_seconds"])
    model = VAE(run.config).to(device)
    model.load_state_dict({k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")})
    opt = make_optimizer(model, run.train)
    opt_state: dict = {"state": {}, "param_groups": meta["param_groups"]}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, i, key = k.split(".", 2)
            opt_state["state"].setdefault(int(i), {})[key] = v if key == "step" else v.to(device, torch.float32)
    opt.load_state_dict(opt_state)
    return model, opt, TrainState(**meta["state"]), run


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass(frozen=True)
class Replica:
    """This process's place among the data-parallel processes torchrun started (rank 0 of 1 alone)."""

    rank: int = 0
    world: int = 1

    @classmethod
    def current(cls) -> "Replica":
        """The running process group's rank and size, or a lone process."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    def shard(self, batch: Tensor) -> Tensor:
        """This process's contiguous part of a global batch (along the first dimension)."""
        return batch.tensor_split(self.world)[self.rank]


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Number of minibatches in one epoch."""
    return math.ceil(n / batch_size)


def cosine_decay(progress: float, peak: float, floor: float) -> float:
    """Half a cosine from `peak` at progress 0 to `floor` at progress 1 (and after)."""
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * min(1.0, progress)))


def learning_rate(progress: float, cfg: TrainConfig) -> float:
    """Learning rate after `progress` of the run (0 at the start, 1 at the end) under the schedule.

    "onecycle" rises linearly from 0 over the first ONECYCLE_WARMUP of the run, then decays as a
    cosine to lr/100: the warm-up lets Adam take a higher peak without its first steps, made
    while its moment estimates are still settling, throwing the weights far off.
    """
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule == "cosine":
        return cosine_decay(progress, cfg.lr, cfg.lr / 20)
    if cfg.lr_schedule == "onecycle":
        if progress < ONECYCLE_WARMUP:
            return cfg.lr * progress / ONECYCLE_WARMUP
        return cosine_decay((progress - ONECYCLE_WARMUP) / (1 - ONECYCLE_WARMUP), cfg.lr, cfg.lr / 100)
    raise ValueError(f"unknown lr_schedule {cfg.lr_schedule!r}; use 'constant', 'cosine' or 'onecycle'")


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Adam:
    """Adam, fused into one kernel per step where PyTorch has one (CPU and CUDA)."""
    device = next(model.parameters()).device
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=device.type in ("cpu", "cuda") or None)


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated, and slower.

    PyTorch answers this only through private functions, so a missing one means no.
    """
    return any(getattr(torch.cpu, f, lambda: False)() for f in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def uses_bf16(device: torch.device, cfg: TrainConfig) -> bool:
    """Mixed precision pays on GPUs with bfloat16 units, and on CPUs with bf16 instructions when asked."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return cfg.cpu_bf16 and device.type == "cpu" and cpu_has_bf16()


@torch.no_grad()
def start_at_mean_image(model: VAE, x: Tensor) -> None:
    """Set the decoder's output bias to the logit of the training images' mean pixel (one per pixel for an MLP).

    The untrained decoder then draws the average digit instead of grey noise, so the first steps go
    into what tells digits apart, and the same epochs end at a lower test loss (docs/benchmarks.md, "Training speed").
    """
    last = model.dec_out[0] if model.config.arch == "mlp" else model.dec_out[-1]
    mean = x.mean(0).flatten() if last.bias.numel() == N_PIXELS else x.mean().reshape(1)
    last.bias.copy_(torch.logit(mean, eps=1e-3))


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """Seed every source of randomness for one epoch from (seed, epoch)."""
    torch.manual_seed(seed * 1_000_003 + epoch)
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + epoch)


def iw_training_loss(
    model: VAE, x: Tensor, y: Tensor | None, k: int, kl_weight: float | Tensor = 1.0,
    lower_weight: float | Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The IWAE objective with k samples per image, and the first sample's recon and KL terms to report; the KL
    weights scale the prior-versus-posterior parts as in log_importance_weights.

    Its gradient weights each sample by how well it explains the image, so the decoder learns from the
    good samples rather than the average one: a tighter bound, at k decodes per image.
    """
    h = model.encoder_state(x, y)
    mu, logvar = (t.float() for t in model.posterior(h))
    z = reparameterize(mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape)).flatten(0, 1)
    drawn = decode_draw(model, h.repeat(k, 1), z, None if y is None else y.repeat(k))
    logits = drawn.logits.float()
    log_w = log_importance_weights(logits, x.repeat(k, 1, 1, 1), z, mu.repeat(k, 1), logvar.repeat(k, 1), kl_weight,
                                   drawn.lower_log_ratio, lower_weight)
    recon = reconstruction_nll(logits[: len(x)], x).detach()
    kl = kl_per_dim(mu, logvar).sum(1) + drawn.lower_kl[: len(x)].sum(1)
    return iwae_loss(log_w.view(k, -1)), recon, kl.detach()


class Objective(nn.Module):
    """One minibatch's training loss as a module, so DistributedDataParallel can wrap the whole step."""

    def __init__(self, model: VAE, cfg: TrainConfig, loss_cfg: LossConfig) -> None:
        super().__init__()
        self.model, self.cfg, self.loss_cfg = model, cfg, loss_cfg

    def forward(
        self, x: Tensor, y: Tensor | None, noise: Tensor | None, step: int | Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(loss to minimise, reconstruction NLL and KL per image); `noise` (N, config.noise_dim) reparameterizes
        the ELBO's sample: z from its first latent_dim columns, a hierarchy's z1 from the rest.

        `step` may be a tensor, as the steps replayed from a CUDA graph count it (vae.device_step).
        """
        with torch.autocast(x.device.type, torch.bfloat16, enabled=uses_bf16(x.device, self.cfg)):
            if self.cfg.autoencoder:
                return autoencoder_loss(self.model.decode(self.model.encode(x, y)[0], y).float(), x)
            if self.cfg.iw_samples > 1:
                return iw_training_loss(self.model, x, y, self.cfg.iw_samples, kl_weight(step, self.loss_cfg),
                                        lower_kl_weight(step, self.loss_cfg))
            h = self.model.encoder_state(x, y)
            mu, logvar = (t.float() for t in self.model.posterior(h))
            top, lower = noise.split([mu.shape[1], noise.shape[1] - mu.shape[1]], dim=1)
            drawn = decode_draw(self.model, h, mu + torch.exp(0.5 * logvar) * top, y, lower)
        return training_loss(drawn.logits.float(), x, mu, logvar, step, self.loss_cfg,
                             drawn.lower_kl if self.model.config.lower_dim else None)


def objective(model: VAE, n_images: int, cfg: TrainConfig, replica: Replica) -> nn.Module:
    """The loss module of a run, wrapped in DistributedDataParallel (gradients averaged) under torchrun."""
    warmup = round(cfg.warmup_epochs * steps_per_epoch(n_images, cfg.batch_size))
    step_fn = Objective(model, cfg, LossConfig(cfg.beta, warmup, cfg.free_bits, cfg.lower_kl_floor))
    if replica.world == 1:
        return step_fn
    device = next(model.parameters()).device
    return DistributedDataParallel(step_fn, device_ids=[device.index] if device.type == "cuda" else None)


def draws_noise(cfg: TrainConfig) -> bool:
    """Whether a step draws the ELBO's reparameterization noise: an IWAE step draws its own, an autoencoder none."""
    return cfg.iw_samples == 1 and not cfg.autoencoder


def train_epoch(
    step_fn: nn.Module, opt: torch.optim.Optimizer, x: Tensor, y: Tensor | None, cfg: TrainConfig, state: TrainState,
    progress: bool = True, replica: Replica = Replica(),
) -> float:
    """Run the rest of epoch `state.epoch` through `objective(...)`; return its mean training loss.

    Updates `state` per step. Under torchrun each process trains on its shard of every global batch.
    """
    step_fn.train()
    model: VAE = step_fn.module.model if isinstance(step_fn, DistributedDataParallel) else step_fn.model
    n_steps = steps_per_epoch(len(x), cfg.batch_size)
    gen = epoch_generator(cfg.seed, state.epoch, x.device)
    targets = binarize(x, gen) if cfg.binarize else x
    batches = list(batch_indices(len(x), cfg.batch_size, gen))[state.step_in_epoch :]
    total = torch.zeros((), device=x.device)
    bar = tqdm(batches, desc=f"epoch {state.epoch + 1}/{cfg.epochs}", disable=not progress, leave=False)
    for idx in bar:
        step = state.epoch * n_steps + state.step_in_epoch
        for group in opt.param_groups:
            group["lr"] = learning_rate(step / (cfg.epochs * n_steps), cfg)
        # Noise for the whole global batch, then this process's rows: the same draws however many processes.
        noise = torch.randn(len(idx), model.config.noise_dim, device=x.device) if draws_noise(cfg) else None
        mine = replica.shard(idx)
        loss, recon, kl = step_fn(targets[mine], y[mine] if model.config.num_classes else None,
                                  None if noise is None else replica.shard(noise), step)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"loss became {loss.item()} at epoch {state.epoch + 1}, step {state.step_in_epoch}: "
                "lower --lr, or add --warmup-epochs; the last good checkpoint is kept"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state.step_in_epoch += 1
        total += loss.detach()
        if progress:
            bar.set_postfix(loss=f"{loss.item():.2f}", recon=f"{recon.mean():.1f}", kl=f"{kl.mean():.1f}")
    if replica.world > 1:
        dist.all_reduce(total)
    return total.item() / replica.world / max(1, len(batches))


def test_figure(model: VAE, test: tuple[Tensor, Tensor], cfg: TrainConfig) -> dict[str, float]:
    """The test figure recorded after each epoch: the negative ELBO, or a plain autoencoder's reconstruction error."""
    if cfg.autoencoder:
        return {"test_recon": float(reconstruction_errors(model, *test)[0].mean())}
    return {"test_nelbo": mean_negative_elbo(model, test[0], test[1], seed=cfg.seed)}


def fit(
    model: VAE, opt: torch.optim.Optimizer, train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor],
    cfg: TrainConfig, state: TrainState, on_epoch_end=None, progress: bool = True,
    run_epoch: Callable[..., float] = train_epoch,
) -> TrainState:
    """Train until `cfg.epochs`, evaluating the test set after each epoch (test_figure).

    A fresh run with `cfg.mean_image_init` first sets the decoder's output bias from the training images.
    Each epoch goes through `run_epoch`, which takes train_epoch's arguments (vae.device_step.DeviceEpochs
    runs it from device tensors, replayed from CUDA graphs on a GPU).
    `on_epoch_end(state)` is called after each epoch (train.py saves a resumable checkpoint
    there); if it returns True, training stops early. Under torchrun only rank 0 evaluates and
    calls it; the other processes only train.
    """
    replica = Replica.current()
    if cfg.mean_image_init and state.epoch == 0 and state.step_in_epoch == 0:
        start_at_mean_image(model, train[0])
    step_fn = objective(model, len(train[0]), cfg, replica)
    while state.epoch < cfg.epochs:
        entry = {"epoch": state.epoch + 1,
                 "train_loss": run_epoch(step_fn, opt, train[0], train[1], cfg, state, progress, replica)}
        state.epoch += 1
        state.step_in_epoch = 0
        if replica.rank > 0:
            continue
        state.history.append({**entry, **test_figure(model, test, cfg)})
        if on_epoch_end is not None and on_epoch_end(state):
            break
    return state
