"""Bits-back compression with the shipped conv-32d and the two-layer hconv-32d-64d: exact round trips, a rate at the
ELBO, damage refused."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import WEIGHTS
from vae.compress import (
    HEADER,
    MAX_DIGITS,
    Codec,
    NotCodable,
    StreamError,
    WrongModel,
    comparison_sizes,
    compress,
    compress_digit,
    decompress,
    make_codec,
    negative_elbo_bits,
    read_header,
)
from vae.data import binarize, to_float
from vae.loaded import load_model, save_model

N_DIGITS = 200


@pytest.fixture(scope="module", params=["conv-32d", "hconv-32d-64d"])
def codec(request: pytest.FixtureRequest) -> Codec:
    """A one-layer model's codec, and a two-layer one's, which takes bits back for z and z1."""
    torch.set_num_threads(1)  # as the app runs
    return make_codec(load_model(WEIGHTS / f"{request.param}.safetensors"))


@pytest.fixture(scope="module")
def digits(mnist_sample: dict[str, torch.Tensor]) -> np.ndarray:
    """200 test digits, binarized as the model was trained (each pixel drawn as Bernoulli of its grey level)."""
    x = binarize(to_float(mnist_sample["test_images"][:N_DIGITS]), torch.Generator().manual_seed(0))
    return x[:, 0].to(torch.uint8).numpy()


@pytest.fixture(scope="module")
def singles(codec: Codec, digits: np.ndarray) -> list:
    return [compress_digit(codec, d) for d in digits]


@pytest.fixture(scope="module")
def nelbo_bits(codec: Codec, digits: np.ndarray) -> torch.Tensor:
    return negative_elbo_bits(codec, digits, samples=16)


def test_each_digit_round_trips_exactly_on_its_own(codec: Codec, digits: np.ndarray, singles: list) -> None:
    for digit, single in zip(digits, singles, strict=True):
        back = decompress(codec, single.data)
        assert back.shape == (1, 28, 28) and np.array_equal(back[0], digit)


def test_all_digits_round_trip_exactly_as_one_message(codec: Codec, digits: np.ndarray, singles: list) -> None:
    message = compress(codec, digits)
    assert np.array_equal(decompress(codec, message.data), digits)
    assert read_header(message.data).digits == N_DIGITS
    coded = message.startup_bits + message.net_bits
    assert message.message_bits - 32 <= coded <= message.message_bits  # whole 32-bit words
    # The start-up bits and the header are paid once, not 200 times.
    saved = 8 * sum(len(s.data) for s in singles) - 8 * len(message.data)
    assert saved > (N_DIGITS - 1) * (8 * HEADER.size + min(s.startup_bits for s in singles)) - N_DIGITS * 40


def test_the_rate_is_the_negative_elbo(codec: Codec, digits: np.ndarray, singles: list,
                                       nelbo_bits: torch.Tensor) -> None:
    # A digit's net bits are log q(z|x) - log p(x|z) - log p(z) for the one z it drew: a one-sample
    # estimate of its negative ELBO, which varies by several bits from draw to draw. Averaged over
    # 200 digits that noise falls to about half a bit, so the mean is held to 2% + 2 bits.
    target = float(nelbo_bits.mean())
    assert 100 < target < 160  # about the recorded test -ELBO of either codable model (89-91 nats, 128-131 bits)
    single_net = np.mean([s.net_bits for s in singles])
    assert abs(single_net - target) <= 0.02 * target + 2
    assert abs(compress(codec, digits).net_bits / N_DIGITS - target) <= 0.02 * target + 2


def test_each_step_moves_the_stack_the_way_bits_back_says(codec: Codec, singles: list) -> None:
    for single in singles:
        (step,) = single.steps
        assert step.before == single.startup_bits
        assert step.after_bits_back < step.before  # decoding z from q(z|x) (and z1) takes bits off the stack
        # then the pixels go on, a two-layer model's z1, and z
        coded = [step.after_pixels, *([step.after_lower_prior] if codec.model.config.lower_dim else []),
                 step.after_prior]
        assert step.after_bits_back < coded[0] and coded == sorted(set(coded))
        assert (step.after_lower_prior is None) == (not codec.model.config.lower_dim)
        assert single.message_bits - 32 <= step.after_prior <= single.message_bits  # stored as whole 32-bit words


def test_one_digit_is_shorter_than_its_png(singles: list, digits: np.ndarray) -> None:
    for single, digit in zip(singles[:20], digits[:20], strict=True):
        assert len(single.data) < comparison_sizes(digit)["png"]


def test_the_png_of_the_comparison_is_the_digit_itself(digits: np.ndarray) -> None:
    png = io.BytesIO()
    Image.fromarray(digits[0].astype(bool)).save(png, format="PNG", optimize=True)
    assert png.tell() == comparison_sizes(digits[0])["png"]
    assert np.array_equal(np.array(Image.open(io.BytesIO(png.getvalue()))), digits[0].astype(bool))


def test_every_damaged_byte_is_refused_never_a_wrong_digit(codec: Codec, singles: list) -> None:
    data = singles[0].data
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 1 << (i % 8)
        with pytest.raises(StreamError):
            decompress(codec, bytes(damaged))
    for cut in (1, 4, len(data) - HEADER.size):
        with pytest.raises(StreamError, match="damaged"):
            decompress(codec, data[:-cut])


def test_a_header_claiming_no_start_up_bits_is_refused(codec: Codec, singles: list) -> None:
    """A damaged start-up word count of 0 (one bit off a count of 16) is a damaged file, not a crash."""
    damaged = bytearray(singles[0].data)
    damaged[HEADER.size - 5] = 0  # the start-up word count: the byte before the CRC-32
    with pytest.raises(StreamError, match="no start-up bits"):
        decompress(codec, bytes(damaged))


def test_what_is_not_a_stream_is_refused_with_the_reason(codec: Codec, singles: list, digits: np.ndarray) -> None:
    png = io.BytesIO()
    Image.fromarray(digits[0].astype(bool)).save(png, format="PNG")
    with pytest.raises(StreamError, match="not a compressed digit file"):
        decompress(codec, png.getvalue())
    with pytest.raises(StreamError, match="truncated"):
        decompress(codec, singles[0].data[:10])
    with pytest.raises(StreamError, match="at most 100 are decompressed"):
        decompress(codec, compress(codec, np.zeros((101, 28, 28), np.uint8)).data, max_digits=100)
    future = bytearray(singles[0].data)
    future[4] = 99
    with pytest.raises(StreamError, match="version 99"):
        decompress(codec, bytes(future))


def test_a_stream_for_another_model_is_refused(codec: Codec, singles: list, tmp_path) -> None:
    loaded = load_model(WEIGHTS / "conv-32d.safetensors")
    with torch.no_grad():
        loaded.model.enc_out.bias.add_(1e-3)  # the same network, nudged: other probabilities
    save_model(tmp_path / "nudged.safetensors", loaded.model, loaded.metadata)
    other = make_codec(load_model(tmp_path / "nudged.safetensors"))
    assert other.sha != codec.sha
    with pytest.raises(WrongModel, match="another model.*not with nudged"):
        decompress(other, singles[0].data)


def test_only_models_trained_on_binary_digits_code_them() -> None:
    with pytest.raises(NotCodable, match="grey levels"):
        make_codec(load_model(WEIGHTS / "mlp-20d.safetensors"))
    with pytest.raises(NotCodable, match="class-conditional"):
        make_codec(load_model(WEIGHTS / "cmlp-20d.safetensors"))


def test_bad_digits_get_a_clear_message(codec: Codec, digits: np.ndarray) -> None:
    with pytest.raises(ValueError, match="binary"):
        compress_digit(codec, digits[0] * 0.5)
    with pytest.raises(ValueError, match="28x28"):
        compress_digit(codec, np.zeros((27, 28)))
    with pytest.raises(ValueError, match="one digit"):
        compress_digit(codec, digits[:2])
    with pytest.raises(ValueError, match="split them"):
        compress(codec, np.zeros((MAX_DIGITS + 1, 28, 28), np.uint8))


def test_the_codec_leaves_the_loaded_model_as_it_was() -> None:
    loaded = load_model(WEIGHTS / "conv-32d.safetensors")
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    codec = make_codec(loaded)
    assert all(v.dtype == torch.float32 and torch.equal(v, before[k]) for k, v in loaded.model.state_dict().items())
    assert next(codec.model.parameters()).dtype == torch.float64
