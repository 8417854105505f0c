"""The VAE itself: a small config dataclass and one module with two architectures.

The encoder maps an image (and, for a conditional model, its label) to the mean and
log-variance of a diagonal Gaussian q(z|x); the decoder maps a latent code to Bernoulli
*logits* per pixel (probabilities = sigmoid(logits)). Logits, not probabilities, because
binary cross-entropy on logits is numerically stable where log(sigmoid) is not.

With `lower_dim > 0` the model has two stochastic layers, z -> z1 -> x (a top-down hierarchy in
the manner of the Ladder VAE, Sonderby et al. 2016, with the residual posterior of NVAE, Vahdat &
Kautz 2020): p(z) = N(0, I), p(z1|z) a Gaussian from a small network, p(x|z1) the decoder above;
inference runs in the same order, q(z|x) then q(z1|x, z). `z` (latent_dim) stays the code that
sliders, maps and interpolations move; `decode(z)` puts z1 at its prior mean E[z1|z].
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
    lower_dim: int = 0  # > 0 adds a lower stochastic layer z1 of this size between the code z and the pixels

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if (self.latent_dim < 1 or self.hidden < 1 or min(self.channels) < 1 or self.num_classes < 0
                or self.lower_dim < 0):
            raise ValueError(f"sizes must be positive: {self}")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))

    @property
    def noise_dim(self) -> int:
        """Standard normal draws one posterior sample takes: one per dimension of every stochastic layer."""
        return self.latent_dim + self.lower_dim

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
        bottom = config.lower_dim or config.latent_dim  # the code the pixel decoder reads: z1, or z itself
        self.dec_hidden = nn.Linear(bottom + config.num_classes, config.hidden)
        self.dec_out = (_mlp_decoder if config.arch == "mlp" else _conv_decoder)(config)
        if config.lower_dim:
            # p(z1|z): mean and log-variance from z (and the label). Its name starts with dec_: the page decodes it.
            self.dec_prior = _two_layer(config.latent_dim + config.num_classes, config.hidden, 2 * config.lower_dim)
            # q(z1|x, z): the encoder's features and z -> a shift of p(z1|z)'s mean and log-variance.
            self.enc_lower = _two_layer(config.hidden + config.latent_dim, config.hidden, 2 * config.lower_dim)
        # Channels-last convolutions take oneDNN's fast path on CPU, which the default layout
        # misses for transposed convolutions (docs/engineering.md).
        self.to(memory_format=torch.channels_last)

    def _with_label(self, h: Tensor, y: Tensor | None) -> Tensor:
        if not self.config.num_classes:
            return h
        if y is None:
            raise ValueError("this model is class-conditional: pass a label y")
        return torch.cat([h, F.one_hot(y.long(), self.config.num_classes).to(h.dtype)], dim=1)

    def encoder_state(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Images (N, 1, 28, 28) in [0, 1] -> the encoder's deterministic features (N, hidden)."""
        return F.relu(self.enc_hidden(self._with_label(self.features(x), y)))

    def posterior(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """The encoder's features -> mean and log-variance of q(z|x), each (N, latent_dim)."""
        mu, logvar = self.enc_out(h).chunk(2, dim=1)
        return mu, logvar

    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Images (N, 1, 28, 28) in [0, 1] -> mean and log-variance of q(z|x), each (N, latent_dim)."""
        return self.posterior(self.encoder_state(x, y))

    def lower_prior(self, z: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Codes z (N, latent_dim) -> mean and log-variance of p(z1|z), each (N, lower_dim)."""
        mean, logvar = self.dec_prior(self._with_label(z, y)).chunk(2, dim=1)
        return mean, logvar

    def lower_posterior(self, h: Tensor, z: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """q(z1|x, z) and p(z1|z) from the encoder's features h and codes z: (mean, log-variance) of each.

        The posterior is the prior shifted (NVAE's residual form): where the image adds nothing, q = p and the
        layer costs no KL.
        """
        prior_mean, prior_logvar = self.lower_prior(z, y)
        shift_mean, shift_logvar = self.enc_lower(torch.cat([h, z], dim=1)).chunk(2, dim=1)
        return prior_mean + shift_mean, prior_logvar + shift_logvar, prior_mean, prior_logvar

    def decode_lowest(self, code: Tensor, y: Tensor | None = None) -> Tensor:
        """The lowest stochastic layer's codes (z1, or z in a one-layer model) -> pixel logits (N, 1, 28, 28)."""
        return self.dec_out(F.relu(self.dec_hidden(self._with_label(code, y))))

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Latent codes (N, latent_dim) -> pixel logits (N, 1, 28, 28); a hierarchy's z1 at its prior mean E[z1|z]."""
        return self.decode_lowest(self.lower_prior(z, y)[0] if self.config.lower_dim else z, y)

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """One stochastic pass: (logits, mu, logvar), with z (and a hierarchy's z1) drawn by reparameterization."""
        h = self.encoder_state(x, y)
        mu, logvar = self.posterior(h)
        z = reparameterize(mu, logvar)
        if not self.config.lower_dim:
            return self.decode(z, y), mu, logvar
        mean, lower_logvar = self.lower_posterior(h, z, y)[:2]
        return self.decode_lowest(reparameterize(mean, lower_logvar), y), mu, logvar


def _two_layer(n_in: int, hidden: int, n_out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


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
