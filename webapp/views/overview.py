"""How a VAE works: the chosen model on a real digit, x -> encoder -> mean and sd -> z = mean + sd * epsilon ->
decoder -> x', with the loss's two parts (a two-layer model's three: its lower layer z1 is drawn given x and z).
The server encodes (`/overview`); the page draws epsilon and decodes (static/overview.js), so "New epsilon" costs
no request.
"""

import gradio as gr
import torch

from vae.loaded import LoadedModel
from webapp import compute
from webapp.digit_input import (
    digit_input,
    drawings_js,
    example_named,
    gently,
    is_empty,
    on_button_and_live,
    read_digit,
)
from webapp.page import IMAGES, Page
from webapp.words import term

FIRST_EXAMPLE = {"mnist": "digit-3-2-test0030.png"}  # a typical digit to start from (docs/views.md); else the first

# The text names the pictures as {many}: webapp.words.reword fills it in for the model's dataset.
PROSE = (
    "A VAE squeezes a picture x into a few numbers and draws it back. The **encoder** gives no single code: per "
    f"dimension it gives a mean μ and a standard deviation σ, the {term('posterior', 'posterior q(z|x)')}. "
    "The code is drawn from it, **z = μ + σ·ε**, and the **decoder** draws x' from z. Press *New ε*: another z, "
    "another x'. The noise ε comes from outside the network, so training can pass gradients through μ and σ "
    f"(the reparameterization trick). Training lowers two costs, in {term('nats')}: how badly x' matches x, and "
    f"{term('KL')}, how far q(z|x) is from the {term('prior')} N(0, 1). The KL keeps codes where random draws "
    "from N(0, 1) decode to {many}.")

DIAGRAM_WIDTH = 700  # px: the diagram's one line (two digits, two 170-px bar charts, three arrows)
DIAGRAM = """<div class="vae-ov" aria-label="How a VAE works: a diagram of the chosen model on your picture">
<figure id="ov-x"><canvas class="vae-digit" width="28" height="28" role="img"
 aria-label="x: the picture the model sees"></canvas>
<figcaption>x: the picture the model sees</figcaption></figure>
<div class="vae-ov-arrow">encoder<span>→</span></div>
<figure id="ov-q"><canvas class="vae-ov-bars" width="240" height="120" role="img"
 aria-label="mean and standard deviation of each latent dimension"></canvas>
<figcaption>μ ± σ per dimension (grey: the prior's ±1)</figcaption></figure>
<div class="vae-ov-arrow"><span>→</span></div>
<figure id="ov-z"><canvas class="vae-ov-bars" width="240" height="120" role="img"
 aria-label="epsilon and the code z of each latent dimension"></canvas>
<figcaption>z = μ + σ·ε (dots: z; bars: ε)</figcaption>
<button type="button" class="vae-ov-eps">New ε</button></figure>
<div class="vae-ov-arrow">decoder<span>→</span></div>
<figure id="ov-xr"><canvas class="vae-digit" width="28" height="28" role="img"
 aria-label="x': the decoded code z"></canvas>
<figcaption>x': decoded from z</figcaption></figure>
</div>
<p class="vae-ov-loss" aria-live="polite"></p>"""


def first_example(dataset: str) -> str:
    """The example a first visit sees encoded: for MNIST an ordinary digit (neither a hard case nor a plain 1),
else the dataset's first example."""
    return example_named(dataset, FIRST_EXAMPLE.get(dataset))


@torch.no_grad()
def encoding(loaded: LoadedModel, q: compute.Posterior, opening: bool = False) -> dict:
    """What the page needs to draw the diagram: the digit seen, mean and sd per dimension (slider order), the KL,
    whether it is the opening example (no picture given yet); for a two-layer model also the encoder's features h,
    from which the page draws the lower layer z1 given z."""
    sd = torch.exp(0.5 * q.logvar[0])
    kl = 0.5 * (q.mean[0] ** 2 + sd**2 - 1 - q.logvar[0])
    out = {"model": loaded.name, "label": q.label or 0, "x": [round(float(v), 4) for v in q.x.flatten()],
           "ranking": loaded.ranking, "mean": [float(v) for v in q.mean[0]], "sd": [float(v) for v in sd],
           "kl": float(kl.sum()), "opening": opening}
    if loaded.model.config.lower_dim:
        out |= {"h": [float(v) for v in q.h[0]], "lower_dim": loaded.model.config.lower_dim}
    return out


def overview_view(demo: gr.Blocks, page: Page) -> None:
    """The "How a VAE works" accordion, open on a first visit: the diagram, a few sentences, a digit to try."""
    with gr.Accordion("How a VAE works", open=True, elem_id="overview"):
        with gr.Row():
            # The diagram needs about 700 px for x -> encoder -> mean, sd -> z -> decoder -> x' in one line: where the
            # row has less room beside the digit's column (a projector's 1024 px), that column goes under it.
            with gr.Column(scale=2, min_width=DIAGRAM_WIDTH):
                gr.HTML(DIAGRAM, elem_id="ov-diagram")
                page.worded(gr.Markdown, {"value": PROSE}, elem_id="ov-prose")
            with gr.Column(scale=1, min_width=280):
                digit = digit_input(page, "{One} for the diagram", "overview")
        encode_btn = gr.Button("Encode", visible="hidden")
        encoded = gr.JSON(visible="hidden", elem_id="ov-encoded")

    def on_overview(name: str, upload: str | None = None, sketch: dict | None = None) -> dict:
        """Encode a digit (upload, else drawing, else the dataset's first example): mean and sd per dimension,
        the KL of q(z|x) from the prior, the 28x28 digit seen, and the label a conditional model reads."""
        loaded = page.models.pick(name)
        opening = is_empty(upload, sketch)
        x = read_digit(loaded, first_example(loaded.dataset) if opening else upload, sketch)
        return {encoded: encoding(loaded, compute.read(loaded, x), opening)}

    show = {"fn": None, "inputs": [encoded], "js": "(q) => { window.vaeOverview?.show(q); }"}
    inputs = [page.model, *digit.components]
    for event in on_button_and_live(encode_btn, [digit], on_overview, inputs, [encoded], "overview", **IMAGES):
        event.then(**show)
    # A new model reads the same digit (the first example until the visitor gives one), as does the first load.
    gr.on([page.model.change, demo.load], gently(on_overview, warn=False), inputs, [encoded],
          js=drawings_js(inputs, digit), api_visibility="private", **IMAGES).then(**show)
