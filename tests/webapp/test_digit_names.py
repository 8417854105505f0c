"""A view with several digit inputs says which one is empty or refused (webapp.digit_input.read_digits)."""

import gradio as gr
import pytest

from tests.helpers import WEIGHTS, load_one
from webapp.digit_input import EXAMPLES, is_empty, read_digits

EXAMPLE = EXAMPLES["mnist"][0]


@pytest.fixture(scope="module")
def loaded():
    """A shipped MNIST model."""
    return load_one(WEIGHTS / "mlp-20d.safetensors")


def test_both_empty_is_one_message_naming_both(loaded) -> None:
    with pytest.raises(gr.Error) as e:
        read_digits(loaded, {"From": (None, None), "To": (None, {"composite": None})})
    assert "From and To" in e.value.message and "upload" in e.value.message


def test_one_empty_names_only_that_one(loaded) -> None:
    with pytest.raises(gr.Error) as e:
        read_digits(loaded, {"From": (EXAMPLE, None), "To": (None, None)})
    assert "in To:" in e.value.message and "From" not in e.value.message


def test_a_refused_input_is_named(loaded, tmp_path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(gr.Error) as e:
        read_digits(loaded, {"From": (EXAMPLE, None), "To": (str(text), None)})
    assert e.value.message.startswith("To: ")


def test_two_inputs_read_as_two_digits(loaded) -> None:
    a, b = read_digits(loaded, {"From": (EXAMPLE, None), "To": (EXAMPLES["mnist"][-1], None)})
    assert a.shape == b.shape == (28, 28) and not (a == b).all()


def test_empty_means_no_upload_and_no_drawing() -> None:
    assert is_empty(None, None) and is_empty("", {"composite": None})
    assert not is_empty(EXAMPLE, None) and not is_empty(None, {"composite": [[0]]})
