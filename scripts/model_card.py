"""The README's model card, written from the weights files' own metadata: `python -m scripts.model_card weights`."""

import argparse
import shlex
from pathlib import Path

from vae.loaded import LoadedModel, load_model
from vae.metadata import Metrics
from vae.training import RESUMED


def nll_text(metrics: Metrics) -> str:
    """The NLL with its k and image count; at k = 1000 too when the headline figure used more samples."""
    text = f"{metrics.test_nll:.2f} (k={metrics.nll_k:,}"
    at_1000 = metrics.nll_at(1000)
    if metrics.nll_k > 1000 and at_1000 is not None:
        text += f"; {at_1000:.2f} at k=1,000"
    return text + f"; {metrics.nll_images:,} images)"


def kl_text(metrics: Metrics) -> str:
    """Each latent dimension's KL from the prior in nats, largest first: the order of the app's sliders."""
    if metrics.kl_per_dim is None:
        return "none: a plain autoencoder has no prior to measure it against"
    return ", ".join(f"{v:.2f}" for v in sorted(metrics.kl_per_dim, reverse=True))




def arguments(command: str) -> list[str]:
    """A command's arguments after `python train.py`, each flag with its value ("--epochs 45")."""
    out: list[str] = []
    for token in shlex.split(command)[2:]:
        if out and out[-1].startswith("--") and " " not in out[-1] and not token.startswith("--"):
            out[-1] += " " + shlex.quote(token)
        else:
            out.append(token)
    return out


def epochs_text(epochs: list[str]) -> str:
    """'after epoch 5', or 'after epochs 19, 31 and 32'."""
    return f"after epoch {epochs[0]}" if len(epochs) == 1 else f"after epochs {', '.join(epochs[:-1])} and {epochs[-1]}"


def command_text(command: str) -> str:
    """A run's command for the card: its first invocation whole, then where it was resumed and, for each resume,
    only the arguments it changed, or the whole command where another script took the turn (the weights keep every
    invocation whole)."""
    first, *resumes = command.split(RESUMED)
    parts, plain = [f"`{first}`"], []
    for resume in resumes:
        epoch, _, again = resume.partition(", then: ")
        changed = ([a for a in arguments(again) if a not in arguments(first) and a != "--resume"]
                   if again.startswith("python train.py") else [again])  # another script: all of it
        if changed and plain:
            parts.append(f"resumed {epochs_text(plain)}")
            plain = []
        if changed:
            parts.append(f"resumed after epoch {epoch} with `{' '.join(changed)}`")
        else:
            plain.append(epoch)
    if plain:
        parts.append(f"resumed {epochs_text(plain)}")
    return "; ".join(parts)


def _row(loaded: LoadedModel) -> str:
    """One Markdown table row for a weights file."""
    meta, cfg, m = loaded.metadata, loaded.model.config, loaded.metadata.metrics
    targets = "binarized" if meta.train and meta.train.binarize else "grey levels"
    arch = f"{'conditional ' if cfg.num_classes else ''}{cfg.arch}{' plain autoencoder' if loaded.autoencoder else ''}"
    arch += f", two stochastic layers (z1: {cfg.lower_dim})" if cfg.lower_dim else ""
    nelbo, nll = ((f"none: no prior (reconstruction error {m.test_recon:.2f})", "none: not a probabilistic model")
                  if loaded.autoencoder else (f"{m.test_nelbo:.2f}", nll_text(m)))
    return (f"| `{loaded.name}` | {arch} | {cfg.latent_dim} | {meta.parameters:,} | {meta.dataset} ({targets}) "
            f"| {meta.epochs} | {meta.train_seconds / 60:.1f} min | {nelbo} "
            f"| {nll} | {m.active_units} "
            f"| {command_text(meta.command)} |")


def gallery(folder: Path, docs: Path) -> str:
    """A table row of sample grids (docs/samples-NAME.png, copied from runs/NAME/samples.png), where present."""
    names = [p.stem for p in sorted(folder.glob("*.safetensors")) if (docs / f"samples-{p.stem}.png").exists()]
    if not names:
        return ""
    images = [f'<img src="{docs.name}/samples-{n}.png" width="180" alt="samples of {n}">' for n in names]
    return "\n".join(["| " + " | ".join(f"`{n}`" for n in names) + " |", "|---" * len(names) + "|",
                      "| " + " | ".join(images) + " |"])


def card(folder: Path) -> str:
    """The whole table for every weights file in a folder."""
    header = ("| model | architecture | latent | parameters | data (targets) | epochs | training time "
              "| test -ELBO (nats) | test NLL (nats) | active units | command |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|")
    models = [load_model(p) for p in sorted(folder.glob("*.safetensors"))]
    measured = [f"- `{m.name}`: `{m.metadata.metrics_command}`" for m in models if m.metadata.metrics_command]
    notes = ["", "NLL recorded after training by:", "", *measured] if measured else []
    kl = ["", "KL of each latent dimension from the prior over the test set, in nats, largest first (the app's "
          "sliders follow this order; a dimension near 0 carries no information):", "",
          *(f"- `{m.name}`: {kl_text(m.metadata.metrics)}" for m in models)]
    return "\n".join([header, *(_row(m) for m in models), *notes, *kl])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", nargs="?", default="weights", type=Path, help="folder of weights (default: weights)")
    folder = parser.parse_args().folder
    print(card(folder) + "\n\nSamples from the prior, 64 per model:\n\n" + gallery(folder, folder.parent / "docs"))
