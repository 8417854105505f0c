"""What the "Watch it learn" view sends the page, and where the models it trains are kept (no Gradio).

Each update is one JSON text that static/learn.js draws on canvases: per run, the test codes, the
prior samples (bytes), the loss history (evened out to at most HISTORY_POINTS per curve) and the KL
of each latent dimension. The page keeps nothing between updates, so a missed update loses nothing.
"""

import base64
import json
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from vae.live_training import LiveSettings, Snapshot
from vae.loaded import LoadedModel, save_model
from webapp.decoder_spec import page_spec
from webapp.page import Models, static_url

HISTORY_POINTS = 400  # per loss curve: more than a plot a phone wide can show
KEEP_TRAINED = 16  # trained models kept for exploring, across visitors; the oldest goes first


@dataclass
class LossHistory:
    """Every step's loss terms of one run, kept by the server for the whole run."""

    steps: list[Tensor] = field(default_factory=list)
    recon: list[Tensor] = field(default_factory=list)
    kl: list[Tensor] = field(default_factory=list)

    def add(self, shot: Snapshot) -> None:
        """The steps a snapshot brings."""
        self.steps.append(shot.steps)
        self.recon.append(shot.recon)
        self.kl.append(shot.kl)

    def curves(self, points: int = HISTORY_POINTS) -> dict[str, list[float]]:
        """Step, reconstruction and KL, each averaged over equal runs of steps so at most `points` remain."""
        columns = {"step": self.steps, "recon": self.recon, "kl": self.kl}
        n = sum(len(t) for t in self.steps)
        if n == 0:
            return {name: [] for name in columns}
        return {name: [round(float(chunk.mean()), 3) for chunk in torch.cat(parts).float().tensor_split(min(n, points))]
                for name, parts in columns.items()}


def title(settings: LiveSettings) -> str:
    """A run's name on the page: what it changes from the defaults that matter."""
    parts = [f"β = {settings.beta:g}", f"{settings.latent_dim}-D latent"]
    if settings.warmup_epochs:
        parts.append(f"KL warm-up {settings.warmup_epochs:g} epochs")
    return ", ".join(parts)


def run_message(settings: LiveSettings, shot: Snapshot, history: LossHistory) -> dict:
    """One run's part of an update."""
    samples = (shot.samples.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy().tobytes()
    return {
        "title": title(settings), "step": shot.step, "epoch": round(shot.epoch, 2), "seconds": round(shot.seconds, 1),
        "finished": shot.finished, "latent_dim": settings.latent_dim,
        "codes": [round(v, 2) for v in shot.codes.flatten().tolist()],
        "samples": base64.b64encode(samples).decode("ascii"),
        "kl_per_dim": [round(v, 3) for v in shot.kl_per_dim.tolist()],
        "loss": history.curves(),
    }


def update_text(run_id: str, labels: list[int], runs: list[dict], models: list[dict] | None = None) -> str:
    """The JSON text of one update of the page: every run's state, and the trained models' decoder specs."""
    return json.dumps({"run": run_id, "labels": labels, "runs": runs, "models": models or []}, separators=(",", ":"))


def describe(settings: LiveSettings, shot: Snapshot) -> str:
    """One run's state in words, for the status line."""
    done = {"stopped": " (stopped)", "time": " (time is up)", "steps": " (done)"}.get(shot.finished or "", "")
    losses = f", reconstruction {shot.recon[-1]:.1f} nats, KL {shot.kl[-1]:.2f} nats" if len(shot.recon) else ""
    return (f"**{title(settings)}**: epoch {shot.epoch:.1f}, step {shot.step:,}, {shot.seconds:.0f} s{losses}"
            f"{done}")


class TrainedModels:
    """Models trained on this server, saved where the page can fetch their weights, and registered among the
    page's models under unique names so every view can explore them; only the newest KEEP_TRAINED stay."""

    def __init__(self, models: Models, keep: int = KEEP_TRAINED) -> None:
        self.models, self.keep = models, keep
        self.folder = Path(tempfile.mkdtemp(prefix="vae-trained-"))  # served as a static path (see the view)
        self.names: OrderedDict[str, Path] = OrderedDict()
        self.count = 0
        self.lock = threading.Lock()

    def add(self, loaded: LoadedModel) -> tuple[str, dict]:
        """Save and register a trained model; its new name and the page's decoder spec for it."""
        with self.lock:
            self.count += 1
            name = f"trained-{self.count}-{loaded.latent_dim}d"
            path = self.folder / f"{name}.safetensors"
            loaded.name = name
            save_model(path, loaded.model, loaded.metadata, loaded.extras)
            models = {**self.models.models, name: loaded}
            self.names[name] = path
            while len(self.names) > self.keep:
                old, old_path = self.names.popitem(last=False)
                models.pop(old, None)
                old_path.unlink(missing_ok=True)
            # A new dict, not a changed one: other threads may be iterating the old one.
            self.models.models = models
        return name, page_spec(loaded, path, static_url(path))

    def path(self, name: str) -> Path | None:
        """The weights file of a trained model still kept, else None."""
        with self.lock:
            return self.names.get(name)
