"""Compute every shipped model's map of test codes, once, ahead of time: `python scripts/project_codes.py`.

For each weights file it encodes the whole test set (posterior means of the grey-level images, as
the app encodes a digit), fits a 2-D PCA and a 2-D UMAP (umap-learn, fixed random_state) on all
10,000 codes, and stores in weights/projections/ what `vae.projection.load_projection` reads: the
codes and map coordinates of the first 200 test digits of each class, the PCA axes, the class
means and the network's SHA-256. Each dataset's 2,000 digits are stored once, beside them.
umap-learn is a requirement of this script only (requirements-dev.txt): the Space never runs it.
"""

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vae.checkpoint import load_tensors, save_tensors  # noqa: E402
from vae.data import DatasetError, load_split  # noqa: E402
from vae.loaded import LoadedModel, load_model  # noqa: E402
from vae.projection import (  # noqa: E402
    PER_CLASS,
    class_means,
    digits_path,
    fit_pca,
    network_sha256,
    pca_coordinates,
    posterior_means,
    projection_path,
    subset_indices,
)

ROOT = Path(__file__).resolve().parent.parent
# umap-learn's defaults, seeded; a seed makes it run on one thread
UMAP_SETTINGS = {"n_neighbors": 15, "min_dist": 0.1, "random_state": 0, "n_jobs": 1}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=ROOT / "weights", help="folder of the models' weights")
    parser.add_argument("--data-dir", default="data", help="MNIST's root, as train.py takes it (default: data)")
    parser.add_argument("--fashion-dir", default="data", help="Fashion-MNIST's root (default: data)")
    parser.add_argument("--no-download", action="store_true", help="fail rather than download a missing dataset")
    parser.add_argument("--only", nargs="*", default=None, help="model names (file stems); default: every model")
    return parser.parse_args(argv)


def umap_coordinates(codes: torch.Tensor) -> torch.Tensor:
    """A 2-D UMAP embedding of codes (N, D), seeded so a rerun gives the same map."""
    import umap  # only here: importing it compiles numba code for seconds

    return torch.from_numpy(umap.UMAP(n_components=2, **UMAP_SETTINGS).fit_transform(codes.numpy())).float()


def write_digits(weights: Path, dataset: str, images: torch.Tensor, labels: torch.Tensor, keep: torch.Tensor) -> None:
    """Store one dataset's chosen test digits (uint8 images, labels, test-set positions), unless they are stored
    already (rewritten, the same tensors would come out as other bytes: the header's key order varies)."""
    path = digits_path(weights, dataset)
    tensors = {"images": images[keep], "labels": labels[keep].to(torch.uint8), "test_indices": keep.int()}
    stored = load_tensors(path)[0] if path.is_file() else {}
    if stored.keys() == tensors.keys() and all(torch.equal(stored[k], v) for k, v in tensors.items()):
        return
    save_tensors(path, tensors, {"dataset": dataset, "chosen": f"the first {PER_CLASS} test images of each class"})


def project(loaded: LoadedModel, images: torch.Tensor, labels: torch.Tensor, keep: torch.Tensor) -> dict:
    """Codes of the whole test set, their PCA and UMAP maps; returns the tensors and metadata to store."""
    codes = posterior_means(loaded.model, images, labels)
    mean, axes, explained = fit_pca(codes)
    tensors = {
        "codes": codes[keep].half(), "test_indices": keep.int(),
        "pca": pca_coordinates(codes, mean, axes)[keep].half(), "umap": umap_coordinates(codes)[keep].half(),
        "pca_mean": mean, "pca_axes": axes, "class_means": class_means(codes, labels, len(loaded.class_names)),
    }
    meta = {"model": loaded.name, "dataset": loaded.dataset, "weights_sha256": network_sha256(loaded.model),
            "pca_explained": list(explained), "umap": UMAP_SETTINGS, "fitted_on": f"all {len(codes):,} test codes",
            "command": "python scripts/project_codes.py --only " + loaded.name}
    return {"tensors": tensors, "metadata": meta}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    data_dirs = {"mnist": args.data_dir, "fashion-mnist": args.fashion_dir}
    paths = sorted(args.weights.glob("*.safetensors"))
    test_sets = {}
    for path in paths:
        if args.only is not None and path.stem not in args.only:
            continue
        loaded = load_model(path)
        if loaded.dataset not in test_sets:
            try:
                images, labels = load_split(loaded.dataset, data_dirs[loaded.dataset], False, not args.no_download)
            except DatasetError as e:
                sys.exit(str(e))
            keep = subset_indices(labels)
            write_digits(args.weights, loaded.dataset, images, labels, keep)
            test_sets[loaded.dataset] = images, labels, keep
        start = time.perf_counter()
        stored = project(loaded, *test_sets[loaded.dataset])
        save_tensors(projection_path(args.weights, loaded.name), stored["tensors"], stored["metadata"])
        size = projection_path(args.weights, loaded.name).stat().st_size
        print(f"{loaded.name}: {size / 1e3:.0f} kB, PCA axes hold {100 * sum(stored['metadata']['pca_explained']):.0f}%"
              f" of the variance, {time.perf_counter() - start:.1f} s", flush=True)
    for dataset in test_sets:
        print(f"{dataset} digits: {digits_path(args.weights, dataset).stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
