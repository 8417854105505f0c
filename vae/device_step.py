"""Epochs whose every step reads what it varies from device tensors, so that CUDA can replay it from a graph.

vae.training.train_epoch works on the host at every step: it picks the batch, sets the learning
rate, checks the loss and, with a progress bar, reads it back. A GPU then waits on Python between
small kernels. Here the epoch's order and binarized targets, the run's learning rates and KL
weights, a step counter and the epoch's summed loss all live on the device. One step is then a
fixed sequence of kernels (gather the batch, draw the noise, forward, loss, backward, fused Adam,
count): on CUDA it is captured once in a CUDA graph and replayed, with one read of the loss at the
end of the epoch; elsewhere the same callable runs eagerly, and follows train_epoch exactly.
"""

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor
from tqdm import tqdm

from vae.data import binarize, permutation
from vae.training import (
    Objective,
    Replica,
    TrainConfig,
    TrainingDiverged,
    TrainState,
    draws_noise,
    epoch_generator,
    learning_rate,
    steps_per_epoch,
)

WARMUP_STEPS = 3  # eager steps on a side stream before a capture, as PyTorch's CUDA graph recipe runs


def lr_dtype(device: torch.device) -> torch.dtype:
    """The dtype a fused Adam reads a tensor learning rate in: float32 on CUDA; the CPU's takes a double."""
    return torch.float32 if device.type == "cuda" else torch.float64


@contextmanager
def learning_rate_from(opt: torch.optim.Optimizer, lr: Tensor) -> Iterator[None]:
    """Adam reads its learning rate from `lr` (a tensor the step rewrites) inside; a plain float again after.

    The float is what train_epoch leaves there (the last step's rate), so a checkpoint stays JSON.
    """
    for group in opt.param_groups:
        group["lr"] = lr
    try:
        yield
    finally:
        for group in opt.param_groups:
            group["lr"] = float(lr)


def snapshot(model: torch.nn.Module, opt: torch.optim.Optimizer) -> Callable[[], None]:
    """A function that puts the weights and Adam's state back as they are now.

    State that Adam makes later (a fresh optimiser's first step) goes back to zero, as Adam starts it.
    """
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    state = {(id(p), k): v.clone() for p, s in opt.state.items() for k, v in s.items() if isinstance(v, Tensor)}

    def restore() -> None:
        for k, v in model.state_dict().items():
            v.copy_(weights[k])
        for p, s in opt.state.items():
            for k, v in s.items():
                if not isinstance(v, Tensor):
                    continue
                if (id(p), k) in state:
                    v.copy_(state[id(p), k])
                else:
                    v.zero_()

    return restore


class DeviceSteps:
    """One run's device-side inputs and its two step callables: a full batch, and the epoch's last, shorter one."""

    def __init__(self, step_fn: Objective, opt: torch.optim.Optimizer, x: Tensor, y: Tensor | None,
                 cfg: TrainConfig) -> None:
        device = x.device
        self.step_fn, self.opt, self.x, self.cfg = step_fn, opt, x, cfg
        self.y = y if step_fn.model.config.num_classes else None
        self.n_steps = steps_per_epoch(len(x), cfg.batch_size)
        self.n_full = len(x) // cfg.batch_size
        self.targets = torch.empty_like(x) if cfg.binarize else x
        self.order = torch.arange(len(x), device=device)  # this epoch's shuffle
        self.step = torch.zeros((), dtype=torch.long, device=device)  # the run's step: reads the schedules
        self.batch = torch.zeros((), dtype=torch.long, device=device)  # the epoch's step: picks the images
        self.total = torch.zeros((), device=device)  # the epoch's summed loss
        run_steps = cfg.epochs * self.n_steps
        self.lrs = torch.tensor([learning_rate(t / run_steps, cfg) for t in range(run_steps)],
                                dtype=lr_dtype(device), device=device)
        self.lr = self.lrs[0].clone()
        arange = torch.arange(cfg.batch_size, device=device)
        last = len(x) - self.n_full * cfg.batch_size
        self.full = lambda: self.run_step(arange)
        self.last = lambda: self.run_step(arange[:last])

    def run_step(self, offsets: Tensor) -> None:
        """One optimisation step on batch `self.batch` of the epoch's order (len(offsets) images), as train_epoch's."""
        idx = self.order.index_select(0, self.batch * self.cfg.batch_size + offsets)
        self.lr.copy_(self.lrs.index_select(0, self.step.view(1)).squeeze(0))
        noise = (torch.randn(len(idx), self.step_fn.model.config.noise_dim, device=idx.device)
                 if draws_noise(self.cfg) else None)
        loss, _, _ = self.step_fn(self.targets.index_select(0, idx),
                                  None if self.y is None else self.y.index_select(0, idx), noise, self.step)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.total.add_(loss.detach())
        self.step.add_(1)
        self.batch.add_(1)

    def start_epoch(self, state: TrainState) -> None:
        """Shuffle (and binarize) for epoch `state.epoch` as train_epoch does; point the counters at its next step."""
        gen = epoch_generator(self.cfg.seed, state.epoch, self.x.device)
        if self.cfg.binarize:
            self.targets.copy_(binarize(self.x, gen))
        self.order.copy_(permutation(len(self.x), gen))
        self.step.fill_(state.epoch * self.n_steps + state.step_in_epoch)
        self.batch.fill_(state.step_in_epoch)
        self.total.zero_()

    def capture(self, record: Callable | None = None) -> None:
        """Replace both step callables by replays of CUDA graphs of them; the weights and Adam end as they began.

        `record(step, opt, rewind)` makes the replay (default: `captured`); a test passes one that runs eagerly.
        """
        record = record or captured
        restore = snapshot(self.step_fn.model, self.opt)
        with learning_rate_from(self.opt, self.lr):
            self.full = record(self.full, self.opt, lambda: self.rewind(0)) if self.n_full else self.full
            if self.n_steps > self.n_full:
                self.last = record(self.last, self.opt, lambda: self.rewind(self.n_full))
        restore()

    def rewind(self, batch: int) -> None:
        """Point the counters at the first step and at `batch`, so a warm-up step reads valid rows."""
        self.step.zero_()
        self.batch.fill_(batch)


def warm_up(step: Callable[[], None], rewind: Callable[[], None]) -> None:
    """The eager steps before a capture (they train: the caller undoes them)."""
    for _ in range(WARMUP_STEPS):
        rewind()
        step()


def captured(step: Callable[[], None], opt: torch.optim.Optimizer, rewind: Callable[[], None]) -> Callable[[], None]:
    """The replay of a CUDA graph of `step`, after a few eager warm-up steps on a side stream."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        warm_up(step, rewind)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    for group in opt.param_groups:
        group["capturable"] = True  # Adam refuses a capture otherwise; a fused Adam runs the same kernels either way
    with torch.cuda.graph(graph):  # records the kernels without running them: the counters need no rewind
        step()
    for group in opt.param_groups:
        group["capturable"] = False
    return graph.replay


class DeviceEpochs:
    """Runs epochs as vae.training.train_epoch does (same arguments), with the steps of DeviceSteps.

    Make one per run and pass it to fit as `run_epoch`; it builds its buffers, and on CUDA captures
    its graphs, at the first epoch. `capture` None captures on CUDA; False runs the steps eagerly.
    """

    def __init__(self, capture: bool | None = None) -> None:
        self.want_capture = capture
        self.steps: DeviceSteps | None = None

    def prepare(self, step_fn: Objective, opt: torch.optim.Optimizer, x: Tensor, y: Tensor | None, cfg: TrainConfig,
                replica: Replica) -> DeviceSteps:
        """The run's buffers and steps, captured if asked (by default on CUDA); a clear error where they cannot run."""
        capture = self.want_capture if self.want_capture is not None else x.device.type == "cuda"
        if replica.world > 1:
            raise ValueError("device steps train in one process; under torchrun train.py trains through train_epoch")
        if x.device.type not in ("cpu", "cuda") or (capture and x.device.type != "cuda"):
            raise ValueError(f"device steps run on CUDA (captured in CUDA graphs) or eagerly on the CPU, "
                             f"not {'captured ' if capture else ''}on {x.device.type}")
        steps = DeviceSteps(step_fn, opt, x, y, cfg)
        if capture:
            steps.capture()
        return steps

    def __call__(self, step_fn: Objective, opt: torch.optim.Optimizer, x: Tensor, y: Tensor | None,
                 cfg: TrainConfig, state: TrainState, progress: bool = True, replica: Replica | None = None) -> float:
        """Run the rest of epoch `state.epoch`; return its mean training loss (the one read of the device)."""
        step_fn.train()
        if self.steps is None:
            self.steps = self.prepare(step_fn, opt, x, y, cfg, replica or Replica())
        steps, first = self.steps, state.step_in_epoch
        steps.start_epoch(state)
        with learning_rate_from(opt, steps.lr):
            for i in tqdm(range(first, steps.n_steps), desc=f"epoch {state.epoch + 1}/{cfg.epochs}",
                          disable=not progress, leave=False):
                (steps.full if i < steps.n_full else steps.last)()
                state.step_in_epoch += 1
        mean = steps.total.item() / max(1, steps.n_steps - first)
        if not math.isfinite(mean):
            raise TrainingDiverged(f"the loss became {mean} in epoch {state.epoch + 1}: lower --lr, or add "
                                   "--warmup-epochs; the last good checkpoint is kept")
        return mean
