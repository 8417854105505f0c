"""Every class: a conditional model decodes the style of your picture with every label."""

import gradio as gr

from vae.loaded import LoadedModel
from vae.render import grid_image
from webapp import compute
from webapp.digit_input import digit_input, on_button_and_live, opening_example, opens_on_examples, read_digit
from webapp.outputs import png
from webapp.page import IMAGES, Page
from webapp.views.guide import first_fit, needs_model

# Texts name the pictures as {one}: webapp.words.reword fills it in for the model's dataset.
INTRO = ("Conditional model: the code keeps the *style* of your {one}, the label sets its *class*. The view opens on "
         "an example: pick another, or draw one.")
OPENING = {"mnist": "digit-2-2-test0035.png"}  # the digit whose style a first look at the view shows (a 2)
COLUMNS = 5  # the decodings in rows of five: on a phone each is twice as large as in one row of ten


def conditional(loaded: LoadedModel) -> bool:
    """Whether the model is told the class (so it can decode a style as every class)."""
    return loaded.conditional


def every_class_view(page: Page) -> None:
    """A conditional model's decoding of your picture's style with every label."""
    shown = first_fit(page.models.models, conditional) is not None
    with gr.Tab("Every class", visible=shown, id="tab-every", elem_id="tab-every") as tab:
        needs_model(page, conditional, "a conditional model (one told the class of each picture it learnt from)",
                    "tab-every")
        page.worded(gr.Markdown, {"value": INTRO}, elem_id="every-intro")
        digit = digit_input(page, "Your {one}", "every")
        every_btn = gr.Button("Decode with every label", variant="primary")
        text = gr.Markdown()
        row = page.worded(gr.Image, {"alt_text": "Your {one}'s style decoded as every class in order, five to a row"},
                          label="Same style, every class", elem_id="every-row", format="png", interactive=False)
        opens_on_examples(page, tab, [digit], opening_example(OPENING), conditional)

    def on_every_label(name: str, upload: str | None, sketch: dict | None) -> dict:
        """Same style, every class: the decodings in class order, in rows of COLUMNS."""
        loaded = page.models.pick(name)
        x = read_digit(loaded, upload, sketch)
        if not loaded.conditional:
            raise gr.Error("Pick a conditional model (its name starts with 'c') for this view.")
        decoded, label = compute.every_label(loaded, x)
        names = loaded.class_names
        return {row: png(grid_image(decoded, nrow=COLUMNS, scale=3)),
                text: f"Read as **{names[label]}**; decoded as every class, {names[0]} to {names[-1]} in rows of "
                      f"{COLUMNS}:"}

    page.on_model.append(([tab], lambda loaded: {tab: gr.update(visible=shown)}))  # needs_model offers the switch
    on_button_and_live(every_btn, [digit], on_every_label, [page.model, *digit.components], [row, text],
                       "every_label", **IMAGES)
