"""Make one model the one a visitor sees first: `python -m scripts.set_default conv-32d`.

Sets `default` in that weights file's metadata and clears it in every other file of the folder, so the app
(vae.loaded.default_model) opens on it. The tensors are written back unchanged, so the page's copies
(weights/page/) stay fresh; the model card does not show the flag.
"""

import argparse
from dataclasses import replace
from pathlib import Path

from vae.loaded import load_model, save_model

ROOT = Path(__file__).resolve().parent.parent


def set_default(folder: Path, name: str) -> list[str]:
    """Flag `name` as the default among the weights files in `folder`; returns the names whose flag changed."""
    if not (folder / f"{name}.safetensors").is_file():
        raise SystemExit(f"no weights file {folder / name}.safetensors")
    changed = []
    for path in sorted(folder.glob("*.safetensors")):
        loaded = load_model(path)
        wanted = path.stem == name
        if loaded.metadata.default != wanted:
            save_model(path, loaded.model, replace(loaded.metadata, default=wanted), loaded.extras)
            changed.append(path.stem)
    return changed


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name", help="the model (its file's stem), e.g. conv-32d")
    p.add_argument("--weights", type=Path, default=ROOT / "weights", help="the folder of weights files")
    args = p.parse_args(argv)
    changed = set_default(args.weights, args.name)
    print(f"{args.name} is the default; rewrote: {', '.join(changed) or 'nothing (already so)'}")


if __name__ == "__main__":
    main()
