"""Latent sliders: one slider per latent dimension, decoded by the page; a digit to start from; the traversal grid."""

import gradio as gr

from vae.latent import TRAVERSAL_SPAN, prior_sample
from vae.loaded import LoadedModel
from webapp import compute
from webapp.decoder_spec import grey_base64
from webapp.digit_input import digit_input, on_button_and_live, read_digit
from webapp.labelled_grid import traversal_picture
from webapp.outputs import big, png
from webapp.page import FAST, IMAGES, Page, digit_canvas, reveal
from webapp.words import slider_info, sliders_note, term

TOP_SLIDERS = 10  # shown at once; the rest sit under "more dimensions"
TRAVERSAL_ALT = ("Traversal grid: each row is one latent dimension, named at its left with its KL; each column sets "
                 f"that dimension to the value at its top, from -{TRAVERSAL_SPAN:g} to +{TRAVERSAL_SPAN:g}")


def slider(i: int, ranking: list[int]) -> gr.Slider:
    """The slider of the i-th most informative latent dimension, named after the first model's dimension there
    (each model switch renames it), so that nothing on the page ever calls it by its position."""
    name = compute.dimension_name(ranking[i] if i < len(ranking) else i)
    return gr.Slider(-compute.SLIDER_RANGE, compute.SLIDER_RANGE, value=0, step=0.05, label=name, elem_id=f"z-{i}")


INTRO = (f"Each slider is one number of the {term('latent code z', 'code z')}: move one and your browser redraws "
         f"the {{one}} from the new code. They span ±{compute.SLIDER_RANGE:g}, where the {term('prior')} puts almost "
         "every code. **Reset to origin** sets them all to 0, the prior's middle, where the codes of every class meet: "
         "the model often draws a blend of {many} there. **Random point** draws a code from the prior, as Random "
         "samples does.")


def sliders_view(page: Page) -> None:
    """One slider per latent dimension; the page decodes each move itself, the server on request."""
    models, n = page.models, page.models.max_dims
    with gr.Tab("Latent sliders", id="tab-sliders", elem_id="tab-sliders"):
        with gr.Row():
            # The decoded digit stays in view (sticky) while the sliders or "Start from a digit" scroll.
            with gr.Column(scale=2, min_width=240, elem_id="decoded-col"):
                gr.HTML(digit_canvas(label="The sliders' code, decoded"), elem_id="decoded",
                        label="Decoded", show_label=True, container=True)
                # The server's decoding, for API clients and for a page that cannot decode itself.
                decoded_server = gr.Image(label="Decoded", elem_id="decoded-server", format="png",
                                          interactive=False, visible="hidden", alt_text="The sliders' code, decoded")
                server_decode = gr.Button("Decode on the server", elem_id="server-decode", visible="hidden")
                # Until the page's decoder has loaded, its drags come here: the digit as grey levels in the answer
                # itself (no PNG to fetch after it), and no traversal for every move.
                page_decode = gr.Button("Decode for the page", elem_id="server-decode-page", visible="hidden")
                page_digit = gr.Textbox(elem_id="server-digit", visible="hidden")
                with gr.Row():
                    origin_btn = gr.Button("Reset to origin")
                    random_btn = gr.Button("Random point")
                seed = gr.Number(0, label="Seed (0: a new point each time)", precision=0)
            with gr.Column(scale=3, min_width=300, elem_id="traversal-col"):
                # No buttons: they would cover the column headers; the grid is drawn at full size already.
                grid = gr.Image(label="Traversal", show_label=False, elem_id="traversal", format="png",
                                interactive=False, buttons=[], alt_text=TRAVERSAL_ALT)
                # Its caption below it, so that the grid starts level with the decoded digit (on a projector too).
                gr.Markdown(f"**Traversal**: each row moves one dimension (named at its left, with its KL) from "
                            f"-{TRAVERSAL_SPAN:g} to +{TRAVERSAL_SPAN:g}, the others held where the sliders are.")
            with gr.Column(scale=3, min_width=300):  # what the sliders are, above them: the traversal stays high
                page.worded(gr.Markdown, {"value": INTRO}, elem_id="sliders-intro")
                note = gr.Markdown(sliders_note(page.first) if page.first else "", elem_id="unused-note")
                first = page.first.ranking if page.first else []
                sliders = [slider(i, first) for i in range(min(TOP_SLIDERS, n))]
                with gr.Accordion("More dimensions", open=False) as more:
                    sliders += [slider(i, first) for i in range(TOP_SLIDERS, n)]
                page.sliders, page.decoded = sliders, decoded_server
                start_from_digit(page)
        traversal(page, grid)

    def on_slide(name: str, label: int, *values: float) -> str:
        """Decode the slider position (the hot path: one decode, nothing else)."""
        return big(compute.decode_sliders(models.pick(name), list(values), label))

    def on_slide_for_the_page(name: str, label: int, *values: float) -> str:
        """The same decode, for static/page.js: "model:the slider values decoded:grey levels in base64"."""
        grey = grey_base64(compute.decode_sliders(models.pick(name), list(values), label))
        return f"{name}:{','.join(str(float(v)) for v in values)}:{grey}"

    def on_origin(name: str, label: int) -> dict:
        """Sliders to the origin, and its decoding."""
        return page.set_sliders(models.pick(name), label, [0.0] * n)

    def on_random_point(name: str, label: int, seed: float | None) -> dict:
        """Sliders to a random point of the prior (seed 0 or empty: a new one each time), and its decoding."""
        loaded = models.pick(name)
        z = prior_sample(1, loaded.latent_dim, seed=int(seed) if seed else None)
        return page.set_sliders(loaded, label, models.slider_values(loaded, z))

    def on_model(loaded: LoadedModel) -> dict:
        """Sliders labelled for the model's dimensions, most informative first, at its origin."""
        kl, d, rank = loaded.metadata.metrics.kl_per_dim, loaded.latent_dim, loaded.ranking
        return {decoded_server: big(compute.decode_sliders(loaded, [], 0)), more: gr.update(visible=d > TOP_SLIDERS),
                **{s: gr.update(visible=i < d, value=0.0, label=compute.dimension_name(rank[i]) if i < d else "",
                                info=slider_info(kl[rank[i]]) if i < d else None)
                   for i, s in enumerate(sliders)}}

    page.on_model.append(([decoded_server, more, *sliders], on_model))
    page.on_model_page.append(([note], lambda loaded: {note: sliders_note(loaded)}))
    inputs = [page.model, page.label, *sliders]
    # Slider drags decode in the page (static/page.js); it clicks this hidden button only when it cannot.
    server_decode.click(on_slide, inputs, decoded_server, api_name="decode", **FAST)
    page_decode.click(on_slide_for_the_page, inputs, page_digit, api_visibility="private", **FAST).then(
        None, page_digit, js="d => { window.vaePage?.serverDigit(d); }")
    page.label.change(on_slide, inputs, decoded_server, api_name="decode_label", **FAST).then(**page.show())
    to_sliders = [decoded_server, *sliders]
    origin_btn.click(on_origin, [page.model, page.label], to_sliders, api_name="origin").then(**page.show())
    random_btn.click(on_random_point, [page.model, page.label, seed], to_sliders,
                     api_name="random_point").then(**page.show())


def traversal(page: Page, grid: gr.Image) -> None:
    """Beside the sliders: what each top dimension does from where the sliders are, -3 to +3 along it."""

    def on_traversal(name: str, label: int, *values: float) -> str:
        """The traversal grid from the sliders' point: one row per top dimension, -3 to +3 along it."""
        loaded = page.models.pick(name)
        return png(traversal_picture(loaded, compute.slider_traversal(loaded, list(values), label)))

    # A grid is 70 decodes: on the server, when a slider is let go or the server moved the sliders.
    gr.on([*(s.release for s in page.sliders), page.decoded.change], on_traversal,
          [page.model, page.label, *page.sliders], grid, api_name="traversal", trigger_mode="always_last",
          show_progress="hidden", **IMAGES)


def start_from_digit(page: Page) -> None:
    """Under the sliders: set them to the code of a real digit (an example, an upload or a drawing), to edit it.

    A click on an example, an upload or a stroke sets them at once; `/encode` stays for API clients, on a hidden
    button.
    """
    with page.worded(gr.Accordion, {"label": "Start from {a_one}"}, open=False, elem_id="start-from-digit"):
        page.worded(gr.Markdown, {"value": "Pick, upload or draw {a_one}: the sliders move to its code, and you can "
                                           "edit it from there."})
        digit = digit_input(page, "{One} to edit", "encode")
        encode_btn = gr.Button("Set the sliders to this digit's code", visible="hidden")

    def on_encode(name: str, upload: str | None, sketch: dict | None) -> dict:
        """Sliders to the code of an image, so the user can edit a real digit."""
        loaded = page.models.pick(name)
        q = compute.read(loaded, read_digit(loaded, upload, sketch))
        label = q.label or 0
        return {**page.set_sliders(loaded, label, page.models.slider_values(loaded, q.mean[0])),
                page.label: gr.update(value=label)}

    for event in on_button_and_live(encode_btn, [digit], on_encode, [page.model, *digit.components],
                                    [page.decoded, page.label, *page.sliders], "encode", **IMAGES):
        event.then(**page.show()).then(None, js=reveal("#decoded"))
