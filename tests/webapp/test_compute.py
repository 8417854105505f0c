"""What the app computes (webapp.compute), on the shipped weights and real MNIST test digits.

Conditional and 2-D behaviour also runs on tiny models trained here in about a second each,
saved and loaded through the same weights-file path as the shipped ones.
"""

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from tests.helpers import WEIGHTS, load_one, save_tiny, train_tiny
from tests.webapp.test_anatomy import anatomy
from vae.data import CLASS_NAMES, to_float
from vae.latent import decode_probs, gaussian_grid
from vae.loaded import LoadedModel, default_model, load_models
from webapp import compute
from webapp.anatomy import score_percentile
from webapp.words import describe_model

PATHS = pytest.mark.parametrize("method", ["linear", "spherical"])
N_DIGITS = 50  # real test digits used per test: enough for stable statistics, fast on 2 cores


def reconstruction(loaded: LoadedModel, x: Tensor, label: int | None = None, **samples: int) -> dict[str, Tensor]:
    """What Reconstruct draws of a (28, 28) image under `label`: the posterior mean's decoding, posterior samples."""
    return compute.reconstruction(loaded, compute.posterior(loaded, x, label), **samples)


def score(loaded: LoadedModel, x: Tensor, label: int | None = None) -> tuple[float, float]:
    """A (28, 28) image's negative ELBO under `label` and its percentile among the test scores, as Reconstruct
    reports them."""
    a = anatomy(loaded, x, label)
    return a.nelbo, score_percentile(loaded, a)


# --- tiny models, shared with test_app -----------------------------------------------------------


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Run as the app does (torch.set_num_threads(1)): one small decode at a time gains nothing from threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def shipped() -> tuple[dict[str, LoadedModel], list[str]]:
    return load_models(WEIGHTS)


@pytest.fixture(scope="module")
def loaded(shipped: tuple[dict[str, LoadedModel], list[str]]) -> LoadedModel:
    return shipped[0]["mlp-20d"]


@pytest.fixture(scope="module")
def digits(mnist_sample: dict[str, Tensor]) -> Tensor:
    """Real MNIST test digits, (N_DIGITS, 28, 28) in [0, 1]."""
    return to_float(mnist_sample["test_images"][:N_DIGITS])[:, 0]


@pytest.fixture(scope="module")
def conditional(tmp_path_factory: pytest.TempPathFactory, mnist_sample: dict[str, Tensor]) -> LoadedModel:
    path = tmp_path_factory.mktemp("conditional") / "cmlp-tiny.safetensors"
    save_tiny(path, train_tiny(mnist_sample, latent_dim=4, num_classes=10), mnist_sample)
    return load_one(path)


@pytest.fixture(scope="module", params=["mlp-2d", "tiny-2d"])
def model_2d(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             mnist_sample: dict[str, Tensor]) -> LoadedModel:
    """The shipped 2-D model (skipped until trained) and a tiny one trained here."""
    if request.param == "mlp-2d":
        path = WEIGHTS / "mlp-2d.safetensors"
        if not path.exists():
            pytest.skip(f"{path} not there yet: train it with `python train.py --latent-dim 2 --name mlp-2d`")
        return load_one(path)
    path = tmp_path_factory.mktemp("two-d") / "tiny-2d.safetensors"
    save_tiny(path, train_tiny(mnist_sample, latent_dim=2), mnist_sample)
    return load_one(path)


@pytest.fixture(scope="module")
def real_scores(loaded: LoadedModel, digits: Tensor) -> list[tuple[float, float]]:
    """(negative ELBO, percentile) of each real test digit."""
    return [score(loaded, x) for x in digits]


def change(a: Tensor, b: Tensor) -> float:
    """Mean absolute pixel difference."""
    return float((a - b).abs().mean())


def correlation(a: Tensor, b: Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])


def slider_values(n: int, seed: int = 0) -> list[float]:
    """Slider positions as a user could set them: inside the range, on the 0.01 grid."""
    z = torch.randn(n, generator=torch.Generator().manual_seed(seed)).clamp(-3, 3)
    return [round(float(v), 2) for v in z]


# --- loading -------------------------------------------------------------------------------------


def test_shipped_weights_load_without_problems(shipped: tuple[dict[str, LoadedModel], list[str]]) -> None:
    models, problems = shipped
    assert problems == []
    loaded = models["mlp-20d"]
    assert loaded.latent_dim == 20 and not loaded.conditional and loaded.class_names == CLASS_NAMES["mnist"]
    line = describe_model(loaded)
    assert "into 20 numbers" in line and "nats" in line and "told the class" not in line


def test_bad_files_are_reported_and_good_ones_still_load(tmp_path: Path) -> None:
    good = (WEIGHTS / "mlp-20d.safetensors").read_bytes()
    (tmp_path / "good.safetensors").write_bytes(good)
    (tmp_path / "cut.safetensors").write_bytes(good[: len(good) // 2])
    torch.save({"weight": torch.zeros(3)}, tmp_path / "old.pt")
    models, problems = load_models(tmp_path)
    assert list(models) == ["good"] and models["good"].latent_dim == 20
    assert len(problems) == 2
    cut, pickle = sorted(problems)
    assert "cut.safetensors" in cut and "truncated" in cut and "train it again" in cut
    assert "old.pt" in pickle and "pickle" in pickle and "refused" in pickle


def test_missing_folder_gives_no_models() -> None:
    assert load_models(WEIGHTS / "no-such-folder") == ({}, [])


def variant(base: LoadedModel, name: str, **metadata: object) -> LoadedModel:
    """`base` under another name with some metadata changed."""
    return LoadedModel(name, base.model, replace(base.metadata, **metadata), base.extras)


@pytest.mark.parametrize(
    ("models", "expected"),
    [
        ([("c", "cond", {}), ("m", "plain", {}), ("d", "plain", {"default": True})], "d"),
        ([("c", "cond", {}), ("f", "plain", {"dataset": "fashion-mnist"}), ("m", "plain", {})], "m"),
        ([("c", "cond", {}), ("f", "plain", {"dataset": "fashion-mnist"})], "c"),
    ],
    ids=["flagged_default_wins", "first_unconditional_mnist", "else_the_first"],
)
def test_default_model(loaded: LoadedModel, conditional: LoadedModel,
                       models: list[tuple[str, str, dict]], expected: str) -> None:
    bases = {"cond": conditional, "plain": loaded}
    assert default_model({name: variant(bases[kind], name, **meta) for name, kind, meta in models}) == expected


# --- sliders -------------------------------------------------------------------------------------


def test_slider_ranking_follows_the_stored_kl(loaded: LoadedModel) -> None:
    kl = list(loaded.metadata.metrics.kl_per_dim)
    assert sorted(loaded.ranking) == list(range(loaded.latent_dim))
    assert [kl[d] for d in loaded.ranking] == sorted(kl, reverse=True)


def test_sliders_and_code_round_trip(loaded: LoadedModel) -> None:
    values = slider_values(loaded.latent_dim)
    z = compute.code_from_sliders(values, loaded.ranking)
    assert z.shape == (1, loaded.latent_dim)
    assert [float(z[0, d]) for d in loaded.ranking] == pytest.approx(values)
    assert compute.sliders_from_code(z, loaded.ranking) == pytest.approx(values)


def test_dimensions_without_a_slider_stay_at_zero(loaded: LoadedModel) -> None:
    z = compute.code_from_sliders([1.0, -2.0, 0.5], loaded.ranking)
    assert z[0, loaded.ranking[:3]].tolist() == [1.0, -2.0, 0.5]
    assert torch.count_nonzero(z) == 3


def test_sliders_from_code_clips_to_the_slider_range(loaded: LoadedModel) -> None:
    z = 7.5 * torch.tensor([(-1.0) ** d for d in range(loaded.latent_dim)]).unsqueeze(0)
    values = compute.sliders_from_code(z, loaded.ranking)
    assert values == [compute.SLIDER_RANGE * (-1.0) ** d for d in loaded.ranking]


def test_decode_sliders_gives_one_digit_of_probabilities(loaded: LoadedModel) -> None:
    probs = compute.decode_sliders(loaded, slider_values(loaded.latent_dim))
    assert probs.shape == (1, 28, 28) and probs.dtype == torch.float32
    assert 0 <= float(probs.min()) and float(probs.max()) <= 1
    assert float(probs.max()) > 0.5  # some ink: a digit, not an empty canvas


def test_top_ranked_slider_moves_the_image_more_than_the_last(loaded: LoadedModel) -> None:
    origin = compute.decode_sliders(loaded, [])

    def effect(slider: int) -> float:
        moves = []
        for value in (-2.0, 2.0):
            values = [0.0] * loaded.latent_dim
            values[slider] = value
            moves.append(change(compute.decode_sliders(loaded, values), origin))
        return sum(moves) / len(moves)

    assert effect(0) > 2 * effect(loaded.latent_dim - 1) > 0


# --- reconstruction and scores -------------------------------------------------------------------


def test_reconstructions_are_close_to_real_test_digits(loaded: LoadedModel, digits: Tensor) -> None:
    mean_digit = digits.mean(0)
    corr, bce, baseline = [], [], []
    for x in digits[:10]:
        rec = reconstruction(loaded, x)["reconstruction"][0]
        assert rec.shape == (28, 28)
        corr.append(correlation(rec, x))
        bce.append(float(F.binary_cross_entropy(rec, x)))
        baseline.append(float(F.binary_cross_entropy(mean_digit, x)))
    assert sum(corr) / len(corr) > 0.9
    assert sum(bce) < 0.6 * sum(baseline)  # far better than guessing the average digit


def test_posterior_samples_differ_but_resemble_the_input(loaded: LoadedModel, digits: Tensor) -> None:
    x = digits[0]
    out = reconstruction(loaded, x, n_samples=6, seed=1)
    samples = out["samples"]
    assert samples.shape == (6, 1, 28, 28)
    for i in range(6):
        assert correlation(samples[i], x) > 0.6
        for j in range(i):
            assert change(samples[i], samples[j]) > 1e-3
    again = reconstruction(loaded, x, n_samples=6, seed=1)["samples"]
    other = reconstruction(loaded, x, n_samples=6, seed=2)["samples"]
    assert torch.equal(again, samples) and not torch.equal(other, samples)


def noise(kind: str) -> Tensor:
    """A 28x28 image that is not a digit."""
    gen = torch.Generator().manual_seed(0)
    if kind == "uniform":
        return torch.rand((28, 28), generator=gen)
    if kind == "sparse":  # a few bright specks on black, like a dusty empty scan
        return (torch.rand((28, 28), generator=gen) < 0.05).float()
    return torch.ones(28, 28)  # "white": all ink


@pytest.mark.parametrize("kind", ["uniform", "sparse", "white"])
def test_real_digits_score_lower_than_noise(loaded: LoadedModel, real_scores: list[tuple[float, float]],
                                            kind: str) -> None:
    nelbo, pct = score(loaded, noise(kind))
    assert max(s for s, _ in real_scores) < nelbo
    assert pct >= compute.UNUSUAL_PERCENTILE
    text = compute.describe_score(nelbo, pct, loaded.dataset)
    assert "nats" in text and "Unusual" in text


def test_real_digit_scores_are_typical_of_the_test_set(loaded: LoadedModel,
                                                       real_scores: list[tuple[float, float]]) -> None:
    """Real test digits land across the stored test-score distribution: scored the same way."""
    pcts = sorted(pct for _, pct in real_scores)
    assert 20 < pcts[len(pcts) // 2] < 80
    nelbo, pct = real_scores[0]
    text = compute.describe_score(nelbo, pct, loaded.dataset)
    assert f"{nelbo:.2f} nats" in text and f"fits it worse than {pct:.0f}% of the MNIST test digits" in text
    assert ("Unusual" in text) == (pct >= compute.UNUSUAL_PERCENTILE)


def test_describe_score_names_the_dataset() -> None:
    text = compute.describe_score(300.0, 99.5, "fashion-mnist")
    assert "Fashion-MNIST test images" in text and "Unusual" in text


# --- sampling and interpolation ------------------------------------------------------------------


def test_random_samples(loaded: LoadedModel) -> None:
    samples = compute.random_samples(loaded, 5, 1.0, seed=3)
    assert samples.shape == (5, 1, 28, 28)
    assert torch.equal(samples, compute.random_samples(loaded, 5, 1.0, seed=3))
    assert change(samples[0], samples[1]) > 1e-3
    cold = compute.random_samples(loaded, 3, 0.0, seed=3)  # temperature 0: every sample is the origin
    assert torch.allclose(cold, compute.decode_sliders(loaded, []).expand(3, 1, 28, 28))


@PATHS
def test_interpolation_ends_at_the_reconstructions(loaded: LoadedModel, digits: Tensor, method: str) -> None:
    x0, x1 = digits[0], digits[1]
    frames = compute.interpolation(loaded, x0, x1, 6, method)
    assert frames.shape == (6, 1, 28, 28)
    rec0, rec1 = reconstruction(loaded, x0)["reconstruction"], reconstruction(loaded, x1)["reconstruction"]
    torch.testing.assert_close(frames[0], rec0, atol=1e-5, rtol=0)
    torch.testing.assert_close(frames[-1], rec1, atol=1e-5, rtol=0)
    assert change(frames[3], rec0) > 0.01 and change(frames[3], rec1) > 0.01


def test_encode_gives_the_posterior_mean(loaded: LoadedModel, digits: Tensor) -> None:
    z = compute.encode(loaded, digits[0])
    assert z.shape == (loaded.latent_dim,)
    decoded = decode_probs(loaded.model, z.unsqueeze(0))[0]
    torch.testing.assert_close(decoded, reconstruction(loaded, digits[0])["reconstruction"])


# --- 2-D models ----------------------------------------------------------------------------------


def test_manifold_decodes_the_gaussian_grid(model_2d: LoadedModel) -> None:
    n = 6
    cells = compute.manifold(model_2d, n)
    assert cells.shape == (n * n, 1, 28, 28)
    torch.testing.assert_close(cells, decode_probs(model_2d.model, gaussian_grid(n)))
    grid = cells.view(n, n, 28, 28)
    neighbours = change(grid[:, 1:], grid[:, :-1])
    corners = change(grid[0, 0], grid[-1, -1]) + change(grid[0, -1], grid[-1, 0])
    assert neighbours < corners / 2  # a smooth map: neighbouring cells look alike, far corners do not


@pytest.mark.parametrize("max_points", [5000, 30])
def test_code_map_lists_test_codes_by_class(model_2d: LoadedModel, max_points: int) -> None:
    columns = compute.code_map(model_2d, max_points)
    mu, labels = model_2d.extras["test_mu"], model_2d.extras["test_labels"]
    n = min(max_points, len(mu))
    assert {k: len(v) for k, v in columns.items()} == {"z1": n, "z2": n, "class": n}
    rows = sorted(zip(columns["class"], columns["z1"], columns["z2"], strict=True))
    codes = zip(labels[:n].tolist(), mu[:n].float().tolist(), strict=True)
    stored = sorted((model_2d.class_names[c], z1, z2) for c, (z1, z2) in codes)
    assert rows == stored  # the first max_points test codes, each with its own class
    # listed class by class, so the plot's legend reads 0, 1, 2, ...
    assert [model_2d.class_names.index(c) for c in columns["class"]] == sorted(labels[:n].tolist())


# --- conditional models --------------------------------------------------------------------------


def test_label_tensor(loaded: LoadedModel, conditional: LoadedModel) -> None:
    assert compute.label_tensor(loaded, 3, 4) is None
    labels = compute.label_tensor(conditional, 3, 4)
    assert labels.dtype == torch.long and labels.tolist() == [3, 3, 3, 3]
    assert compute.label_tensor(conditional, None).tolist() == [0]


def test_conditional_model_describes_itself(conditional: LoadedModel) -> None:
    assert conditional.conditional and conditional.latent_dim == 4
    assert ", told the class of each digit, reads each MNIST picture into 4 numbers" in describe_model(conditional)


def test_infer_label_reads_most_digits_right(conditional: LoadedModel,
                                             mnist_sample: dict[str, Tensor]) -> None:
    x = to_float(mnist_sample["test_images"][:100])[:, 0]
    truth = mnist_sample["test_labels"][:100].tolist()
    guesses = [compute.infer_label(conditional, xi) for xi in x]
    assert all(0 <= g < 10 for g in guesses)
    assert sum(g == t for g, t in zip(guesses, truth, strict=True)) > 40  # chance is 10


def test_every_label_keeps_the_style_and_changes_the_class(conditional: LoadedModel,
                                                           digits: Tensor) -> None:
    x = digits[0]
    row, label = compute.every_label(conditional, x)
    assert row.shape == (10, 1, 28, 28) and label == compute.infer_label(conditional, x)
    # the inferred class's image is the reconstruction under that label
    torch.testing.assert_close(row[label], reconstruction(conditional, x, label)["reconstruction"])
    for i in range(10):
        for j in range(i):
            assert change(row[i], row[j]) > 1e-3
    # the model reads most decodings as the class they were decoded with
    assert sum(compute.infer_label(conditional, row[k, 0]) == k for k in range(10)) >= 5


def test_conditional_interpolation_switches_label_halfway(conditional: LoadedModel, digits: Tensor) -> None:
    x0, x1, steps = digits[0], digits[1], 5
    a, b = compute.infer_label(conditional, x0), compute.infer_label(conditional, x1)
    frames = compute.interpolation(conditional, x0, x1, steps, "spherical", (a, b))
    assert frames.shape == (steps, 1, 28, 28)
    torch.testing.assert_close(frames[0], reconstruction(conditional, x0, a)["reconstruction"])
    torch.testing.assert_close(frames[-1], reconstruction(conditional, x1, b)["reconstruction"])


def test_conditional_sliders_samples_and_scores_use_the_label(conditional: LoadedModel,
                                                              digits: Tensor) -> None:
    values = slider_values(conditional.latent_dim)
    as_three, as_seven = compute.decode_sliders(conditional, values, 3), compute.decode_sliders(conditional, values, 7)
    assert as_three.shape == (1, 28, 28) and change(as_three, as_seven) > 0.01
    assert compute.random_samples(conditional, 4, 1.0, seed=0, label=5).shape == (4, 1, 28, 28)
    label = compute.infer_label(conditional, digits[0])
    assert reconstruction(conditional, digits[0], label)["samples"].shape == (8, 1, 28, 28)
    assert 0 <= score(conditional, digits[0], label)[1] <= 100
