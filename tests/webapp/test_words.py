"""The page's words for a two-layer model: it says what the sliders move, where the lower layer sits and that samples
draw it; the picker names it by its two layers."""

from tests.helpers import tiny_metadata
from vae.loaded import LoadedModel
from vae.model import VAE, VAEConfig
from webapp.words import describe_model, model_choice


def test_a_two_layer_model_says_the_sliders_move_the_top_code() -> None:
    model = VAE(VAEConfig(arch="conv", latent_dim=8, lower_dim=16, hidden=32))
    line = describe_model(LoadedModel("two", model, tiny_metadata(model)))
    assert "into 8 numbers" in line and "lower layer of 16 more (z1)" in line
    assert "The sliders move z, with z1 at its average for that z" in line
    assert "Random samples draw both layers" in line
    choice = model_choice(LoadedModel("two", model, tiny_metadata(model)))
    assert choice == "two: sharpest digits, two layers of code, 8-D"


def test_a_one_layer_model_has_no_lower_layer_to_mention() -> None:
    model = VAE(VAEConfig(latent_dim=8, hidden=32))
    assert "lower layer" not in describe_model(LoadedModel("one", model, tiny_metadata(model)))
