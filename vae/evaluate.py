"""Measure a trained VAE the way the literature does; also `python -m vae.evaluate WEIGHTS`.

- test negative ELBO (one reparameterized sample per image, as in the classic example);
- importance-weighted negative log-likelihood (Burda et al. 2015) with k samples;
- KL per latent dimension and the number of active units (Cov_x E_q[z_d] > 0.01).
"""

import argparse
import hashlib
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from vae.checkpoint import CheckpointError, load_tensors, save_tensors, tensors_sha256
from vae.data import evaluation_inputs, load_split
from vae.loaded import load_model, save_model
from vae.loss import kl_per_dim, log_importance_weights, negative_elbo, reconstruction_nll
from vae.metadata import Metrics
from vae.model import VAE, reparameterize
from vae.posterior import decode_draw

ACTIVE_THRESHOLD = 0.01


def _labels(y: Tensor | None, idx: slice, model: VAE) -> Tensor | None:
    return y[idx] if model.config.num_classes else None


@torch.no_grad()
def elbo_terms(
    model: VAE, x: Tensor, y: Tensor | None = None, seed: int = 0, batch_size: int = 2000
) -> dict[str, Tensor]:
    """Per-image negative ELBO, reconstruction NLL, KL per dimension, and posterior means."""
    model.eval()
    gen = torch.Generator(device=x.device).manual_seed(seed)
    parts: dict[str, list[Tensor]] = {"nelbo": [], "recon": [], "kl_dims": [], "kl_lower": [], "mu": []}
    for start in range(0, len(x), batch_size):
        idx = slice(start, start + batch_size)
        h = model.encoder_state(x[idx], _labels(y, idx, model))
        mu, logvar = model.posterior(h)
        for k, v in posterior_terms(model, x[idx], mu, logvar, _labels(y, idx, model), gen, h).items():
            parts[k].append(v)
    return {k: torch.cat(v) for k, v in parts.items()}


@torch.no_grad()
def reconstruction_errors(
    model: VAE, x: Tensor, y: Tensor | None = None, batch_size: int = 2000
) -> tuple[Tensor, Tensor]:
    """Per-image reconstruction NLL decoding the encoder's mean (no sampling), and those means: a plain autoencoder's
    error and codes."""
    model.eval()
    recon, codes = [], []
    for start in range(0, len(x), batch_size):
        idx = slice(start, start + batch_size)
        mu = model.encode(x[idx], _labels(y, idx, model))[0]
        recon.append(reconstruction_nll(model.decode(mu, _labels(y, idx, model)), x[idx]))
        codes.append(mu)
    return torch.cat(recon), torch.cat(codes)


@torch.no_grad()
def posterior_terms(model: VAE, x: Tensor, mu: Tensor, logvar: Tensor, y: Tensor | None,
                    generator: torch.Generator, h: Tensor | None = None) -> dict[str, Tensor]:
    """elbo_terms of images whose posterior (mu, logvar) is already known: one z each, drawn with `generator`
    (then a hierarchy's z1, from the encoder's features `h`, computed here if not given). "kl_dims" is the top
    layer's, whose dimensions the sliders move; "kl_lower" (N,) is a hierarchy's lower-layer KL, zero for one
    layer, and "nelbo" counts both."""
    if h is None and model.config.lower_dim:
        h = model.encoder_state(x, y)
    drawn = decode_draw(model, h, reparameterize(mu, logvar, generator=generator), y, generator=generator)
    return {"nelbo": negative_elbo(drawn.logits, x, mu, logvar, drawn.lower_kl),
            "recon": reconstruction_nll(drawn.logits, x), "kl_dims": kl_per_dim(mu, logvar),
            "kl_lower": drawn.lower_kl.sum(1), "mu": mu}


def mean_negative_elbo(model: VAE, x: Tensor, y: Tensor | None = None, seed: int = 0) -> float:
    """Mean single-sample negative ELBO in nats per image."""
    return float(elbo_terms(model, x, y, seed)["nelbo"].mean())


IW_BLOCK = 1000  # importance samples per (image, block); each block has its own seed


def block_seed(seed: int, image: int, block: int) -> int:
    """The seed of one image's block of importance samples: results never depend on batching.

    Hashed, because a CPU generator keeps only the low 32 bits of its seed.
    """
    return int.from_bytes(hashlib.blake2b(f"{seed}/{image}/{block}".encode(), digest_size=4).digest(), "little")


@torch.no_grad()
def iw_block(
    model: VAE, x: Tensor, y: Tensor | None, block: int, size: int = IW_BLOCK, seed: int = 0, first: int = 0,
    decode_batch: int = 100,  # the conv decoder's best throughput on a small CPU (docs/engineering.md)
) -> Tensor:
    """log sum_i p(x, z_i) / q(z_i|x) over one block of `size` samples z_i ~ q(z|x), per image.

    Image j of `x` is test image `first + j`; its samples come from block_seed(seed, first + j, block),
    so any split of the test set into calls, or of k into blocks, draws the same samples.
    """
    model.eval()
    h = model.encoder_state(x, y)
    mu, logvar = model.posterior(h)
    out = torch.empty(len(x), dtype=torch.float64)
    for j in range(len(x)):
        gen = torch.Generator().manual_seed(block_seed(seed, first + j, block))
        z = reparameterize(mu[j], logvar[j], size, gen)
        # A hierarchy's z1 noise for the whole block, after z's: the same draws whatever decode_batch is.
        lower = torch.randn(size, model.config.lower_dim, generator=gen).to(x.device)
        log_w = []
        for zc, nc in zip(z.split(decode_batch), lower.split(decode_batch), strict=True):
            yc = None if y is None else y[j].expand(len(zc))
            drawn = decode_draw(model, h[j].expand(len(zc), -1), zc, yc, nc)
            log_w.append(log_importance_weights(drawn.logits, x[j].expand(len(zc), -1, -1, -1), zc, mu[j], logvar[j],
                                                lower_log_ratio=drawn.lower_log_ratio))
        out[j] = torch.logsumexp(torch.cat(log_w).double(), 0)
    return out


def block_sizes(k: int) -> list[int]:
    """How k importance samples split into blocks: k = 5000 reuses the k = 1000 block and adds four."""
    return [min(IW_BLOCK, k - start) for start in range(0, k, IW_BLOCK)]


def _progress_key(model: VAE, n: int, seed: int) -> dict:
    return {"weights_sha256": tensors_sha256(model.state_dict()), "images": n, "seed": seed, "block": IW_BLOCK}


def block_sums(
    model: VAE, x: Tensor, y: Tensor | None, k: int, seed: int = 0, progress: Path | None = None, chunk: int = 100
) -> Tensor:
    """iw_block for every block of k and every image: (blocks, N), one block at a time over the whole set.

    With `progress`, finished chunks are saved there and skipped on a rerun, so an evaluation that takes
    hours (k = 5000 on a conv model on a CPU) survives being stopped; a larger k reuses smaller k's blocks.
    """
    sizes = block_sizes(k)
    names = [f"block{b}" if size == IW_BLOCK else f"block{b}_{size}" for b, size in enumerate(sizes)]
    key = _progress_key(model, len(x), seed) if progress else {}
    done = {}
    if progress and progress.exists():
        tensors, meta = load_tensors(progress)
        done = tensors if meta == key else {}
    sums = {name: done.get(name, torch.full((len(x),), math.nan, dtype=torch.float64)) for name in names}
    # The first block over every image first (k = 1000 on the whole set), then the rest image by image,
    # so a run stopped early still has the larger k on a prefix of the test set.
    todo = sorted(((b, start) for b, name in enumerate(names) for start in range(0, len(x), chunk)
                   if sums[name][start : start + chunk].isnan().any()), key=lambda t: (t[0] > 0, t[1], t[0]))
    for b, start in tqdm(todo, desc=f"NLL k={k}", unit="chunk", disable=len(todo) < 10):
        idx = slice(start, start + chunk)
        sums[names[b]][idx] = iw_block(model, x[idx], None if y is None else y[idx], b, sizes[b], seed, start)
        if progress:
            save_tensors(progress, {**done, **sums}, key)
    return torch.stack([sums[name] for name in names])


def nll_by_k(sums: Tensor, k: int) -> dict[int, Tensor]:
    """Per-image NLL for every k that is a whole number of blocks of `sums` (from block_sums), and for k."""
    cumulative = torch.tensor(block_sizes(k)).cumsum(0).tolist()
    return {kk: (math.log(kk) - torch.logsumexp(sums[: b + 1], 0)).float() for b, kk in enumerate(cumulative)}


def active_units(mu: Tensor, threshold: float = ACTIVE_THRESHOLD) -> int:
    """Latent dimensions whose posterior mean varies across the data (Burda et al. 2015)."""
    return int((mu.var(0) > threshold).sum())


def evaluate(
    model: VAE, x: Tensor, y: Tensor | None, k: int, nll_images: int | None = None, progress: Path | None = None
) -> tuple[dict, Tensor]:
    """All reported metrics for one test set (the fields of vae.metadata.Metrics), and the per-image NLL on the
    first `nll_images` (default all)."""
    terms = elbo_terms(model, x, y)
    n = len(x) if nll_images is None else min(nll_images, len(x))
    nll = nll_by_k(block_sums(model, x[:n], None if y is None else y[:n], k, progress=progress), k)
    metrics = {
        "test_nelbo": float(terms["nelbo"].mean()),
        "test_recon": float(terms["recon"].mean()),
        "test_kl": float((terms["kl_dims"].sum(1) + terms["kl_lower"]).mean()),
        **({"test_kl_lower": float(terms["kl_lower"].mean())} if model.config.lower_dim else {}),
        "test_nll": float(nll[k].mean()),
        "nll_k": k,
        "nll_images": n,
        "nll_by_k": {str(kk): round(float(v.mean()), 4) for kk, v in nll.items()},
        "kl_per_dim": [round(float(v), 4) for v in terms["kl_dims"].mean(0)],
        "active_units": active_units(terms["mu"]),
    }
    return metrics, nll[k]


def evaluate_autoencoder(model: VAE, x: Tensor, y: Tensor | None) -> dict:
    """A plain autoencoder's metrics (the fields of vae.metadata.Metrics it has): reconstruction error, active units.

    It has no prior and no posterior, so no ELBO, KL or likelihood to estimate.
    """
    recon, codes = reconstruction_errors(model, x, y)
    return {"test_recon": float(recon.mean()), "active_units": active_units(codes)}


def final_extras(model: VAE, x_test: Tensor, y_test: Tensor, autoencoder: bool = False) -> dict[str, Tensor]:
    """Tensors the app needs beside the weights: a VAE's test scores, and the test codes for a 2-D map."""
    if autoencoder:
        extras, codes = {}, reconstruction_errors(model, x_test, y_test)[1]
    else:
        terms = elbo_terms(model, x_test, y_test)
        extras, codes = {"test_nelbo_sorted": terms["nelbo"].sort().values.float()}, terms["mu"]
    if model.config.latent_dim == 2:
        extras.update(test_mu=codes.half(), test_labels=y_test.to(torch.uint8))
    return extras


def main(argv: list[str] | None = None) -> None:
    """CLI: reproduce a weights file's metrics from the file and the test set alone."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", help="a .safetensors file written by train.py")
    p.add_argument("--data-dir", default="data", help="dataset root (default: ./data, downloaded if missing)")
    p.add_argument("--k", type=int, default=1000, help="importance samples for the NLL (default: 1000)")
    p.add_argument("--nll-images", type=int, default=None, help="NLL on the first N test images only")
    p.add_argument("--no-download", action="store_true", help="never download the dataset")
    p.add_argument("--progress", type=Path, default=None, help="save partial NLL work here and resume from it")
    p.add_argument("--record", action="store_true", help="store these metrics in the weights file's metadata")
    args = p.parse_args(argv)

    try:
        loaded = load_model(args.weights)
    except CheckpointError as e:
        sys.exit(f"cannot evaluate: {e}")
    meta = loaded.metadata
    images, labels = load_split(meta.dataset, args.data_dir, train=False, download=not args.no_download)
    x = evaluation_inputs(images, meta.train is not None and meta.train.binarize)
    if loaded.autoencoder:
        print("a plain autoencoder has no prior and no posterior, so no ELBO, KL or NLL: "
              "measuring its reconstruction error", file=sys.stderr)
        fields, extras = evaluate_autoencoder(loaded.model, x, labels), {}
    else:
        fields, nll = evaluate(loaded.model, x, labels, args.k, args.nll_images, args.progress)
        extras = {"test_nll": nll}
    metrics = Metrics(**fields)
    for key in ("test_nelbo", "test_recon", "test_kl", "test_kl_lower", "test_nll", "active_units"):
        if getattr(metrics, key) is not None:
            recorded = getattr(meta.metrics, key)
            print(f"{key:13s} {getattr(metrics, key):10.3f}   (recorded: "
                  f"{'none' if recorded is None else format(recorded, '.3f')})")
    if not loaded.autoencoder:
        print("nll_by_k     ", json.dumps(metrics.nll_by_k))
        print("kl_per_dim   ", json.dumps(list(metrics.kl_per_dim)))
        print(f"(NLL with k={args.k} on {metrics.nll_images} test images)", file=sys.stderr)
    if args.record:
        command = " ".join(["python -m vae.evaluate", *(sys.argv[1:] if argv is None else argv)])
        save_model(args.weights, loaded.model, replace(meta, metrics=metrics, metrics_command=command),
                   {**loaded.extras, **extras})
        print(f"recorded in {args.weights}", file=sys.stderr)


if __name__ == "__main__":
    main()
