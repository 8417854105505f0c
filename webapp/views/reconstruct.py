"""Reconstruct: your digit, where it was found, what the model sees, its reconstruction, and its ELBO taken apart.

The page reads a digit once per click, stroke or upload: one handler finds the digit once, encodes it once and
fills every output. `/reconstruct`, `/locate` and `/anatomy` stay named API endpoints, each a part of that work.
"""

import gradio as gr
import pandas as pd

from pictures.digitize import Reading
from pictures.uploads import ImageError
from vae.loaded import LoadedModel
from vae.render import boxed_thumbnail, grid_image
from webapp import compute
from webapp.anatomy import (
    POSTERIOR_COLOURS,
    Anatomy,
    anatomy_plots,
    describe_anatomy,
    posterior_anatomy,
    score_percentile,
)
from webapp.digit_input import (
    Picture,
    digit_input,
    gently,
    is_empty,
    on_button_and_live,
    open_picture,
    opening_example,
    opens_on_examples,
    read_digit,
    rereads_after_a_switch,
)
from webapp.outputs import big, png
from webapp.page import IMAGES, Page, reveal
from webapp.words import dataset_name, reword, term

# The example a first look at the view reads (a 4; a coat); for another dataset, its first example.
OPENING = {"mnist": "digit-4-1-test0004.png", "fashion-mnist": "4-coat-1-test0006.png"}
# Texts name the pictures as {one}, {many}, {subject}: webapp.words.reword fills them in for the model's dataset.
INTRO = (f"Give the model {{a_one}}: the encoder reads it into a code, the decoder draws it back. How close the "
         f"drawing comes, and how likely the model finds your {{one}} (its {term('negative ELBO')}, lower is better), "
         "show what it has learnt of {subject}. The view opens on an example from the test set: pick another, upload "
         "a photo of your own {subject}, or draw one.")
# The anatomy plots' x axis: place 1 is the top slider of Latent sliders; the tooltip names the dimension (z14).
DIMENSION_AXIS = "dimension, in slider order"


def reconstruct_view(page: Page) -> None:
    """The Reconstruct tab: a digit input beside its pictures, the ELBO of the digit under them."""
    with gr.Tab("Reconstruct", id="tab-reconstruct", elem_id="tab-reconstruct") as tab:
        page.worded(gr.Markdown, {"value": INTRO}, elem_id="recon-intro")
        with gr.Row():
            with gr.Column():
                digit = digit_input(page, "Your {one}", "reconstruct")
                rec_btn = gr.Button("Reconstruct", variant="primary")
            with gr.Column():
                with gr.Row(elem_id="recon-pictures"):
                    # Fixed heights leave room above each image for its label, which would cover the top.
                    where = page.worded(gr.Image, {"alt_text": "Your picture, with a box around the {one} found in it"},
                                        label="Found here", elem_id="where", format="png", interactive=False,
                                        height=240, buttons=["fullscreen"])
                    seen = page.worded(gr.Image, {"alt_text": "The 28x28 {one} the model reads, cut and scaled as the "
                                                              "training {many} were"},
                                       label="The model sees", elem_id="seen", format="png", interactive=False,
                                       height=240)
                    recon = page.worded(gr.Image, {"alt_text": "The reconstruction: the decoding of your {one}'s code"},
                                        label="Reconstruction", elem_id="recon", format="png", interactive=False,
                                        height=240)
                where_note = gr.Markdown(elem_id="where-note")
                samples = page.worded(gr.Image, {"alt_text": "Decodings of codes drawn from your {one}'s posterior"},
                                      label="Samples from the posterior: the model's uncertainty", format="png",
                                      elem_id="recon-samples", interactive=False, height=260)
                score = gr.Markdown(elem_id="score")
        terms, kl, posterior, histogram = anatomy_accordion(page)
        api_only = gr.Button(visible="hidden")  # the endpoints of each part, for API clients
        opens_on_examples(page, tab, [digit], opening_example(OPENING))

    def pictures(loaded: LoadedModel, q: compute.Posterior, a: Anatomy) -> dict:
        """What the model sees, its reconstruction, posterior samples, and how typical the image is."""
        out = compute.reconstruction(loaded, q)
        return {seen: big(q.x[0]), recon: big(out["reconstruction"]), samples: png(grid_image(out["samples"], 4, 3)),
                score: compute.describe_score(a.nelbo, score_percentile(loaded, a), loaded.dataset)}

    def plots(loaded: LoadedModel, a: Anatomy) -> dict:
        """The ELBO of the image taken apart: its two terms, the KL per dimension, the posterior, the score's place."""
        data = anatomy_plots(loaded, a)
        return {terms: describe_anatomy(a, score_percentile(loaded, a), loaded.dataset),
                kl: pd.DataFrame(data["kl"]), posterior: pd.DataFrame(data["posterior"]),
                histogram: pd.DataFrame(data["histogram"])}

    def on_read(name: str, upload: str | None, sketch: dict | None) -> dict:
        """Everything the tab shows, from one reading and one encoding of the digit."""
        loaded = page.models.pick(name)
        try:
            thumbnail, note, reading = locate(loaded, open_picture(upload, sketch))
        except ImageError as e:
            raise gr.Error(str(e)) from None
        if reading is None:  # no digit: the picture, unboxed, with the reason, and nothing else
            return {where: thumbnail, where_note: note, seen: None, recon: None, samples: None, score: "", terms: "",
                    kl: None, posterior: None, histogram: None}
        q = compute.read(loaded, reading.digit)
        a = posterior_anatomy(loaded, q)
        return {where: thumbnail, where_note: note, **pictures(loaded, q, a), **plots(loaded, a)}

    def on_reconstruct(name: str, upload: str | None, sketch: dict | None) -> dict:
        """What the model sees, its reconstruction, posterior samples, and how typical the image is."""
        loaded = page.models.pick(name)
        q = compute.read(loaded, read_digit(loaded, upload, sketch))
        return pictures(loaded, q, posterior_anatomy(loaded, q))

    def on_locate(name: str, upload: str | None, sketch: dict | None = None) -> tuple[str | None, str]:
        """The picture (upload, else drawing) as a thumbnail with the digit's box drawn on it, and what was found."""
        loaded = page.models.pick(name)
        if is_empty(upload, sketch):
            return None, ""
        try:
            return locate(loaded, open_picture(upload, sketch))[:2]
        except ImageError as e:
            return None, f"**{e}**"

    def on_anatomy(name: str, upload: str | None, sketch: dict | None) -> dict:
        """The ELBO of the image taken apart: its two terms, the KL per dimension, the posterior, the score's place."""
        loaded = page.models.pick(name)
        return plots(loaded, posterior_anatomy(loaded, compute.read(loaded, read_digit(loaded, upload, sketch))))

    inputs = [page.model, *digit.components]
    read_outputs = [where, where_note, seen, recon, samples, score, terms, kl, posterior, histogram]
    # The page's own reading (private): on a click, and as soon as a stroke ends or an upload or example arrives.
    on_button_and_live(rec_btn, [digit], on_read, inputs, read_outputs, "read", api_visibility="private", **IMAGES)
    rereads_after_a_switch(page, tab, [digit], on_read, inputs, read_outputs, **IMAGES)
    # On a phone the pictures sit under the input: bring them up on a click or a picked picture (not a stroke,
    # which may be the first of several, nor the opening example, which would scroll past the input).
    gr.on([rec_btn.click, *digit.picks], None, js=reveal("#recon-pictures"))
    api_only.click(gently(on_reconstruct), inputs, [seen, recon, samples, score], api_name="reconstruct", **IMAGES)
    api_only.click(gently(on_locate), inputs, [where, where_note], api_name="locate", **IMAGES)
    api_only.click(gently(on_anatomy), inputs, [terms, kl, posterior, histogram], api_name="anatomy", **IMAGES)


def locate(loaded: LoadedModel, picture: Picture) -> tuple[str, str, Reading | None]:
    """The picture as a thumbnail with the digit's box drawn on it, what was found (or why nothing was), and the
    reading (None without a digit)."""
    try:
        reading = picture.read(loaded)
    except ImageError as e:
        return png(boxed_thumbnail(picture.image, None)), f"**{e}**", None
    return png(boxed_thumbnail(picture.image, reading.box)), found_note(loaded, reading), reading


def found_note(loaded: LoadedModel, reading: Reading) -> str:
    """What the view says beside the boxed picture: which mark was read, if there were several, and what the box is."""
    found = reword(f"The box shows where the {{one}} was found; the model sees only what is inside it, scaled as "
                   f"{dataset_name(loaded.dataset)} was.", loaded.dataset)
    return f"{reading.note} {found}" if reading.note else found


def anatomy_accordion(page: Page) -> tuple[gr.Markdown, gr.BarPlot, gr.ScatterPlot, gr.LinePlot]:
    """Under the reconstruction: the digit's negative ELBO taken apart, in words and in three plots."""
    with page.worded(gr.Accordion, {"label": "The ELBO of your {one}"}, open=True, elem_id="anatomy"):
        terms = gr.Markdown(elem_id="anatomy-terms")
        with gr.Row():
            kl = page.worded(gr.BarPlot, {"label": "KL of each latent dimension: your {one}, and the test set's "
                                                   "average"},
                             x="place", y="KL (nats)", color="series", tooltip=["dimension"], x_title=DIMENSION_AXIS,
                             elem_id="kl-plot", color_map={"this image": "#e0457b", "test-set average": "#8a8a8a"})
            posterior = page.worded(
                gr.ScatterPlot, {"label": "Your {one}'s posterior q(z|x), mean ± 1 sd, against the prior N(0, 1)"},
                x="place", y="z", color="series", tooltip=["dimension"], x_title=DIMENSION_AXIS, y_title="z",
                elem_id="posterior-plot", color_map=POSTERIOR_COLOURS)
        histogram = page.worded(gr.LinePlot, {"label": "How typical is your {one}? The test set's negative ELBO, and "
                                                       "yours"},
                                x="negative ELBO (nats)", y="test images per bin", color="series",
                                elem_id="score-histogram", color_map={"test set": "#8a8a8a", "this image": "#e0457b"})
    return terms, kl, posterior, histogram
