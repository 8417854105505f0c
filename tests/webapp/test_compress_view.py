"""The Compress view through its API: a digit to a .vae file and back, sizes and steps explained, bad files refused."""

import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from pictures.digitize import load_digit
from tests.helpers import WEIGHTS, api_client
from vae.compress import HEADER, compress, make_codec
from vae.loaded import load_model
from webapp.demo import MAX_FILE_SIZE, create_demo
from webapp.views.compress import black_and_white, describe_file, longer_than_zlib

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "digit-2-1-test0001.png"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """The page on two models that code (conv-32d, and hconv-32d-64d with two layers) and one that cannot (mlp-20d),
    served on localhost."""
    folder = tmp_path_factory.mktemp("compress-weights")
    for name in ("conv-32d", "hconv-32d-64d", "mlp-20d"):
        (folder / f"{name}.safetensors").symlink_to(WEIGHTS / f"{name}.safetensors")
    demo = create_demo(folder)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, max_file_size=MAX_FILE_SIZE,
                show_error=True, quiet=True)
    try:
        yield api_client(f"http://127.0.0.1:{port}/")
    finally:
        demo.close()


@pytest.fixture(scope="module")
def compressed(client: Client) -> tuple:
    """/compress of an example digit: (binary picture, sizes text, steps table, .vae file)."""
    return client.predict("conv-32d", handle_file(str(EXAMPLE)), None, api_name="/compress")


def shown(path: str) -> np.ndarray:
    """A 28x28 digit shown 8x, back at 28x28 in {0, 1}."""
    return (np.asarray(Image.open(path).convert("L"))[4::8, 4::8] > 127).astype(np.uint8)


def test_compress_shows_the_black_and_white_digit_and_a_short_file(compressed: tuple) -> None:
    binary, sizes, steps, vae = compressed
    expected = black_and_white(load_digit(EXAMPLE))[0]
    assert np.array_equal(shown(binary), expected)
    data = Path(vae).read_bytes()
    assert Path(vae).name == "digit-conv-32d.vae" and data.startswith(b"VAEz")  # its name, when downloaded
    message = len(data) - HEADER.size
    assert f"{8 * message} bits: {message} bytes" in sizes and f"{len(data)} bytes" in sizes
    assert "PNG" in sizes and "zlib" in sizes and "negative ELBO" in sizes and "start-up bits" in sizes
    assert "only because of its start-up bits" not in sizes  # shorter than zlib's: nothing to excuse


def step_rows(steps: str, vae: str) -> tuple[list[str], list[int]]:
    """The steps table's step names and the message's length after each, checked against its changes and the file."""
    rows = [line.strip("|").split("|") for line in steps.splitlines() if line.startswith("| ") and "---" not in line]
    after = [int(r[1].split()[0]) for r in rows[1:]]
    assert [int(r[1].split()[1].strip("()")) for r in rows[1:]] == [after[0], *np.diff(after)]
    assert after[-1] == 8 * (Path(vae).stat().st_size - HEADER.size)
    return [r[0].strip() for r in rows[1:]], after


def test_the_steps_table_adds_up_to_the_message(compressed: tuple) -> None:
    names, after = step_rows(compressed[2], compressed[3])
    assert names == ["start", "1. take bits back", "2. code the pixels", "3. code z", "stored"]
    assert after[1] < after[0] < after[3] and after[1] < after[2] < after[3]  # bits taken back, then put on
    assert "the 3 steps of bits-back coding" in compressed[2]


def test_a_two_layer_model_codes_its_lower_layer_as_a_step_and_rebuilds_the_digit(client: Client) -> None:
    binary, sizes, steps, vae = client.predict("hconv-32d-64d", handle_file(str(EXAMPLE)), None, api_name="/compress")
    names, after = step_rows(steps, vae)
    assert names == ["start", "1. take bits back", "2. code the pixels", "3. code u", "4. code z", "stored"]
    assert after[1] < after[0] and after[1] < after[2] < after[3] < after[4]  # z and u taken back; x, u, z put on
    assert "the 4 steps of bits-back coding" in steps and "layer u from q(u" in steps
    share = -(-(after[4] - after[0]) // 8)  # the digit's own bytes: what it added to the start-up bits
    assert f"only because of its start-up bits (below): the digit's own share is {share} bytes" in sizes
    rebuilt, note = client.predict(handle_file(vae), api_name="/decompress")
    assert np.array_equal(shown(rebuilt), shown(binary)) and "hconv-32d-64d" in note


def test_only_a_message_longer_than_zlibs_is_explained_and_two_layers_only_for_two_layers() -> None:
    digit = black_and_white(load_digit(EXAMPLE))
    result = compress(make_codec(load_model(WEIGHTS / "conv-32d.safetensors")), digit)
    message = result.message_bits // 8
    assert longer_than_zlib(result, {"zlib": message}) == ""
    said = longer_than_zlib(result, {"zlib": message - 1})
    assert f"own share is {-(-result.net_bits // 8)} bytes." in said and "two layers" not in said


def test_decompress_rebuilds_the_digit_from_the_file_alone(client: Client, compressed: tuple) -> None:
    binary, _, _, vae = compressed
    rebuilt, note = client.predict(handle_file(vae), api_name="/decompress")
    assert np.array_equal(shown(rebuilt), shown(binary))
    assert "conv-32d" in note and f"{Path(vae).stat().st_size} bytes" in note


def test_the_note_before_decompress_names_what_the_file_holds(compressed: tuple, tmp_path: Path) -> None:
    vae = compressed[3]
    assert f"rebuilds the digit from this file's {Path(vae).stat().st_size} bytes alone" in describe_file(vae)
    twenty = tmp_path / "twenty.vae"
    digits = black_and_white(torch.stack([load_digit(EXAMPLE)] * 20))
    twenty.write_bytes(compress(make_codec(load_model(WEIGHTS / "conv-32d.safetensors")), digits).data)
    assert "rebuilds the 20 digits" in describe_file(str(twenty))
    (tmp_path / "other.vae").write_bytes(b"not a vae file")
    assert "rebuilds what it holds from this file's 14 bytes" in describe_file(str(tmp_path / "other.vae"))
    assert "compress a digit above, or drop a .vae file" in describe_file(None)


def test_a_damaged_or_foreign_file_is_refused_with_the_reason(client: Client, compressed: tuple,
                                                              tmp_path: Path) -> None:
    data = Path(compressed[3]).read_bytes()
    damaged, foreign = tmp_path / "damaged.vae", tmp_path / "foreign.vae"
    damaged.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    foreign.write_bytes(data[:5] + b"\0\0\0\0" + data[9:])  # another model's SHA-256
    with pytest.raises(AppError, match="damaged"):
        client.predict(handle_file(str(damaged)), api_name="/decompress")
    with pytest.raises(AppError, match="a model this app does not have"):
        client.predict(handle_file(str(foreign)), api_name="/decompress")


def test_a_model_trained_on_grey_levels_says_it_cannot_code(client: Client) -> None:
    with pytest.raises(AppError, match="grey levels.*conv-32d"):
        client.predict("mlp-20d", handle_file(str(EXAMPLE)), None, api_name="/compress")


def test_black_and_white_is_repeatable_and_follows_the_grey_levels() -> None:
    grey = torch.linspace(0, 1, 28 * 28).reshape(28, 28)
    first = black_and_white(grey)
    assert np.array_equal(first, black_and_white(grey)) and set(np.unique(first)) == {0, 1}
    assert first.ravel()[:392].mean() < 0.35 < 0.65 < first.ravel()[392:].mean()  # the darker half mostly black
