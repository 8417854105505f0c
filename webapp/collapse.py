"""Posterior collapse, side by side: the same network trained under different KL pressure.

Works on the weights files' metadata (what train.py and vae.evaluate recorded), so a comparison
costs no evaluation at run time.
"""

from collections import Counter

from vae.loaded import LoadedModel
from vae.metadata import ModelMetadata
from webapp.words import term

EXPLANATION = (
    "**Posterior collapse**: when the KL term is too costly for what a latent dimension would tell the decoder, "
    "the encoder stops using it: its posterior q(z|x) becomes the prior N(0, 1) for every image, its KL drops to "
    "0, and moving it changes nothing (a flat row in its traversal). **The beta trade-off**: weighting the KL by "
    "beta > 1 buys a simpler, smoother code with fewer active dimensions at the price of blurrier reconstructions "
    "and a worse likelihood (higher NLL).")

# The comparison table's rows in plain words, each term linked to its glossary entry; figures in nats keep two
# decimals.
ROW_WORDS = {
    "beta": f"{term('beta')} (KL weight)",
    "warm-up (epochs)": f"{term('KL warm-up')} (epochs)",
    "active units": f"{term('active units')} (dimensions used)",
    "test NLL (nats)": f"test {term('NLL')} ({term('nats')}; lower is better)",
    "test -ELBO (nats)": f"test {term('negative ELBO')} (nats; lower is better)",
    "KL (nats)": f"{term('KL')} (nats): what a code tells the decoder",
}


def family_key(metadata: ModelMetadata) -> tuple[str, str]:
    """What must match for two models to differ only in how they were trained: dataset and network."""
    return metadata.dataset, repr(metadata.config)


def largest_family(metadata: dict[str, ModelMetadata]) -> list[str]:
    """The names of the largest group of models sharing dataset and network, weakest KL pressure first.

    With the shipped weights: mlp-20d (beta 1) and its beta = 4 and beta = 16 twins.
    """
    keys = {name: family_key(meta) for name, meta in metadata.items()}
    if not keys:
        return []
    key, _ = Counter(keys.values()).most_common(1)[0]
    return sorted((n for n, k in keys.items() if k == key), key=lambda n: (beta(metadata[n]), n))


def beta(metadata: ModelMetadata) -> float:
    """The KL weight a model was trained with (1, the plain ELBO, when its metadata does not say)."""
    return metadata.train.beta if metadata.train else 1.0


def compare_table(metadata: dict[str, ModelMetadata]) -> dict[str, list]:
    """Columns of the comparison table, one row per model, in the order given (kl_curves has each dimension's KL)."""
    rows: dict[str, list] = {"model": [], "beta": [], "warm-up (epochs)": [], "active units": [],
                             "test NLL (nats)": [], "test -ELBO (nats)": [], "KL (nats)": []}
    for name, meta in metadata.items():
        m = meta.metrics
        rows["model"].append(name)
        rows["beta"].append(beta(meta))
        rows["warm-up (epochs)"].append(meta.train.warmup_epochs if meta.train else 0.0)
        rows["active units"].append(f"{m.active_units} of {len(m.kl_per_dim)}")
        rows["test NLL (nats)"].append(round(m.test_nll, 2))
        rows["test -ELBO (nats)"].append(round(m.test_nelbo, 2))
        rows["KL (nats)"].append(round(sum(m.kl_per_dim), 2))
    return rows


def by_model_markdown(table: dict[str, list]) -> str:
    """A compare_table as Markdown with one column per model and one row per figure (narrow enough for a phone)."""
    names = table["model"]
    lines = ["| | " + " | ".join(f"`{n}`" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [f"| {ROW_WORDS[key]} | " + " | ".join(figure(key, v) for v in values) + " |"
              for key, values in table.items() if key != "model"]
    return "\n".join(lines)


def figure(row: str, value: str | float) -> str:
    """One cell of the comparison table: nats with two decimals, other numbers as they are."""
    if isinstance(value, str):
        return value
    return f"{value:.2f}" if "nats" in row else f"{value:g}"


def kl_curves(metadata: dict[str, ModelMetadata]) -> dict[str, list]:
    """Columns of a line plot: each model's test-set KL per dimension, largest first (a collapsed one is 0)."""
    columns: dict[str, list] = {"dimension, largest KL first": [], "KL (nats)": [], "model": []}
    for name, meta in metadata.items():
        kl = sorted(meta.metrics.kl_per_dim, reverse=True)
        columns["dimension, largest KL first"] += list(range(1, len(kl) + 1))
        columns["KL (nats)"] += kl
        columns["model"] += [name] * len(kl)
    return columns


def collapse_family(models: dict[str, LoadedModel]) -> list[str]:
    """The models to compare: the largest group trained on the same data with the same network."""
    return largest_family({name: loaded.metadata for name, loaded in models.items()})


def comparison(models: dict[str, LoadedModel], names: list[str]) -> tuple[dict[str, list], dict[str, list]]:
    """The comparison table and the KL-per-dimension curves of the models `names`."""
    metadata = {name: models[name].metadata for name in names}
    return compare_table(metadata), kl_curves(metadata)
