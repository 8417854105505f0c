"""Phone photos of real MNIST test digits (tests/pictures/photo_corpus.py): each condition is read as its digit.

A picture is read right when the 28x28 that pictures.digitize makes matches its source digit: a correlation of at least
MATCH after a slight blur and the best shift by up to one pixel (MNIST's own centring varies by that much).
Two different MNIST test digits reach MATCH in under 1% of pairs of different classes (see
test_the_judge_tells_digits_apart), so a wrong mark, a wrong polarity or a line taken for a stroke fails.
"""

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from skimage.data import astronaut

from pictures.digitize import find_digit
from pictures.uploads import ImageError, open_image
from tests.pictures.photo_corpus import (
    CONDITIONS,
    INK,
    MATCH,
    PAPER,
    coverage,
    judged,
    make,
    match,
    paper,
    photo,
    write,
)

PICTURES = 20  # per condition: the first 20 test digits of the shipped sample (benchmarks/photos.py reads more)
SIZE = {"small_digit": (1600, 1200)}  # the others are 800x600; benchmarks/photos.py goes to 12 MP
BLANK_CONDITIONS = ["desk_dark", "desk_textured", "hard_shadow", "gradient", "ruled", "squared", "chalkboard",
                    "desk_ruled", "desk_squared", "desk_squared_shadow"]


def read(picture: bytes | np.ndarray) -> torch.Tensor:
    """The 28x28 the app makes of an upload (file bytes) or of a Sketchpad array."""
    return find_digit(open_image(picture) if isinstance(picture, bytes) else picture).digit


def attempt(picture: bytes | np.ndarray) -> torch.Tensor | ImageError:
    """read(), or the error that says no digit was found."""
    try:
        return read(picture)
    except ImageError as error:
        return error


@pytest.fixture(scope="module")
def digits(mnist_sample: dict[str, torch.Tensor]) -> np.ndarray:
    return mnist_sample["test_images"][:PICTURES].numpy()


@pytest.mark.parametrize("condition", CONDITIONS)
def test_photos_are_read_as_their_digit(condition: str, digits: np.ndarray) -> None:
    width, height = SIZE.get(condition, (800, 600))
    scores = np.array([judged(attempt(make(condition, digit, seed, width, height)), digit)
                       for seed, digit in enumerate(digits)])
    right = float(np.mean(scores >= MATCH))
    assert right >= 0.95, f"{condition}: {right:.0%} read right; worst {np.argsort(scores)[:4]}: {np.sort(scores)[:4]}"


def test_the_judge_tells_digits_apart(mnist_sample: dict[str, torch.Tensor]) -> None:
    """MATCH is well above what two different digits reach, and well below what a digit reaches with itself."""
    images, labels = mnist_sample["test_images"][:200].numpy(), mnist_sample["test_labels"][:200].numpy()
    others = [match(images[i], images[j]) for i in range(0, 200, 5) for j in range(1, 200, 7) if labels[i] != labels[j]]
    assert np.mean(np.array(others) >= MATCH) < 0.01
    assert min(match(image, image) for image in images) > 0.99


@pytest.mark.parametrize("condition", BLANK_CONDITIONS)
def test_a_page_without_a_digit_gets_the_clear_message(condition: str) -> None:
    """The same scenes with nothing written: desk, shadow, lines and texture are not taken for a digit."""
    for seed in range(5):
        with pytest.raises(ImageError, match="No digit found"):
            read(make(condition, np.zeros((28, 28), np.uint8), seed, 800, 600))


@pytest.mark.parametrize("side", [512, 2000])
def test_a_photo_of_a_face_gets_the_clear_message(side: int) -> None:
    """A real photograph without writing (scikit-image's portrait of an astronaut, shipped inside its wheel),
    as a phone would save it: no eye, nostril or hairline is taken for a digit."""
    face = cv2.resize(astronaut(), (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    with pytest.raises(ImageError, match="No digit found"):
        read(photo(face, np.random.default_rng(side)))


def two_digits(left: np.ndarray, right: np.ndarray, heights: tuple[int, int]) -> tuple[bytes, list[int]]:
    """A page with two digits side by side, and the columns of their centres."""
    rng = np.random.default_rng(0)
    page = paper(900, 1200, PAPER, rng)
    columns = [350, 850]
    for digit, column, height in zip((left, right), columns, heights, strict=True):
        write(page, coverage(digit, height), INK, (450, column))
    return photo(page, rng), columns


def test_several_similar_marks_are_named(digits: np.ndarray) -> None:
    data, columns = two_digits(digits[0], digits[1], (260, 300))
    reading = find_digit(open_image(data))
    assert reading.rivals == 1 and "2 separate marks" in reading.note and "the middle right" in reading.note
    left, top, right, bottom = reading.box
    assert left < columns[1] < right and top < 450 < bottom  # the one with more ink: here, the larger
    assert match(reading.digit, digits[1]) >= MATCH


def test_a_lone_digit_has_no_rivals(digits: np.ndarray) -> None:
    data, _ = two_digits(digits[0], np.zeros((28, 28), np.uint8), (260, 300))
    reading = find_digit(open_image(data))
    assert reading.rivals == 0 and reading.note == ""


def test_the_box_is_where_the_digit_is(digits: np.ndarray) -> None:
    """On a sheet on a desk, the box (in the upload's pixels) surrounds the ink that was written."""
    rng = np.random.default_rng(3)
    page = paper(900, 1200, PAPER, rng)
    strokes = coverage(digits[2], 200)
    write(page, strokes, INK, (300, 800))
    rows, cols = np.nonzero(strokes > 0.3)
    expected = (800 - strokes.shape[1] // 2 + cols.min(), 300 - strokes.shape[0] // 2 + rows.min(),
                800 - strokes.shape[1] // 2 + cols.max(), 300 - strokes.shape[0] // 2 + rows.max())
    reading = find_digit(open_image(photo(page, rng)))
    assert reading.size == (1200, 900)
    assert all(abs(a - b) <= 8 for a, b in zip(reading.box, expected, strict=True)), (reading.box, expected)


@pytest.mark.parametrize(("folder", "frame", "least"), [("examples", 20, 0.75), ("examples/fashion-mnist", 28, 0.9)])
def test_the_shipped_examples_are_read_as_themselves(folder: str, frame: int, least: float) -> None:
    """The app's one-click examples (28x28 test images): MNIST digits in their 20-px box, and Fashion-MNIST's
    items, solid shapes rather than strokes, filling the 28-px frame."""
    examples = sorted((Path(__file__).parents[2] / folder).glob("*.png"))
    assert len(examples) == 20
    for path in examples:
        image = np.asarray(Image.open(path).convert("L"))
        assert match(find_digit(Image.open(path), box=frame).digit.numpy(), image) > least, path.name
