"""vae.projection and the stored maps in weights/projections: they match the shipped weights, neighbours are
the nearest codes, class directions and analogies move codes as promised, a stale map is refused."""

from pathlib import Path

import pytest
import torch

from scripts import deploy
from tests.conftest import dataset_dir
from vae.checkpoint import load_tensors, save_tensors
from vae.data import load_split
from vae.latent import decode_probs
from vae.loaded import LoadedModel, load_model
from vae.projection import (
    PER_CLASS,
    ProjectionError,
    analogy,
    class_direction,
    digits_path,
    fit_pca,
    load_projection,
    move_along,
    neighbours,
    pca_coordinates,
    posterior_means,
    projection_path,
    same_class_share,
    subset_indices,
)

ROOT = Path(__file__).parents[2]
WEIGHTS = ROOT / "weights"
NAMES = sorted(p.stem for p in WEIGHTS.glob("*.safetensors"))
HALF = dict(rtol=2e-3, atol=2e-3)  # codes and map coordinates are stored as float16 (3 significant digits)


@pytest.fixture(scope="module", params=NAMES)
def shipped(request: pytest.FixtureRequest) -> tuple[LoadedModel, object]:
    loaded = load_model(WEIGHTS / f"{request.param}.safetensors")
    return loaded, load_projection(loaded, WEIGHTS)


def test_every_shipped_model_has_a_projection_that_goes_up_to_the_space() -> None:
    uploaded = set(deploy.upload_files(ROOT))
    for name in NAMES:
        assert projection_path(WEIGHTS, name).relative_to(ROOT).as_posix() in uploaded
    for dataset in ("mnist", "fashion-mnist"):
        assert digits_path(WEIGHTS, dataset).relative_to(ROOT).as_posix() in uploaded


def test_stored_codes_are_the_weights_codes_of_the_stored_digits(shipped) -> None:
    loaded, proj = shipped
    assert torch.bincount(proj.labels).tolist() == [PER_CLASS] * 10
    codes = posterior_means(loaded.model, proj.images, proj.labels)
    torch.testing.assert_close(proj.codes, codes, **HALF)
    torch.testing.assert_close(proj.pca, pca_coordinates(codes, proj.pca_mean, proj.pca_axes), **HALF)
    assert proj.umap.shape == (len(codes), 2) and proj.umap.isfinite().all()


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_class_means_and_pca_axes_are_those_of_the_whole_test_set(dataset: str) -> None:
    images, labels = load_split(dataset, dataset_dir(dataset), train=False, download=False)
    for name in NAMES:
        loaded = load_model(WEIGHTS / f"{name}.safetensors")
        if loaded.dataset != dataset:
            continue
        proj = load_projection(loaded, WEIGHTS)
        assert torch.equal(proj.images, images[proj.test_indices])
        assert torch.equal(proj.test_indices, subset_indices(labels))
        codes = posterior_means(loaded.model, images, labels)
        means = torch.stack([codes[labels == c].mean(0) for c in range(10)])
        torch.testing.assert_close(proj.class_means, means, rtol=1e-4, atol=1e-4)
        mean, axes, explained = fit_pca(codes)
        torch.testing.assert_close(proj.pca_axes, axes, rtol=1e-3, atol=1e-3)
        assert proj.pca_explained == pytest.approx(explained, abs=1e-4)


def test_neighbours_are_the_nearest_codes_by_brute_force(shipped) -> None:
    _, proj = shipped
    query = proj.codes[7] + 0.3 * torch.randn(proj.codes.shape[1], generator=torch.Generator().manual_seed(0))
    found, distances = neighbours(proj.codes, query, k=8)
    brute = sorted(range(len(proj.codes)), key=lambda i: float(((proj.codes[i] - query) ** 2).sum()))[:8]
    assert found.tolist() == brute
    assert distances.tolist() == pytest.approx([float((proj.codes[i] - query).norm()) for i in brute], rel=1e-5)
    itself, zero = neighbours(proj.codes, proj.codes[42], k=1)
    assert itself.tolist() == [42] and float(zero[0]) == pytest.approx(0, abs=1e-4)


def test_same_class_share_counts_the_nearest_points_of_the_same_class() -> None:
    points = torch.tensor([[0.0], [1.0], [2.0], [10.0], [11.0], [12.5]])
    assert same_class_share(points, torch.tensor([0, 0, 0, 1, 1, 1]), k=2) == 1.0
    # with point 4 relabelled: point 3's two nearest are 4 (other) and 5 (same), point 4's are 3 and 5 (both other)
    mixed = torch.tensor([0, 0, 0, 1, 0, 1])
    expected = sum([1, 1, 1, 0.5, 0, 0.5]) / 6  # per point: share of its 2 nearest with its class
    assert same_class_share(points, mixed, k=2) == pytest.approx(expected)


def test_a_class_direction_leaves_the_code_at_0_and_reaches_the_other_class_at_1(shipped) -> None:
    loaded, proj = shipped
    y = torch.tensor([3]) if loaded.conditional else None
    step = class_direction(proj.class_means, 3, 8)
    assert torch.equal(move_along(proj.codes[0], step, 0.0), proj.codes[0])
    arrived = move_along(proj.class_means[3], step, 1.0)
    torch.testing.assert_close(decode_probs(loaded.model, arrived[None], y),
                               decode_probs(loaded.model, proj.class_means[8][None], y), rtol=0, atol=1e-5)
    halfway = move_along(proj.class_means[3], step, 0.5)
    torch.testing.assert_close(halfway, (proj.class_means[3] + proj.class_means[8]) / 2)


def test_an_analogy_applies_the_step_from_b_to_a_to_c() -> None:
    a, b, c = torch.tensor([1.0, 5.0]), torch.tensor([1.0, 2.0]), torch.tensor([-4.0, 0.5])
    assert analogy(a, b, c).tolist() == [-4.0, 3.5]
    assert torch.equal(analogy(a, b, b), a)


def test_pca_axes_are_orthonormal_and_keep_their_sign_on_a_refit() -> None:
    codes = torch.randn(500, 5, generator=torch.Generator().manual_seed(1)) * torch.tensor([5.0, 1, 3, 0.5, 0.1])
    mean, axes, explained = fit_pca(codes)
    torch.testing.assert_close(axes @ axes.T, torch.eye(2), rtol=0, atol=1e-5)
    assert axes[0].abs().argmax() == 0 and axes[1].abs().argmax() == 2  # the two largest spreads
    assert explained[0] > explained[1] > 0 and sum(explained) < 1
    again = fit_pca(-codes)[1]  # a mirrored cloud has the same axes up to sign: the sign rule picks the same
    torch.testing.assert_close(again, axes)


def stored_copy(tmp_path: Path, name: str, **meta_changes) -> Path:
    """A weights folder holding the projections of `name` with some metadata changed."""
    for path in (projection_path(WEIGHTS, name), digits_path(WEIGHTS, "mnist")):
        target = tmp_path / path.relative_to(WEIGHTS)
        tensors, meta = load_tensors(path)
        save_tensors(target, tensors, {**meta, **(meta_changes if path.stem == name else {})})
    return tmp_path


def test_a_projection_from_other_weights_is_refused_with_what_to_run(tmp_path: Path) -> None:
    loaded = load_model(WEIGHTS / "mlp-2d.safetensors")
    folder = stored_copy(tmp_path, "mlp-2d", weights_sha256="0" * 64)
    with pytest.raises(ProjectionError, match=r"stale.*000000000000.*scripts/project_codes.py --only mlp-2d"):
        load_projection(loaded, folder)


def test_missing_or_mismatched_files_are_refused_with_what_to_run(tmp_path: Path) -> None:
    loaded = load_model(WEIGHTS / "mlp-2d.safetensors")
    with pytest.raises(ProjectionError, match="No stored projection.*scripts/project_codes.py"):
        load_projection(loaded, tmp_path)
    folder = stored_copy(tmp_path, "mlp-2d")
    tensors, meta = load_tensors(digits_path(folder, "mnist"))
    save_tensors(digits_path(folder, "mnist"), {**tensors, "test_indices": tensors["test_indices"] + 1}, meta)
    with pytest.raises(ProjectionError, match="other test digits"):
        load_projection(loaded, folder)
    digits_path(folder, "mnist").write_bytes(b"\0" * 100)
    with pytest.raises(ProjectionError, match="project_codes.py"):
        load_projection(loaded, folder)
