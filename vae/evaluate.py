"""Measure a trained VAE the way the literature does; also `python -m vae.evaluate WEIGHTS`.

- test negative ELBO (one reparameterized sample per image, as in the classic example);
- importance-weighted negative log-likelihood (Burda et al. 2015) with k samples;
- KL per latent dimension and the number of active units (Cov_x E_q[z_d] > 0.01).
"""

import argparse
import json
import math
import sys

import torch
from torch import Tensor

from vae.loss import gaussian_log_prob, kl_per_dim, negative_elbo, reconstruction_nll
from vae.model import VAE

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
    parts: dict[str, list[Tensor]] = {"nelbo": [], "recon": [], "kl_dims": [], "mu": []}
    for start in range(0, len(x), batch_size):
        idx = slice(start, start + batch_size)
        mu, logvar = model.encode(x[idx], _labels(y, idx, model))
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen, device=mu.device)
        logits = model.decode(z, _labels(y, idx, model))
        parts["nelbo"].append(negative_elbo(logits, x[idx], mu, logvar))
        parts["recon"].append(reconstruction_nll(logits, x[idx]))
        parts["kl_dims"].append(kl_per_dim(mu, logvar))
        parts["mu"].append(mu)
    return {k: torch.cat(v) for k, v in parts.items()}


def mean_negative_elbo(model: VAE, x: Tensor, y: Tensor | None = None, seed: int = 0) -> float:
    """Mean single-sample negative ELBO in nats per image."""
    return float(elbo_terms(model, x, y, seed)["nelbo"].mean())


@torch.no_grad()
def iw_log_likelihood(
    model: VAE, x: Tensor, y: Tensor | None = None, k: int = 1000, seed: int = 0, max_batch: int = 20000
) -> Tensor:
    """Importance-weighted estimate of log p(x) per image, with k samples from q(z|x).

    log p(x) >= log (1/k) sum_i p(x, z_i) / q(z_i|x); the bound tightens as k grows.
    Images go in groups and samples in chunks so that at most `max_batch` decodes run at once.
    """
    model.eval()
    gen = torch.Generator(device=x.device).manual_seed(seed)
    chunk = min(k, max_batch)
    group = max(1, max_batch // chunk)
    out = []
    for start in range(0, len(x), group):
        idx = slice(start, start + group)
        xb, yb = x[idx], _labels(y, idx, model)
        mu, logvar = model.encode(xb, yb)
        log_w = []
        for done in range(0, k, chunk):
            kc = min(chunk, k - done)
            z = mu + torch.exp(0.5 * logvar) * torch.randn((kc, *mu.shape), generator=gen, device=x.device)
            logits = model.decode(z.flatten(0, 1), None if yb is None else yb.repeat(kc))
            log_px_z = -reconstruction_nll(logits, xb.repeat(kc, 1, 1, 1)).view(kc, -1)
            log_pz = gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))
            log_w.append(log_px_z + log_pz - gaussian_log_prob(z, mu, logvar))
        out.append(torch.logsumexp(torch.cat(log_w), 0) - math.log(k))
    return torch.cat(out)


def active_units(mu: Tensor, threshold: float = ACTIVE_THRESHOLD) -> int:
    """Latent dimensions whose posterior mean varies across the data (Burda et al. 2015)."""
    return int((mu.var(0) > threshold).sum())


def evaluate(model: VAE, x: Tensor, y: Tensor | None, k: int, nll_images: int | None = None) -> dict:
    """All reported metrics for one test set; NLL on the first `nll_images` images (default all)."""
    terms = elbo_terms(model, x, y)
    n = len(x) if nll_images is None else min(nll_images, len(x))
    nll = -iw_log_likelihood(model, x[:n], None if y is None else y[:n], k=k)
    return {
        "test_nelbo": float(terms["nelbo"].mean()),
        "test_recon": float(terms["recon"].mean()),
        "test_kl": float(terms["kl_dims"].sum(1).mean()),
        "test_nll": float(nll.mean()),
        "nll_k": k,
        "nll_images": n,
        "kl_per_dim": [round(float(v), 4) for v in terms["kl_dims"].mean(0)],
        "active_units": active_units(terms["mu"]),
    }


def main(argv: list[str] | None = None) -> None:
    """CLI: reproduce a weights file's metrics from the file and the test set alone."""
    from vae.checkpoint import load_model
    from vae.data import evaluation_inputs, load_split

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", help="a .safetensors file written by train.py")
    p.add_argument("--data-dir", default="data", help="dataset root (default: ./data, downloaded if missing)")
    p.add_argument("--k", type=int, default=1000, help="importance samples for the NLL (default: 1000)")
    p.add_argument("--nll-images", type=int, default=None, help="NLL on the first N test images only")
    p.add_argument("--no-download", action="store_true", help="never download the dataset")
    args = p.parse_args(argv)

    ckpt = load_model(args.weights)
    meta = ckpt.metadata
    images, labels = load_split(meta["dataset"], args.data_dir, train=False, download=not args.no_download)
    x = evaluation_inputs(images, meta["train"]["binarize"])
    metrics = evaluate(ckpt.model, x, labels, args.k, args.nll_images)
    recorded = meta.get("metrics", {})
    for key in ("test_nelbo", "test_recon", "test_kl", "test_nll", "active_units"):
        was = recorded.get(key)
        print(f"{key:13s} {metrics[key]:10.3f}" + ("" if was is None else f"   (recorded: {was:.3f})"))
    print("kl_per_dim   ", json.dumps(metrics["kl_per_dim"]))
    print(f"(NLL with k={args.k} on {metrics['nll_images']} test images)", file=sys.stderr)


if __name__ == "__main__":
    main()
