"""Random samples: a grid of codes drawn from the prior, decoded, at a temperature.

The page redraws the grid as the temperature moves: the server sends the draws from N(0, I) for the model, the
count and the seed once, and the page scales them by the temperature and decodes them (static/page.js), as
`/samples` does on the server. A two-layer model's samples draw the lower layer too, given each code
(vae.latent.sample_probs).
"""

import gradio as gr

from vae.latent import prior_sample
from vae.render import grid_image
from webapp import compute
from webapp.outputs import png
from webapp.page import FAST, Page, digit_canvas
from webapp.words import term

GRID_ALT = "Random samples: pictures the model decodes from random codes drawn from its prior"
# Texts name the pictures as {one}, {many}: webapp.words.reword fills them in for the model's dataset.
INTRO = (f"Each {{one}} is the decoder's drawing of a code picked at random from the {term('prior')}: what the model "
         "makes up with no picture to read. A good VAE draws {a_one} almost wherever the prior puts a code. "
         f"The {term('temperature')} scales the random codes: below 1 they stay near the centre (plainer, more "
         "average {many}), above 1 they reach where few training {many}' codes lie (stranger ones).")


def samples_view(page: Page) -> None:
    """A grid of samples from the prior, at a temperature, redrawn live as the temperature, the seed or the count
    moves."""
    with gr.Tab("Random samples", id="tab-samples", elem_id="tab-samples") as tab:
        page.worded(gr.Markdown, {"value": INTRO}, elem_id="samples-intro")
        with gr.Row():
            n = gr.Slider(1, 64, value=32, step=1, label="Samples", elem_id="samples-n", info="How many random codes")
            temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature", elem_id="samples-temperature",
                                    info="1 draws from the prior itself; lower: plainer, higher: stranger")
            seed = gr.Number(0, label="Seed", precision=0, elem_id="samples-seed",
                             info="The same seed draws the same codes; New samples takes the next")
        new_btn = gr.Button("New samples", variant="primary")
        gr.HTML(digit_canvas(label=GRID_ALT), elem_id="samples-grid", label="Samples from the prior (decoded in your "
                "browser)", show_label=True, container=True)
        codes = gr.JSON(visible="hidden")
        # The server's grid, for API clients (/samples) and for a page that cannot decode by itself.
        sample_btn = gr.Button("Sample", elem_id="samples-server-button", visible="hidden")
        samples = gr.Image(label="Samples from the prior", elem_id="samples-server", format="png", interactive=False,
                           visible="hidden", alt_text=GRID_ALT)

    def on_samples(name: str, label: int, n: float, temperature: float, seed: float) -> str:
        """A grid of prior samples."""
        probs = compute.random_samples(page.models.pick(name), int(n), float(temperature), int(seed), label)
        return png(grid_image(probs, nrow=min(int(n), 8), scale=3))

    def on_draws(name: str, n: float, seed: float | None) -> list[list[float]]:
        """The grid's standard-normal draws (a hierarchy's: z's, then z1's), which the page scales and decodes."""
        return prior_sample(int(n), page.models.pick(name).model.config.noise_dim, seed=int(seed or 0)).tolist()

    # The page presses the hidden button at each move when it cannot decode: the last press wins, not the first.
    sample_btn.click(on_samples, [page.model, page.label, n, temperature, seed], samples, api_name="samples",
                     trigger_mode="always_last")
    new_btn.click(None, seed, seed, js="s => (Number(s) || 0) + 1")
    gr.on([tab.select, page.model.change, page.label.change, n.change, seed.change], on_draws, [page.model, n, seed],
          codes, api_name="sample_codes", api_visibility="private", **FAST).then(
              None, [codes, temperature, page.label], js="(c, t, l) => { window.vaePage?.setSamples(c, t, l); }")
