"""Posterior collapse side by side (webapp.collapse), from the weights files' metadata."""

from pathlib import Path

import pytest

from vae.loaded import load_model
from vae.metadata import Metrics, ModelMetadata, TrainConfig
from vae.model import VAEConfig
from webapp.collapse import ROW_WORDS, by_model_markdown, compare_table, kl_curves, largest_family

WEIGHTS = Path(__file__).parents[2] / "weights"


def meta(dataset: str = "mnist", latent: int = 3, beta: float = 1.0, kl: list[float] | None = None) -> ModelMetadata:
    """Metadata as train.py writes it, with the figures the comparison reads."""
    kl = kl or [0.5, 2.0, 0.0][:latent]
    metrics = Metrics(test_nelbo=105 + beta, test_recon=100.0, test_kl=sum(kl), test_nll=100 + beta, nll_k=10,
                      nll_images=10, nll_by_k={"10": 100 + beta}, kl_per_dim=kl,
                      active_units=sum(v > 0.01 for v in kl))
    return ModelMetadata(dataset=dataset, config=VAEConfig(latent_dim=latent), train=TrainConfig(beta=beta),
                         metrics=metrics)


def test_the_family_is_the_largest_group_sharing_data_and_network_weakest_kl_first() -> None:
    models = {"a-beta8": meta(beta=8), "other-net": meta(latent=2, kl=[1.0, 1.0]), "a": meta(),
              "a-beta2": meta(beta=2), "fashion": meta("fashion-mnist")}
    assert largest_family(models) == ["a", "a-beta2", "a-beta8"]
    assert largest_family({}) == []


def test_the_table_reads_each_models_figures() -> None:
    models = {"a": meta(), "a-beta4": meta(beta=4, kl=[0.0, 3.0, 0.0])}
    table = compare_table(models)
    assert {len(v) for v in table.values()} == {2}
    assert table["model"] == ["a", "a-beta4"] and table["beta"] == [1.0, 4.0]
    assert table["active units"] == ["2 of 3", "1 of 3"]
    assert table["test NLL (nats)"] == [101.0, 104.0] and table["KL (nats)"] == [2.5, 3.0]


def test_the_markdown_has_a_column_per_model_and_a_row_per_figure() -> None:
    text = by_model_markdown(compare_table({"a": meta(), "a-beta4": meta(beta=4, kl=[0.0, 3.0, 0.0])}))
    lines = text.splitlines()
    assert lines[0] == "| | `a` | `a-beta4` |" and lines[1] == "|---|---|---|"
    assert f"| {ROW_WORDS['active units']} | 2 of 3 | 1 of 3 |" in lines
    assert f"| {ROW_WORDS['beta']} | 1 | 4 |" in lines
    assert f"| {ROW_WORDS['test NLL (nats)']} | 101.00 | 104.00 |" in lines  # nats with two decimals
    assert len(lines) == 2 + 6
    assert all("](#g-" in ROW_WORDS[key] for key in ROW_WORDS), "each row's term links to its glossary entry"


def test_kl_curves_are_sorted_per_model() -> None:
    curves = kl_curves({"a": meta(), "b": meta(kl=[0.1, 0.0, 0.3])})
    assert curves["model"] == ["a"] * 3 + ["b"] * 3
    assert curves["KL (nats)"] == [2.0, 0.5, 0.0, 0.3, 0.1, 0.0]
    assert curves["dimension, largest KL first"] == [1, 2, 3, 1, 2, 3]


def test_the_shipped_collapse_models_show_collapse() -> None:
    names = ["mlp-20d", "mlp-20d-beta4", "mlp-20d-beta16"]
    if not all((WEIGHTS / f"{n}.safetensors").exists() for n in names):
        pytest.skip("the collapse models are not in weights/ yet")
    metadata = {p.stem: load_model(p).metadata for p in sorted(WEIGHTS.glob("*.safetensors"))}
    assert largest_family(metadata) == names
    table = compare_table({n: metadata[n] for n in names})
    active = [int(a.split()[0]) for a in table["active units"]]
    assert active[0] > active[1] > active[2]  # more KL pressure, fewer dimensions in use
    assert table["test NLL (nats)"] == sorted(table["test NLL (nats)"])  # and a worse likelihood
    curves = kl_curves({n: metadata[n] for n in names})
    collapsed = [kl < 0.01 for kl, n in zip(curves["KL (nats)"], curves["model"], strict=True) if n == names[2]]
    assert sum(collapsed) == 20 - active[2]  # the inactive dimensions carry (almost) no KL
