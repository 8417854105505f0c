"""Posterior collapse: the same network trained under more and more KL pressure (beta), side by side."""

import gradio as gr
import pandas as pd
from PIL import Image

from vae.latent import TRAVERSAL_ROWS, TRAVERSAL_SPAN
from webapp import compute
from webapp.collapse import EXPLANATION, by_model_markdown, collapse_family, comparison
from webapp.labelled_grid import traversal_picture
from webapp.outputs import png
from webapp.page import Page


def collapse_view(demo: gr.Blocks, page: Page) -> None:
    """The largest family of shipped models (one network, more and more KL pressure) compared."""
    models = page.models.models
    names = collapse_family(models)
    grids: dict[str, Image.Image] = {}
    with gr.Tab("Posterior collapse & beta", id="tab-compare", elem_id="tab-compare", visible=len(names) > 1):
        gr.Markdown("The same network trained with more and more weight on the KL term (beta).\n\n" + EXPLANATION)
        table = gr.Markdown(elem_id="compare-table")
        curves = gr.LinePlot(x="dimension, largest KL first", y="KL (nats)", color="model", elem_id="compare-kl",
                             x_axis_format="d",
                             label="KL of each latent dimension (0: collapsed)")
        gr.Markdown(f"**Traversals from the origin**: each model's top {TRAVERSAL_ROWS} dimensions (rows), "
                    f"-{TRAVERSAL_SPAN:g} to +{TRAVERSAL_SPAN:g} (columns), each row named with its KL. A collapsed "
                    "dimension's row (KL near 0) is flat.")
        gallery = gr.Gallery(label="Traversals", show_label=False, columns=3, height="auto", object_fit="contain",
                             elem_id="compare-grids")

    def family_grid(name: str) -> Image.Image:
        """A compared model's traversal grid from the origin, made once."""
        if name not in grids:
            grids[name] = traversal_picture(models[name], compute.slider_traversal(models[name], [], 0))
        return grids[name]

    def on_compare() -> dict:
        """The comparison table, the KL curves, and each model's traversal grid."""
        figures, kl = comparison(models, names)
        captions = [f"{n}: {a} active" for n, a in zip(names, figures["active units"], strict=True)]
        return {table: by_model_markdown(figures), curves: pd.DataFrame(kl),
                gallery: [(png(family_grid(n)), c) for n, c in zip(names, captions, strict=True)]}

    demo.load(on_compare, None, [table, curves, gallery], api_name="compare")
