"""Helpers the test modules share: synthetic pictures, tiny trained models, the app's expected API."""

import hashlib
import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client
from PIL import Image, ImageDraw
from torch import Tensor

from vae.data import CLASS_NAMES, to_float
from vae.evaluate import block_sums, elbo_terms, evaluate, nll_by_k
from vae.latent import decode_probs
from vae.loaded import LoadedModel, load_models, save_model
from vae.metadata import Metrics, ModelMetadata
from vae.model import VAE, VAEConfig
from vae.training import TrainConfig, TrainState, fit, make_optimizer, train_epoch

WEIGHTS = Path(__file__).parent.parent / "weights"
API_TIMEOUT = 120.0  # seconds a test's API client waits for the app (httpx's own default, 5 s, is short on loaded CI)

EXPECTED_ENDPOINTS = {
    "/select_model", "/initial_state", "/decode", "/decode_label", "/origin", "/random_point", "/encode",
    "/samples", "/reconstruct", "/locate", "/interpolate", "/decode_2d", "/map_codes", "/every_label",
    "/traversal", "/anatomy", "/compare", "/compress", "/decompress", "/projection", "/neighbours", "/direction",
    "/analogy", "/train", "/train_beta_1_vs_8", "/train_collapse", "/stop_training", "/explore_trained", "/why_a_vae",
    "/overview",
}

PAGE_TEXT = """
import json, sys
from app import create_demo
texts = {}
for folder in sys.argv[1:]:
    demo = create_demo(folder)
    texts[folder] = [c["props"].get("value") or "" for c in demo.config["components"] if c["type"] == "markdown"]
print(json.dumps(texts))
"""

TINY = ["--latent-dim", "3", "--hidden", "32", "--batch-size", "256", "--eval-k", "5", "--nll-images", "20",
        "--no-progress", "--no-download"]


def draw_digit(shape="7", size=400, width=20, ink=0, paper=255, mode="L", offset=(0, 0), scale=1.0):
    """A "7" (two lines) or "0" (ellipse outline), drawn in a size x size canvas."""
    image = Image.new(mode, (size, size), paper)
    draw = ImageDraw.Draw(image)
    unit = size / 400 * scale

    def at(x, y):
        return (x * unit + offset[0], y * unit + offset[1])

    if shape == "7":
        draw.line([at(100, 80), at(300, 80), at(170, 330)], fill=ink, width=width, joint="curve")
    else:
        draw.ellipse([at(130, 70), at(270, 330)], outline=ink, width=width)
    return image


def encode(image, fmt="PNG", **params):
    """The bytes of `image` saved in `fmt`."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def correlation(a, b):
    """Pearson correlation of two images."""
    return float(np.corrcoef(np.asarray(a).ravel(), np.asarray(b).ravel())[0, 1])


def same_shape(a, b):
    """Correlation of slightly blurred images: same digit, even if drawn with another pen."""
    kernel = np.array([1, 4, 6, 4, 1]) / 16  # binomial, close to a Gaussian of sigma 1

    def blur(image):
        rows = np.apply_along_axis(np.convolve, 0, np.asarray(image, np.float64), kernel, "same")
        return np.apply_along_axis(np.convolve, 1, rows, kernel, "same")

    return correlation(blur(a), blur(b))


def png_header_only(width, height):
    """A tiny valid-looking 1-bit PNG that declares width x height pixels (a decompression bomb)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def truncated(fmt):
    """A noisy image (so that pixel data is most of the file) cut in half."""
    noise = np.random.default_rng(1).integers(0, 256, (300, 300, 3), np.uint8)
    data = encode(Image.fromarray(noise), fmt)
    return data[: len(data) // 2]


def single_dot():
    """White paper with one black pixel: a speck, not a digit."""
    image = Image.new("L", (300, 300), 255)
    image.putpixel((150, 150), 0)
    return image


def zip_archive():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("digit.png", encode(draw_digit("7")))
    return buffer.getvalue()


def train_tiny(mnist_sample: dict[str, Tensor], latent_dim: int, num_classes: int = 0, epochs: int = 3) -> VAE:
    """A small MLP VAE trained briefly on the sample (under a second)."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=latent_dim, hidden=128, num_classes=num_classes))
    train = (to_float(mnist_sample["train_images"]), mnist_sample["train_labels"])
    test = (to_float(mnist_sample["test_images"][:50]), mnist_sample["test_labels"][:50])
    cfg = TrainConfig(epochs=epochs, batch_size=64, lr=3e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # matrices this small gain nothing from a second thread, and lose a lot on a busy machine
    try:
        fit(model, torch.optim.Adam(model.parameters(), lr=cfg.lr), train, test, cfg, TrainState(), progress=False)
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def save_tiny(path: Path, model: VAE, mnist_sample: dict[str, Tensor], n_test: int = 200) -> None:
    """Save `model` with the metadata and extras the app needs, measured on real test digits."""
    x, y = to_float(mnist_sample["test_images"][:n_test]), mnist_sample["test_labels"][:n_test]
    terms = elbo_terms(model, x, y)
    metrics, nll = evaluate(model, x, y, k=10)
    extras = {"test_nelbo_sorted": terms["nelbo"].sort().values, "test_mu": terms["mu"], "test_labels": y,
              "test_nll": nll}
    metadata = ModelMetadata(dataset="mnist", class_names=CLASS_NAMES["mnist"], metrics=Metrics(**metrics),
                             config=model.config)
    save_model(path, model, metadata, extras)


def load_one(path: Path) -> LoadedModel:
    """The model in `path`, loaded as the app loads it (a plain autoencoder too)."""
    models, problems = load_models(path.parent, autoencoders=True)
    assert not problems, problems
    return models[path.stem]


def lfs_pointer(real: Path) -> bytes:
    """The pointer file `git clone` leaves for `real` when Git LFS is not installed (the spec's exact format)."""
    data = real.read_bytes()
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(data).hexdigest()}\n"
            f"size {len(data)}\n").encode()


def tiny_metadata(model: VAE, metrics: dict | None = None, **fields: object) -> ModelMetadata:
    """Valid metadata for a model a test saves: MNIST, with the given metrics (zero where not given)."""
    from vae.metadata import Metrics, ModelMetadata

    base = {"test_nelbo": 0.0, "test_recon": 0.0, "test_kl": 0.0, "test_nll": 0.0, "nll_k": 1, "nll_images": 0,
            "nll_by_k": {}, "kl_per_dim": [0.0] * model.config.latent_dim, "active_units": 0}
    return ModelMetadata(dataset="mnist", config=model.config, metrics=Metrics(**{**base, **(metrics or {})}),
                         **fields)


def slider_effects(model: VAE, dims: list[int], span: float = 2.0, y: Tensor | None = None) -> Tensor:
    """What moving each slider in `dims` from -span to +span does at the origin: (len(dims), 784) pixel changes."""
    z = torch.zeros(2, len(dims), model.config.latent_dim)
    z[0, range(len(dims)), dims], z[1, range(len(dims)), dims] = -span, span
    labels = None if y is None else y.expand(2 * len(dims))
    probs = decode_probs(model, z.flatten(0, 1), labels).view(2, len(dims), -1)
    return probs[1] - probs[0]


def iw_log_likelihood(model: VAE, x: Tensor, y: Tensor | None = None, k: int = 1000, seed: int = 0) -> Tensor:
    """Importance-weighted estimate of log p(x) per image (Burda et al. 2015), with k samples from q(z|x).

    log p(x) >= log (1/k) sum_i p(x, z_i) / q(z_i|x); the bound tightens as k grows.
    """
    return -nll_by_k(block_sums(model, x, y, k, seed), k)[k]


# Relative, per epoch: how far bf16 steps may stray from float32's. Measured on a CPU with bf16 (conv_curve,
# seed 0): 0.05% apart; other shuffles and noise draws, as another device's generator gives, move it 0.2%.
BF16_TOLERANCE = 0.01
SMALL_CONV = VAEConfig(arch="conv", latent_dim=4, hidden=64, channels=(8, 16))


def conv_curve(mnist_sample: dict[str, Tensor], device: torch.device | str, cfg: TrainConfig,
               run_epoch=train_epoch) -> list[float]:
    """Test -ELBO (on 100 of its images) after each epoch of a small conv VAE trained on 512 images from seed 0."""
    torch.manual_seed(0)
    model = VAE(SMALL_CONV).to(device)
    x = to_float(mnist_sample["train_images"][:512], device)
    state = fit(model, make_optimizer(model, cfg), (x, None), (x[:100], None), cfg, TrainState(), progress=False,
                run_epoch=run_epoch)
    return [h["test_nelbo"] for h in state.history]


def assert_follows(curve: list[float], reference: list[float], rel: float = BF16_TOLERANCE) -> None:
    """A test-loss curve that falls, each epoch within `rel` of a reference curve's."""
    assert curve[-1] < curve[0], curve
    assert curve == pytest.approx(reference, rel=rel), (curve, reference)


def api_client(url: str) -> Client:
    """An API client of the app served at `url`, patient with a loaded machine (the config alone can take seconds)."""
    return Client(url, verbose=False, httpx_kwargs={"timeout": API_TIMEOUT})
