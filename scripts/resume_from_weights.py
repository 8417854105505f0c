"""Go on training a model whose resume file is gone: rebuild one from its weights file, with a fresh optimiser.

    python -m scripts.resume_from_weights weights/hconv-32d-64d.safetensors --run-dir runs
    python train.py ...the model's own flags... --epochs 200 --resume   # then, as after any Ctrl-C

The weights keep what a run needs but Adam's moments: the model, its configs, the epochs done, their history and
the command. The new state stands after the last epoch, with Adam starting afresh, and the weights' command
records this script's invocation as a resume, so the model card says where the optimiser restarted.
"""

import argparse
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

from vae.loaded import load_model
from vae.training import Run, TrainState, make_optimizer, resumed, save_resume


def rebuild_resume(weights: Path, run_dir: Path, invocation: str) -> Path:
    """Write run_dir/NAME/resume.safetensors from a weights file; returns its path."""
    loaded = load_model(weights)
    meta = loaded.metadata
    if meta.train is None or meta.epochs is None or not meta.command:
        raise SystemExit(f"{weights} does not say how it was trained (no train config, epochs or command)")
    state = TrainState(epoch=meta.epochs, history=[asdict(e) for e in meta.history])
    run = Run(meta.config, meta.train, meta.dataset,
              resumed(meta.command, meta.epochs, invocation), meta.train_seconds or 0.0)
    path = run_dir / weights.stem / "resume.safetensors"
    if path.exists():
        raise SystemExit(f"{path} exists: it holds a run's own state, which this would replace")
    path.parent.mkdir(parents=True, exist_ok=True)
    model = loaded.model.train()
    save_resume(path, model, make_optimizer(model, meta.train), state, run)
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("weights", type=Path, help="a weights file written by train.py")
    p.add_argument("--run-dir", type=Path, default=Path("runs"), help="where train.py --resume will look (--run-dir)")
    args = p.parse_args(argv)
    invocation = "python -m scripts.resume_from_weights " + shlex.join(argv if argv is not None else sys.argv[1:])
    path = rebuild_resume(args.weights, args.run_dir, invocation)
    print(f"wrote {path}: continue with train.py's command for {args.weights.stem}, --run-dir {args.run_dir} "
          "and --resume (Adam starts afresh)")


if __name__ == "__main__":
    main()
