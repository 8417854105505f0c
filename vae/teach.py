"""The teaching views over loaded models: traversals, the ELBO of one image, posterior collapse compared.

Thin glue between loaded models (vae.loaded) and the tensor functions of vae.traversal,
vae.anatomy and vae.compare; plot data come as dicts of columns.
"""

from functools import cache

from torch import Tensor

from vae.anatomy import Anatomy, ScoreHistogram, anatomy, histogram_lines, kl_bars, posterior_points, score_histogram
from vae.compare import compare_table, kl_curves, largest_family
from vae.explore import code_from_sliders, label_tensor
from vae.latent import percentile
from vae.loaded import LoadedModel
from vae.traversal import TRAVERSAL_ROWS, traversal


def slider_traversal(loaded: LoadedModel, values: list[float], label: int | None = None,
                     rows: int = TRAVERSAL_ROWS) -> Tensor:
    """The traversal grid from the sliders' point: one row per top dimension (slider order), -3 to +3."""
    z = code_from_sliders(values, loaded.ranking)
    return traversal(loaded.model, z, loaded.ranking[:rows], label_tensor(loaded, label))


def image_anatomy(loaded: LoadedModel, x: Tensor, label: int | None = None) -> Anatomy:
    """One (28, 28) image's negative ELBO taken apart under this model."""
    return anatomy(loaded.model, x, label_tensor(loaded, label))


@cache
def binned_test_scores(sorted_scores: Tensor) -> ScoreHistogram:
    """The test scores' histogram, binned once per model: tensors hash by identity, one entry per loaded model."""
    return score_histogram(sorted_scores)


def anatomy_plots(loaded: LoadedModel, a: Anatomy) -> dict[str, dict[str, list]]:
    """The three plots of an image's anatomy: KL per dimension, posterior vs prior, the score on the test set."""
    scores = loaded.extras["test_nelbo_sorted"]
    return {"kl": kl_bars(a.kl_per_dim, list(loaded.metadata.metrics.kl_per_dim), loaded.ranking),
            "posterior": posterior_points(a.mean, a.std, loaded.ranking),
            "histogram": histogram_lines(binned_test_scores(scores), a.nelbo)}


def score_percentile(loaded: LoadedModel, a: Anatomy) -> float:
    """The share of test images scoring at or below this image, in percent."""
    return percentile(a.nelbo, loaded.extras["test_nelbo_sorted"])


def collapse_family(models: dict[str, LoadedModel]) -> list[str]:
    """The models to compare: the largest group trained on the same data with the same network."""
    return largest_family({name: loaded.metadata for name, loaded in models.items()})


def comparison(models: dict[str, LoadedModel], names: list[str]) -> tuple[dict[str, list], dict[str, list]]:
    """The comparison table and the KL-per-dimension curves of the models `names`."""
    metadata = {name: models[name].metadata for name in names}
    return compare_table(metadata), kl_curves(metadata)
