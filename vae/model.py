"""The VAE itself: a small config dataclass and one module with two architectures.

The encoder maps an image (and, for a conditional model, its label) to the mean and
log-variance of a diagonal Gaussian q(z|x); the decoder maps a latent code to Bernoulli
*logits* per pixel (probabilities = sigmoid(logits)). Logits, not probabilities, because
binary cross-entropy on logits is numerically stable where log(sigmoid) is not.
"""

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IMAGE_SIZE = 28
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE
ARCHS = ("mlp", "conv")


@dataclass(frozen=True)
class VAEConfig:
    """Everything needed to rebuild the network; stored in every weights file."""

    arch: str = "mlp"  # "mlp": the classic 784-400-20 network; "conv": small conv encoder/decoder
    latent_dim: int = 20
    hidden: int = 400  # width of the dense hidden layer (both archs)
    channels: tuple[int, int] = (32, 64)  # conv only: channels at 14x14 and 7x7
    num_classes: int = 0  # > 0 makes the model class-conditional on a label in [0, num_classes)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.latent_dim < 1 or self.hidden < 1 or min(self.channels) < 1 or self.num_classes < 0:
            raise ValueError(f"sizes must be positive: {self}")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))

    def to_dict(self) -> dict:
        """Plain dict for JSON metadata."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "VAEConfig":
        """Inverse of to_dict; unknown keys are an error so a typo never passes silently."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown VAEConfig keys: {sorted(unknown)}")
        return cls(**d)


def _mlp_encoder(cfg: VAEConfig) -> tuple[nn.Module, int]:
    return nn.Flatten(), N_PIXELS


def _conv_encoder(cfg: VAEConfig) -> tuple[nn.Module, int]:
    c1, c2 = cfg.channels
    body = nn.Sequential(
        nn.Conv2d(1, c1, 4, stride=2, padding=1),  # 28 -> 14
        nn.ReLU(),
        nn.Conv2d(c1, c2, 4, stride=2, padding=1),  # 14 -> 7
        nn.ReLU(),
        nn.Flatten(),
    )
    return body, c2 * 7 * 7


def _mlp_decoder(cfg: VAEConfig) -> nn.Module:
    return nn.Sequential(
        nn.Linear(cfg.hidden, N_PIXELS), nn.Unflatten(1, (1, IMAGE_SIZE, IMAGE_SIZE))
    )


def _conv_decoder(cfg: VAEConfig) -> nn.Module:
    c1, c2 = cfg.channels
    return nn.Sequential(
        nn.Linear(cfg.hidden, c2 * 7 * 7),
        nn.ReLU(),
        nn.Unflatten(1, (c2, 7, 7)),
        nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),  # 7 -> 14
        nn.ReLU(),
        nn.ConvTranspose2d(c1, c1, 4, stride=2, padding=1),  # 14 -> 28
        nn.ReLU(),
        nn.Conv2d(c1, 1, 3, padding=1),
    )


class VAE(nn.Module):
    """Gaussian-latent VAE with a Bernoulli decoder, optionally conditioned on a class label."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        self.features, n_features = (_mlp_encoder if config.arch == "mlp" else _conv_encoder)(config)
        # The label enters as a one-hot vector concatenated to the dense layers' inputs.
        self.enc_hidden = nn.Linear(n_features + config.num_classes, config.hidden)
        self.enc_out = nn.Linear(config.hidden, 2 * config.latent_dim)  # mean and log-variance
        self.dec_hidden = nn.Linear(config.latent_dim + config.num_classes, config.hidden)
        self.dec_out = (_mlp_decoder if config.arch == "mlp" else _conv_decoder)(config)
        # Channels-last convolutions take oneDNN's fast path on CPU, which the default layout
        # misses for transposed convolutions (docs/engineering.md).
        self.to(memory_format=torch.channels_last)

    def _with_label(self, h: Tensor, y: Tensor | None) -> Tensor:
        if not self.config.num_classes:
            return h
        if y is None:
            raise ValueError("this model is class-conditional: pass a label y")
        return torch.cat([h, F.one_hot(y.long(), self.config.num_classes).to(h.dtype)], dim=1)

    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Images (N, 1, 28, 28) in [0, 1] -> mean and log-variance, each (N, latent_dim)."""
        h = F.relu(self.enc_hidden(self._with_label(self.features(x), y)))
        mu, logvar = self.enc_out(h).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Latent codes (N, latent_dim) -> pixel logits (N, 1, 28, 28)."""
        return self.dec_out(F.relu(self.dec_hidden(self._with_label(z, y))))

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """One stochastic pass: (logits, mu, logvar), with z drawn by reparameterization."""
        mu, logvar = self.encode(x, y)
        return self.decode(reparameterize(mu, logvar), y), mu, logvar


def reparameterize(
    mu: Tensor, logvar: Tensor, n: int | None = None, generator: torch.Generator | None = None
) -> Tensor:
    """z ~ q(z|x) as z = mu + sigma * eps, so gradients flow back into mu and logvar.

    One z per row of `mu`, or with `n`, n draws (n, D) from the one posterior of `mu` (shape (D,) or (1, D)).
    eps comes from `generator` (on its own device) if given, else from torch's global generator.
    """
    shape = mu.shape if n is None else (n, mu.shape[-1])
    device = mu.device if generator is None else generator.device
    eps = torch.randn(shape, generator=generator, device=device, dtype=mu.dtype).to(mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
