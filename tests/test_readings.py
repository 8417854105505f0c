"""vae.readings: the two endpoints of a Reconstruct click share one find_digit per picture."""

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.photo_corpus import encode, make
from vae import readings
from vae.digitize import find_digit
from vae.uploads import ImageError, open_image


@pytest.fixture
def digit(mnist_sample) -> np.ndarray:
    return mnist_sample["test_images"][0].numpy()


@pytest.fixture
def desk_photo(tmp_path: Path, digit: np.ndarray) -> Path:
    path = tmp_path / "desk.jpg"
    path.write_bytes(make("desk_dark", digit, 0, 800, 600))
    return path


def test_an_upload_is_read_as_find_digit_reads_it(desk_photo: Path) -> None:
    reading, direct = readings.read_upload(desk_photo, 20), find_digit(open_image(desk_photo), 20)
    assert reading.box == direct.box and bool((reading.digit == direct.digit).all())


def test_both_endpoints_get_the_one_reading(desk_photo: Path) -> None:
    """Asked at the same moment, as the click's two events ask: the digit is found once, both get that reading."""
    start = threading.Barrier(2)

    def ask(_: int) -> object:
        start.wait()
        return readings.read_upload(str(desk_photo), 20)

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(ask, range(2))
    assert first is second


def test_a_new_upload_or_another_frame_is_read_again(desk_photo: Path, digit: np.ndarray) -> None:
    before = readings.read_upload(desk_photo, 20)
    assert readings.read_upload(desk_photo, 28) is not before  # Fashion-MNIST's frame: another reading
    desk_photo.write_bytes(make("desk_dark", digit, 1, 800, 600))  # the same name, a new picture
    assert readings.read_upload(desk_photo, 20).box != before.box


def test_a_drawing_is_keyed_by_its_pixels(digit: np.ndarray) -> None:
    drawing = make("sketchpad", digit, 0, 400, 400)
    first = readings.read_drawing(drawing, 20)
    assert readings.read_drawing(drawing.copy(), 20) is first
    assert readings.read_drawing(np.roll(drawing, 40, axis=1), 20) is not first


def test_no_digit_is_the_same_clear_error_for_both(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    blank.write_bytes(encode(np.full((300, 400), 240, np.uint8)))
    for _ in range(2):
        with pytest.raises(ImageError, match="No digit found"):
            readings.read_upload(blank, 20)
    with pytest.raises(ImageError, match="could not be read"):
        readings.read_upload(tmp_path / "gone.png", 20)


def test_only_the_latest_readings_are_kept(digit: np.ndarray) -> None:
    drawings = [make("sketchpad", digit, seed, 200, 200) for seed in range(readings.KEEP + 1)]
    first = readings.read_drawing(drawings[0], 20)
    for drawing in drawings[1:]:
        readings.read_drawing(drawing, 20)
    assert readings.read_drawing(drawings[0], 20) is not first  # found again: memory stays bounded
