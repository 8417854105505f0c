"""The page's words for a two-layer model: its line names the lower layer, the sliders' note says what the sliders
move and where the lower layer sits."""

from tests.helpers import tiny_metadata
from vae.loaded import LoadedModel
from vae.model import VAE, VAEConfig
from webapp.words import describe_model, model_choice, sliders_note


def test_a_two_layer_model_says_the_sliders_move_the_top_code() -> None:
    model = VAE(VAEConfig(arch="conv", latent_dim=8, lower_dim=16, hidden=32))
    loaded = LoadedModel("two", model, tiny_metadata(model))
    line = describe_model(loaded)
    assert "into 8 numbers" in line and "then 16 more in a [lower layer](#g-lower) (u)" in line
    assert "They move z alone: this model's lower layer (u, 16 numbers" in sliders_note(loaded)
    assert "sits at its average for that z" in sliders_note(loaded)
    assert "a digit read into the sliders can come back as another one" in sliders_note(loaded)
    assert model_choice(loaded) == "two: best score (two layers), 8-D"


def test_a_one_layer_model_has_no_lower_layer_to_mention() -> None:
    model = VAE(VAEConfig(latent_dim=8, hidden=32))
    loaded = LoadedModel("one", model, tiny_metadata(model))
    assert "lower layer" not in describe_model(loaded) and "lower layer" not in sliders_note(loaded)
