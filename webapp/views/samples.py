"""Random samples: a grid of codes drawn from the prior, decoded, at a temperature."""

import gradio as gr

from vae.render import grid_image
from webapp import compute
from webapp.outputs import png
from webapp.page import Page


def samples_view(page: Page) -> None:
    """A grid of samples from the prior, at a temperature."""
    with gr.Tab("Random samples", id="tab-samples", elem_id="tab-samples"):
        with gr.Row():
            n = gr.Slider(1, 64, value=32, step=1, label="Samples")
            temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature")
            seed = gr.Number(0, label="Seed", precision=0)
        sample_btn = gr.Button("Sample", variant="primary")
        samples = gr.Image(label="Samples from the prior", elem_id="samples", format="png", interactive=False,
                           buttons=["download", "fullscreen"])

    def on_samples(name: str, label: int, n: float, temperature: float, seed: float) -> str:
        """A grid of prior samples."""
        probs = compute.random_samples(page.models.pick(name), int(n), float(temperature), int(seed), label)
        return png(grid_image(probs, nrow=min(int(n), 8), scale=3))

    sample_btn.click(on_samples, [page.model, page.label, n, temperature, seed], samples, api_name="samples")
