"""Interpolate: a path through latent space between two digits, as a strip, a GIF, and a scrubber the page decodes."""

import gradio as gr

from vae.render import gif_bytes, grid_image
from webapp import compute
from webapp.digit_input import (
    digit_input,
    digit_label,
    drawings_js,
    example_named,
    gently,
    on_button_and_live,
    opens_on_examples,
    read_digits,
    rereads_after_a_switch,
)
from webapp.outputs import OUTPUTS, SCALE, png
from webapp.page import IMAGES, Page, digit_canvas, reveal
from webapp.words import term

SCRUB_STEPS = 101  # positions of the interpolation scrubber
# The two examples a first look at the view walks between (a 2 that passes a 3 on its way to a 7; a sneaker that grows
# into an ankle boot); for another dataset, its first and last examples.
OPENING_ENDS = {"mnist": ("digit-2-1-test0001.png", "digit-7-1-test0000.png"),
                "fashion-mnist": ("7-sneaker-1-test0009.png", "9-ankle-boot-1-test0000.png")}
# Texts name the pictures as {one}, {many}: webapp.words.reword fills them in for the model's dataset.
INTRO = (f"Pick two {{many}}: the encoder reads each into its code (its {term('posterior')} mean), and the decoder "
         f"draws every step of a path from one code to the other. The VAE's {term('prior')} packs the codes of all "
         "{many} close together, so the steps between two {many} still look like {many}. **Linear** walks the "
         "straight line; **spherical** keeps the codes as long as the prior's typical code, where a straight line "
         "between two codes would pass through the faint middle. The view opens on a path between two examples: "
         "pick your own.")


def opening_ends(dataset: str) -> tuple[str, str]:
    """The From and To pictures the view first shows a path between."""
    first, last = OPENING_ENDS.get(dataset, (None, None))
    return example_named(dataset, first, 0), example_named(dataset, last, -1)


def interpolate_view(page: Page) -> None:
    """Two digit inputs, the path's settings, and the path shown three ways."""
    with gr.Tab("Interpolate", id="tab-interpolate", elem_id="tab-interpolate") as tab:
        page.worded(gr.Markdown, {"value": INTRO}, elem_id="interp-intro")
        with gr.Row():
            with gr.Column(elem_id="interp-from"):
                a = digit_input(page, "From", "from")
            with gr.Column(elem_id="interp-to"):
                b = digit_input(page, "To", "to")
        with gr.Row():
            steps = gr.Slider(2, 20, value=10, step=1, label="Steps", elem_id="interp-steps")
            method = gr.Radio(["linear", "spherical"], value="spherical", label="Path")
        interp_btn = gr.Button("Interpolate", variant="primary")
        strip = page.worded(gr.Image, {"alt_text": "The path through latent space: the {many} decoded at each step "
                                                   "from one end to the other"},
                            label="Path through latent space", elem_id="interp-strip", format="png", interactive=False)
        gr.HTML('<input type="range" min="0" max="100" value="50" step="1" disabled '
                'aria-label="Scrub along the path">' + digit_canvas("Interpolate first, then scrub the path."),
                elem_id="interp-scrub", label="Scrub along the path (decoded in your browser)", show_label=True,
                container=True)
        path = gr.JSON(visible="hidden")
        gif = gr.Image(label="Animation (GIF)", elem_id="gif", type="filepath", interactive=False,
                       buttons=["download", "fullscreen"], alt_text="An animation walking the path there and back")
        opens_on_examples(page, tab, [a, b], opening_ends)

    def ends(name: str, up_a: str | None, sk_a: dict | None, up_b: str | None, sk_b: dict | None) -> tuple:
        """The model, both images, and their labels."""
        loaded = page.models.pick(name)
        xa, xb = read_digits(loaded, {"From": (up_a, sk_a), "To": (up_b, sk_b)})
        return loaded, xa, xb, (digit_label(loaded, xa), digit_label(loaded, xb))

    def shown(read: tuple, steps: float, method: str) -> dict:
        """The strip and the animated GIF of a path between two ends already read (`ends`)."""
        loaded, xa, xb, labels = read
        frames = compute.interpolation(loaded, xa, xb, int(steps), method, labels)
        return {strip: png(grid_image(frames, nrow=int(steps), scale=3)),
                gif: OUTPUTS.save(gif_bytes(frames, scale=SCALE), "interpolation.gif")}

    def scrub_path(read: tuple, method: str) -> dict:
        """A dense path of codes (and labels) between two ends already read (`ends`), which the page's scrubber
        decodes."""
        loaded, xa, xb, labels = read
        z, y = compute.interpolation_path(loaded, xa, xb, SCRUB_STEPS, method, labels)
        return {"codes": z.tolist(), "labels": None if y is None else y.tolist()}

    def on_interpolate(name: str, up_a: str | None, sk_a: dict | None, up_b: str | None, sk_b: dict | None,
                       steps: float, method: str) -> dict:
        """A strip and an animated GIF from one image to the other."""
        return shown(ends(name, up_a, sk_a, up_b, sk_b), steps, method)

    def on_interp_path(name: str, up_a: str | None, sk_a: dict | None, up_b: str | None, sk_b: dict | None,
                       method: str) -> dict:
        """The scrubber's path between the two images."""
        return scrub_path(ends(name, up_a, sk_a, up_b, sk_b), method)

    interp_btn.click(None, js=reveal("#interp-strip"))  # the result comes below the two inputs
    inputs = [page.model, *a.components, *b.components]
    set_path = {"fn": None, "inputs": path, "js": "p => { window.vaePage?.setPath(p); }"}  # the scrubber walks it
    # The scrubber's path is a second call on the same inputs; a refused input was already said once.
    for event, suffix in zip(on_button_and_live(interp_btn, [a, b], on_interpolate, [*inputs, steps, method],
                                                [strip, gif], "interpolate", **IMAGES), ("", "_live"), strict=True):
        event.then(gently(on_interp_path, warn=False), [*inputs, method], path,
                   api_name=f"interpolation_path{suffix}", api_visibility="private",
                   js=drawings_js([*inputs, method], a, b), **IMAGES).then(**set_path)

    def on_new_model(name: str, up_a: str | None, sk_a: dict | None, up_b: str | None, sk_b: dict | None,
                     steps: float, method: str) -> dict:
        """The strip, the GIF and the scrubber's path, from a model just chosen."""
        read = ends(name, up_a, sk_a, up_b, sk_b)  # read and encoded once for all three
        return {**shown(read, steps, method), path: scrub_path(read, method)}

    for event in rereads_after_a_switch(page, tab, [a, b], on_new_model, [*inputs, steps, method], [strip, gif, path],
                                        **IMAGES):
        event.then(**set_path)
