"""Lossless compression of binary digits with a VAE: bits-back coding with asymmetric numeral systems (BB-ANS).

The coder is a stack of bits (constriction's `AnsCoder`). For each digit x the sender
1. takes bits back: *decodes* a latent z from the posterior q(z|x), which removes bits from the stack;
2. codes the pixels of x under the decoder's Bernoulli probabilities p(x|z);
3. codes z under the prior p(z) = N(0, I).
The stack grows by log q(z|x) - log p(x|z) - log p(z) bits: one sample of the negative ELBO. The
receiver runs the steps backwards, last digit first, and puts z back under q(z|x), which returns
exactly the bits the sender took. The first digit takes its bits from a fixed pseudo-random
"start-up" block at the bottom of the stack, which the receiver gets back (and checks) at the end.

Both sides must compute bit-identical probabilities: the latent lives on a fixed grid of step
2**-GRID_BITS in [-LATENT_CLIP, LATENT_CLIP], the networks run in float64 on one digit at a time,
and their outputs are rounded to a grid of 2**-OUTPUT_BITS. A stream starts with a header naming
the model (a prefix of the SHA-256 of its weights), the grid, the digit count and a CRC-32 of the
digits, so a stream for another model, or a damaged one, is refused instead of decoded wrongly.
"""

import copy
import hashlib
import io
import struct
import zlib
from dataclasses import dataclass

import constriction
import numpy as np
import torch
from PIL import Image
from torch import Tensor

from vae.checkpoint import tensors_sha256
from vae.loaded import LoadedModel
from vae.loss import kl_per_dim, reconstruction_nll
from vae.model import IMAGE_SIZE, N_PIXELS, VAE, reparameterize
from vae.posterior import decode_draw

MAGIC = b"VAEz"
FORMAT_VERSION = 1
GRID_BITS = 3  # latent grid step 1/8: finer grids cost more start-up bits and gain little (docs/compression.md)
LATENT_CLIP = 8  # the grid spans [-8, 8]: 8 prior standard deviations
# Network outputs are rounded to multiples of 2**-20 so that float noise between machines (other CPU
# kernels, thread counts) almost never changes a probability; the CRC catches the rare case that does.
OUTPUT_BITS = 20
SHA_BYTES = 4
# magic, format version, model SHA-256 prefix, grid (bits << 4 | clip), digit count, start-up words, CRC-32 of digits
HEADER = struct.Struct("<4sB4sBHBI")
MAX_DIGITS = 10_000  # the most digits one stream may hold (decompressing costs milliseconds a digit)
MIN_LEFT = 24  # bits the start-up block must keep after the first draw: the coder's probability precision
LN2 = float(np.log(2.0))

_LATENT = constriction.stream.model.QuantizedGaussian(-LATENT_CLIP << GRID_BITS, LATENT_CLIP << GRID_BITS)
_PIXEL = constriction.stream.model.Bernoulli(perfect=False)


class StreamError(ValueError):
    """A .vae stream that cannot be decompressed; the message says why."""


class WrongModel(StreamError):
    """A stream made with another model (or another grid) than the one asked to decompress it."""


class NotCodable(ValueError):
    """A model that cannot code binary digits honestly (it was not trained on them)."""


@dataclass(frozen=True)
class Codec:
    """A model ready to code: a float64 copy of its network and the SHA-256 prefix that names it in streams."""

    name: str
    model: VAE
    sha: bytes


def make_codec(loaded: LoadedModel) -> Codec:
    """The codec of a loaded model; NotCodable if the model was not trained on binarized, unlabelled digits."""
    train = loaded.metadata.train
    if train is None or not train.binarize:
        raise NotCodable(
            f"{loaded.name} was trained on grey levels, not on binary pixels, so its probabilities for black and "
            "white pixels are not a fair code for them. Choose a model trained with --binarize, such as conv-32d."
        )
    if loaded.conditional:
        raise NotCodable(
            f"{loaded.name} is class-conditional: it needs each digit's label, which this coder does not send. "
            "Choose an unconditional model trained with --binarize, such as conv-32d."
        )
    sha = bytes.fromhex(tensors_sha256(loaded.model.state_dict()))[:SHA_BYTES]
    return Codec(loaded.name, copy.deepcopy(loaded.model).double().eval(), sha)


@dataclass(frozen=True)
class DigitSteps:
    """The stack's length in bits after each step of one digit; a two-layer model's z1 adds a step."""

    before: int
    after_bits_back: int  # after decoding z from q(z|x) (and z1 from q(z1|x, z)): shorter, bits taken back
    after_pixels: int  # after coding x under p(x|z) (a two-layer model's p(x|z1))
    after_prior: int  # after coding z under p(z): the digit is in
    after_lower_prior: int | None = None  # two layers: after coding z1 under p(z1|z), before z

    @property
    def net_bits(self) -> int:
        """What this digit added to the message: one sample of its negative ELBO, in bits."""
        return self.after_prior - self.before


@dataclass(frozen=True)
class Compressed:
    """A compressed stream (header + coded words) and how it grew, digit by digit."""

    data: bytes
    startup_bits: int  # the pseudo-random bits at the bottom of the stack that the first digit takes back
    steps: tuple[DigitSteps, ...]

    @property
    def message_bits(self) -> int:
        """The coded words after the header, in bits (whole 32-bit words)."""
        return 8 * (len(self.data) - HEADER.size)

    @property
    def net_bits(self) -> int:
        """The bits the digits themselves added, start-up bits left out."""
        return sum(s.net_bits for s in self.steps)


@dataclass(frozen=True)
class Header:
    """What a stream says about itself."""

    sha: bytes
    grid_bits: int
    latent_clip: int
    digits: int
    startup_words: int
    crc: int


def as_digits(digits: Tensor | np.ndarray) -> np.ndarray:
    """Binary digits as uint8 (N, 28, 28), from (28, 28), (N, 28, 28) or (N, 1, 28, 28); else a clear ValueError."""
    x = np.asarray(digits.detach().cpu() if isinstance(digits, Tensor) else digits)
    x = x.reshape(-1, IMAGE_SIZE, IMAGE_SIZE) if x.size and x.size % N_PIXELS == 0 else x
    if x.ndim != 3 or x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or len(x) == 0:
        raise ValueError(f"expected one or more 28x28 digits, got an array of shape {x.shape}")
    if not np.isin(x, (0, 1)).all():
        raise ValueError("the digits must be binary (pixels 0 or 1): binarize them first")
    return x.astype(np.uint8)


def _rounded(t: Tensor) -> Tensor:
    """t rounded to multiples of 2**-OUTPUT_BITS: tiny float differences between machines almost never change it."""
    return torch.round(t * 2.0**OUTPUT_BITS) / 2.0**OUTPUT_BITS


@torch.no_grad()
def _features(codec: Codec, x: np.ndarray) -> Tensor:
    """The encoder's features of one digit, computed once: q(z|x) and a two-layer model's q(z1|x, z) read them."""
    return codec.model.encoder_state(torch.from_numpy(x).double().view(1, 1, IMAGE_SIZE, IMAGE_SIZE))


@torch.no_grad()
def _posterior(codec: Codec, h: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of q(z|x) for one digit, from its features h, in grid steps."""
    return _in_grid_steps(*codec.model.posterior(h))


def _from_grid(code: np.ndarray) -> Tensor:
    """A code given in grid steps, as the network's (1, D) input."""
    return torch.from_numpy(code).double().view(1, -1) / 2.0**GRID_BITS


def _in_grid_steps(mean: Tensor, logvar: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """A Gaussian's mean and standard deviation (one row) in grid steps, rounded as every network output is."""
    scale = 2.0**GRID_BITS
    return (_rounded(mean[0]) * scale).numpy(), (torch.exp(0.5 * _rounded(logvar[0])) * scale).numpy()


@torch.no_grad()
def _lower_prior(codec: Codec, z: np.ndarray) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of a two-layer model's p(z1|z), rounded. The coder codes z1 as its offset
    e = (z1 - mean) / sd, on the grid: e's prior is N(0, I) whatever z, so the grid fits it as it fits z."""
    return _rounded_gaussian(*codec.model.lower_prior(_from_grid(z)))


def _rounded_gaussian(mean: Tensor, logvar: Tensor) -> tuple[Tensor, Tensor]:
    """A Gaussian's rounded mean, and its standard deviation from the rounded log-variance."""
    return _rounded(mean), torch.exp(0.5 * _rounded(logvar))


@torch.no_grad()
def _lower_posterior(codec: Codec, h: Tensor, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the offset e (see _lower_prior) under q(z1|x, z), for one digit with
    features h, in grid steps."""
    mean, logvar, *prior = codec.model.lower_posterior(h, _from_grid(z))
    prior_mean, prior_sd = _rounded_gaussian(*prior)
    offset_mean, offset_sd = (_rounded(mean) - prior_mean) / prior_sd, torch.exp(0.5 * _rounded(logvar)) / prior_sd
    return (offset_mean[0] * 2.0**GRID_BITS).numpy(), (offset_sd[0] * 2.0**GRID_BITS).numpy()


@torch.no_grad()
def _pixel_probabilities(codec: Codec, z: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
    """p(pixel = 1 | code) for the 784 pixels, from z (in grid steps), or for a two-layer model from z1 = the prior's
    mean + sd * `offset` (in grid steps, see _lower_prior)."""
    if offset is None:
        code = _from_grid(z)
    else:
        mean, sd = _lower_prior(codec, z)
        code = mean + sd * _from_grid(offset)
    return torch.sigmoid(_rounded(codec.model.decode_lowest(code))).flatten().numpy()


def _prior(dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of N(0, I) over `dim` dimensions, in grid steps: z's prior, and z1's offset's."""
    return np.zeros(dim), np.full(dim, 2.0**GRID_BITS)


def startup_words(n: int) -> np.ndarray:
    """The first n words of a fixed pseudo-random sequence (SHA-256 in counter mode): the stack's start-up bits.

    The top word gets its high bit set, because the coder drops leading zero words.
    """
    stream = b"".join(hashlib.sha256(b"vae bits-back %d" % i).digest() for i in range((n + 7) // 8))
    words = np.frombuffer(stream, "<u4")[:n].astype(np.uint32)
    words[-1] |= np.uint32(1 << 31)
    return words


def startup_coder(n: int) -> constriction.stream.stack.AnsCoder:
    """A coder holding n start-up words, as every stream starts (and, decompressed, ends)."""
    return constriction.stream.stack.AnsCoder(startup_words(n))


def _take_bits_back(codec: Codec, coder: constriction.stream.stack.AnsCoder, h: Tensor
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """Step 1 of coding a digit with features h: decode z from q(z|x), then a two-layer model's z1 (its offset, see
    _lower_prior) from q(z1|x, z), off the stack. Returns z and the offset (None for one layer)."""
    z = coder.decode(_LATENT, *_posterior(codec, h))
    offset = coder.decode(_LATENT, *_lower_posterior(codec, h, z)) if codec.model.config.lower_dim else None
    return z, offset


def startup_size(codec: Codec, h: Tensor) -> int:
    """How many start-up words the first digit (encoder features h) needs: enough that MIN_LEFT bits are left after
    it takes its bits back. Then the stack never ran dry, so the codes it decodes are fair draws from the posterior."""
    n = 1
    while True:
        coder = startup_coder(n)
        _take_bits_back(codec, coder, h)
        if coder.num_valid_bits() >= MIN_LEFT:
            return n
        n += 1  # ends: a dimension takes at most 24 bits, so one word per latent dimension, and one more, do


def _code_digit(codec: Codec, coder: constriction.stream.stack.AnsCoder, digit: np.ndarray, h: Tensor
                ) -> DigitSteps:
    """Put one digit (encoder features h) on the stack: take bits back, code the pixels, then each layer's code
    under its prior."""
    before = coder.num_valid_bits()
    z, offset = _take_bits_back(codec, coder, h)
    after_bits_back = coder.num_valid_bits()
    coder.encode_reverse(digit.reshape(-1).astype(np.int32), _PIXEL, _pixel_probabilities(codec, z, offset))
    after_pixels = coder.num_valid_bits()
    if offset is not None:
        coder.encode_reverse(offset, _LATENT, *_prior(len(offset)))
    after_lower_prior = None if offset is None else coder.num_valid_bits()
    coder.encode_reverse(z, _LATENT, *_prior(len(z)))
    return DigitSteps(before, after_bits_back, after_pixels, coder.num_valid_bits(), after_lower_prior)


def digits_crc(x: np.ndarray) -> int:
    """CRC-32 of the digits' packed pixels: the receiver's check that it rebuilt them exactly."""
    return zlib.crc32(np.packbits(x).tobytes())


def compress(codec: Codec, digits: Tensor | np.ndarray) -> Compressed:
    """Code binary digits, in order, into one stream; the first one pays the start-up bits."""
    x = as_digits(digits)
    if len(x) > MAX_DIGITS:
        raise ValueError(f"{len(x):,} digits is more than one stream holds ({MAX_DIGITS:,}): split them")
    first = _features(codec, x[0])
    n_words = startup_size(codec, first)
    coder = startup_coder(n_words)
    startup_bits, steps = coder.num_valid_bits(), []
    for i, digit in enumerate(x):
        steps.append(_code_digit(codec, coder, digit, first if i == 0 else _features(codec, digit)))
        if steps[-1].after_prior < startup_bits:  # what lets the receiver stop early on a damaged stream
            raise ValueError(f"digit {len(steps) - 1} would shrink the message below its start-up bits; "
                             "this model cannot code it")
    grid = GRID_BITS << 4 | LATENT_CLIP
    header = HEADER.pack(MAGIC, FORMAT_VERSION, codec.sha, grid, len(x), n_words, digits_crc(x))
    return Compressed(header + coder.get_compressed().astype("<u4").tobytes(), startup_bits, tuple(steps))


def compress_digit(codec: Codec, digit: Tensor | np.ndarray) -> Compressed:
    """Code one binary 28x28 digit on its own."""
    x = as_digits(digit)
    if len(x) != 1:
        raise ValueError(f"expected one digit, got {len(x)}: use compress for many")
    return compress(codec, x)


def read_header(data: bytes) -> Header:
    """The header of a stream; StreamError if it is not one of ours or its version is unknown."""
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise StreamError("this is not a compressed digit file (.vae): it does not start with VAEz")
    if len(data) < HEADER.size:
        raise StreamError(f"this .vae file is truncated: {len(data)} bytes, shorter than its {HEADER.size}-byte header")
    _, version, sha, grid, digits, words, crc = HEADER.unpack_from(data)
    if version != FORMAT_VERSION:
        raise StreamError(f"this .vae file has format version {version}; this program reads version {FORMAT_VERSION}")
    return Header(sha, grid >> 4, grid & 15, digits, words, crc)


def check_stream(codec: Codec, data: bytes, max_digits: int = MAX_DIGITS) -> Header:
    """The header of a stream this codec can decompress; StreamError or WrongModel with the reason if not."""
    header = read_header(data)
    if header.sha != codec.sha:
        raise WrongModel(
            f"this file was compressed with another model (weights {header.sha.hex()}...), not with {codec.name} "
            f"({codec.sha.hex()}...): choose the model it was made with"
        )
    if (header.grid_bits, header.latent_clip) != (GRID_BITS, LATENT_CLIP):
        raise WrongModel(f"this file uses a latent grid (2^-{header.grid_bits}, +-{header.latent_clip}) other than "
                         f"this program's (2^-{GRID_BITS}, +-{LATENT_CLIP})")
    if len(data) == HEADER.size or (len(data) - HEADER.size) % 4:
        raise StreamError("this .vae file is damaged: its coded part is not a whole number of 32-bit words")
    if header.digits == 0:
        raise StreamError("this .vae file is damaged: it claims to hold no digit")
    if header.startup_words == 0:
        raise StreamError("this .vae file is damaged: it claims no start-up bits, which every stream has")
    if header.digits > max_digits:
        raise StreamError(f"this .vae file holds {header.digits:,} digits; "
                          f"at most {max_digits:,} are decompressed here")
    return header


DAMAGED = ("this .vae file is damaged (changed or cut short after it was written): it does not decode to the digits "
           "it was made from, so none is shown")


def decompress(codec: Codec, data: bytes, max_digits: int = MAX_DIGITS) -> np.ndarray:
    """Rebuild the digits (N, 28, 28) uint8 of a stream, exactly; StreamError/WrongModel rather than a wrong digit.

    A stream claiming more than `max_digits` digits is refused before any work (each costs milliseconds).
    """
    header = check_stream(codec, data, max_digits)
    floor = startup_coder(header.startup_words).num_valid_bits()
    words = np.frombuffer(data, "<u4", offset=HEADER.size).astype(np.uint32)
    if words[-1] == 0:  # the coder never writes a leading zero word
        raise StreamError(DAMAGED)
    coder = constriction.stream.stack.AnsCoder(words)
    digits = np.empty((header.digits, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for i in reversed(range(header.digits)):  # a stack: the last digit coded comes out first
        z = coder.decode(_LATENT, *_prior(codec.model.config.latent_dim))
        lower = codec.model.config.lower_dim
        offset = coder.decode(_LATENT, *_prior(lower)) if lower else None
        digits[i] = coder.decode(_PIXEL, _pixel_probabilities(codec, z, offset)).reshape(IMAGE_SIZE, IMAGE_SIZE)
        h = _features(codec, digits[i])
        if offset is not None:  # the bits the sender took back, returned: z1's under q(z1|x, z), then z's under q(z|x)
            coder.encode_reverse(offset, _LATENT, *_lower_posterior(codec, h, z))
        coder.encode_reverse(z, _LATENT, *_posterior(codec, h))
        if i and coder.num_valid_bits() < floor:  # the sender never lets it (see compress): damaged
            raise StreamError(DAMAGED)
    if not np.array_equal(coder.get_compressed(), startup_words(header.startup_words)):
        raise StreamError(DAMAGED)
    if digits_crc(digits) != header.crc:
        raise StreamError(DAMAGED)
    return digits


@torch.no_grad()
def negative_elbo_bits(codec: Codec, digits: Tensor | np.ndarray, samples: int = 64, seed: int = 0,
                       batch_size: int = 500) -> Tensor:
    """Each digit's negative ELBO in bits (N,): the analytic KL of z plus, averaged over `samples` posterior draws,
    p(x|z)'s cost (a two-layer model's: p(x|z1)'s, plus z1's KL given the drawn z)."""
    x = torch.from_numpy(as_digits(digits)).double().unsqueeze(1)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for part in x.split(batch_size):
        h = codec.model.encoder_state(part)
        mu, logvar = codec.model.posterior(h)
        draws = [decode_draw(codec.model, h, reparameterize(mu, logvar, generator=gen), generator=gen)
                 for _ in range(samples)]
        cost = torch.stack([reconstruction_nll(d.logits, part) + d.lower_kl.sum(1) for d in draws]).mean(0)
        out.append((cost + kl_per_dim(mu, logvar).sum(1)) / LN2)
    return torch.cat(out)


def comparison_sizes(digit: Tensor | np.ndarray) -> dict[str, int]:
    """Bytes of one binary digit as a 1-bit PNG and as zlib (level 9) of its 98 packed bytes."""
    x = as_digits(digit)[0]
    png = io.BytesIO()
    Image.fromarray(x.astype(bool)).save(png, format="PNG", optimize=True)
    return {"png": png.tell(), "zlib": len(zlib.compress(np.packbits(x).tobytes(), 9))}
