"""Every weights file in weights/ loads, and its recorded test metrics are reproduced from it."""

from pathlib import Path

import pytest
import torch

from scripts.model_card import card, command_text
from tests.conftest import dataset_dir
from tests.helpers import slider_effects
from vae.data import evaluation_inputs, load_split, to_float
from vae.evaluate import active_units, block_sizes, elbo_terms, iw_block, nll_by_k
from vae.latent import decode_probs, prior_sample, rank_dimensions
from vae.loaded import LoadedModel, load_model
from vae.metadata import Metrics

WEIGHTS_DIR = Path(__file__).parents[2] / "weights"
WEIGHTS = sorted(WEIGHTS_DIR.glob("*.safetensors"))
SHIPPED = pytest.mark.parametrize("path", WEIGHTS, ids=[p.stem for p in WEIGHTS])
# The VAEs: a plain autoencoder (tests/test_autoencoder.py) has no ELBO, KL or likelihood, and no sliders.
VAES = [p for p in WEIGHTS if not load_model(p).autoencoder]
SHIPPED_VAES = pytest.mark.parametrize("path", VAES, ids=[p.stem for p in VAES])


def test_the_promised_models_are_shipped() -> None:
    names = {p.stem for p in WEIGHTS}
    assert {"mlp-20d", "mlp-2d", "cmlp-20d", "fashion-mlp-20d"} <= names


@SHIPPED
def test_loads_with_complete_metadata(path: Path) -> None:
    loaded = load_model(path)
    meta = loaded.metadata
    assert meta.command.startswith("python train.py")
    assert meta.train_seconds > 0 and meta.epochs == meta.train.epochs
    if not loaded.autoencoder:  # it has no prior, so no KL, and no ELBO to score a digit by
        assert len(meta.metrics.kl_per_dim) == loaded.model.config.latent_dim
        scores = loaded.extras["test_nelbo_sorted"]
        assert torch.all(scores[1:] >= scores[:-1])


def evaluation_set(loaded: LoadedModel) -> tuple[torch.Tensor, torch.Tensor]:
    """A model's full test set as it was measured on (binarized once, or grey levels), and its labels."""
    images, labels = load_split(loaded.dataset, dataset_dir(loaded.dataset), train=False, download=False)
    return evaluation_inputs(images, loaded.metadata.train.binarize), labels


@pytest.fixture(scope="module", params=VAES, ids=[p.stem for p in VAES])
def measured(request: pytest.FixtureRequest) -> tuple[Metrics, dict[str, torch.Tensor]]:
    """A shipped model's recorded metrics, and its ELBO terms measured now on its full test set."""
    loaded = load_model(request.param)
    return loaded.metadata.metrics, elbo_terms(loaded.model, *evaluation_set(loaded))


def test_reproduces_recorded_test_elbo(measured: tuple[Metrics, dict[str, torch.Tensor]]) -> None:
    recorded, terms = measured
    assert float(terms["nelbo"].mean()) == pytest.approx(recorded.test_nelbo, abs=0.5)


def test_reproduces_recorded_kl_profile(measured: tuple[Metrics, dict[str, torch.Tensor]]) -> None:
    recorded, terms = measured
    kl = terms["kl_dims"].mean(0)
    assert torch.allclose(kl, torch.tensor(recorded.kl_per_dim), atol=0.01)
    assert active_units(terms["mu"]) == recorded.active_units


@SHIPPED_VAES
def test_reproduces_recorded_nll_image_by_image(path: Path) -> None:
    """The recorded NLL is the mean of per-image estimates; recompute a few of them with the recorded k."""
    loaded = load_model(path)
    metrics, per_image = loaded.metadata.metrics, loaded.extras["test_nll"]
    assert len(per_image) == metrics.nll_images
    assert float(per_image.double().mean()) == pytest.approx(metrics.test_nll, abs=1e-3)
    x, labels = evaluation_set(loaded)
    k = metrics.nll_k
    for i in torch.randperm(len(per_image), generator=torch.Generator().manual_seed(len(per_image)))[:3].tolist():
        sums = [iw_block(loaded.model, x[i : i + 1], labels[i : i + 1], b, size, first=i)
                for b, size in enumerate(block_sizes(k))]
        assert float(nll_by_k(torch.stack(sums), k)[k]) == pytest.approx(float(per_image[i]), abs=1e-3)


@SHIPPED_VAES
def test_top_sliders_each_do_something_visible_and_different(path: Path) -> None:
    """The ten most informative sliders each redraw part of the digit, and no two redraw the same part;
    those of collapsed dimensions (past the active units: the posterior-collapse models) change nothing visible."""
    loaded = load_model(path)
    dims = rank_dimensions(list(loaded.metadata.metrics.kl_per_dim))[:10]
    y = torch.tensor([3]) if loaded.model.config.num_classes else None
    changes = slider_effects(loaded.model, dims, y=y)
    active = min(len(dims), loaded.metadata.metrics.active_units)
    assert ((changes[active:].abs() > 0.2).sum(1) < 5).all(), "a collapsed dimension's slider changes the picture"
    changes, dims = changes[:active], dims[:active]
    assert ((changes.abs() > 0.2).sum(1) >= 40).all(), "a top slider barely changes the picture"  # 5% of pixels
    cosine = torch.nn.functional.cosine_similarity(changes[:, None], changes[None], dim=-1)
    assert cosine[~torch.eye(len(dims), dtype=torch.bool)].abs().max() < 0.6, "two top sliders do the same thing"


def test_readme_model_card_matches_the_weights() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    stale = [line for line in card(WEIGHTS_DIR).splitlines() if line not in readme]
    assert not stale, ("README's model card is stale: paste the output of "
                       f"`python -m scripts.model_card weights`: {stale}")


def test_the_card_gives_a_resumed_run_once_with_what_each_resume_changed() -> None:
    first = "python train.py --name m --epochs 9 --data-dir 'my data'"
    command = first + "".join(f"  # stopped after epoch {e}, then: {first} --resume" for e in (2, 4, 6))
    command += f"  # stopped after epoch 9, then: {first.replace('9', '12')} --iw-samples 5 --resume"
    assert command_text(command) == (f"`{first}`; resumed after epochs 2, 4 and 6; "
                                     "resumed after epoch 9 with `--epochs 12 --iw-samples 5`")
    assert command_text(first) == f"`{first}`"
    rebuilt = "python -m scripts.resume_from_weights w/m.safetensors"
    assert command_text(f"{first}  # stopped after epoch 9, then: {rebuilt}") == (
        f"`{first}`; resumed after epoch 9 with `{rebuilt}`")


def test_conditional_model_draws_the_digit_it_is_asked_for(mnist_sample: dict[str, torch.Tensor]) -> None:
    """Decode the same codes under each label; a classifier trained here on real digits must read the label."""
    path = next((p for p in WEIGHTS if load_model(p).model.config.num_classes), None)
    if path is None:
        pytest.skip("no conditional model in weights/")
    torch.manual_seed(0)
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 128), torch.nn.ReLU(),
                                     torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(classifier.parameters(), lr=2e-3)
    x, y = to_float(mnist_sample["train_images"]), mnist_sample["train_labels"]
    for _ in range(15):
        for idx in torch.randperm(len(x)).split(100):
            loss = torch.nn.functional.cross_entropy(classifier(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        held_out = (classifier(to_float(mnist_sample["test_images"])).argmax(1) == mnist_sample["test_labels"])
        assert held_out.float().mean() > 0.9  # the classifier itself is trustworthy
        model = load_model(path).model
        z = prior_sample(20, model.config.latent_dim, seed=1).repeat_interleave(10, 0)
        wanted = torch.arange(10).repeat(20)
        read = classifier(decode_probs(model, z, wanted)).argmax(1)
    assert (read == wanted).float().mean() > 0.75  # chance is 0.1; decodings are blurrier than real digits
    distinct = [len(set(row.tolist())) for row in read.view(20, 10)]
    assert sum(distinct) / len(distinct) >= 7  # one code, ten labels: mostly ten different digits
