"""Explore a Variational Autoencoder's latent space in the browser: `python app.py`.

Layout and event wiring only: every computation lives in vae/ (vae.explore) and is tested there.
`create_demo(weights_dir)` builds the page for the *.safetensors files in a folder (by default
weights/, or $VAE_WEIGHTS_DIR), loaded once; `demo` is that page for `gradio app.py` and Spaces.
Each view is one function that makes its components and wires their events.
"""

import ctypes
import inspect
import io
import json
import os
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
import torch
from PIL import Image
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from vae import explore, teach
from vae.anatomy import describe_anatomy
from vae.compare import EXPLANATION, by_model_markdown
from vae.digitize import describe
from vae.loaded import LoadedModel, default_model, load_models
from vae.outputs import OutputFiles
from vae.readings import read_drawing, read_upload
from vae.render import boxed_thumbnail, gif_bytes, grid_image, to_image
from vae.traversal import TRAVERSAL_ROWS, TRAVERSAL_SPAN, TRAVERSAL_STEPS
from vae.uploads import ImageError, open_image
from vae.webpage import page_source, page_spec

HERE = Path(__file__).parent
# One-click inputs per dataset: real test images, shipped as small PNGs.
EXAMPLES = {"mnist": sorted(str(p) for p in (HERE / "examples").glob("*.png")),
            "fashion-mnist": sorted(str(p) for p in (HERE / "examples" / "fashion-mnist").glob("*.png"))}
TOP_SLIDERS = 10  # shown at once; the rest sit under "more dimensions"
SCALE = 8  # 28 px -> 224 px, nearest neighbour
MAX_FILE_SIZE = "10mb"
CSS = ("img, canvas { image-rendering: pixelated; }"  # keep 28x28 pixels crisp at any display size
       " .gradio-container { overflow: clip !important; }"  # clips as Gradio's overflow: hidden, but lets sticky work
       # A phone: the decoded digit, small, and its buttons stay on top while the sliders scroll under them;
       # tab labels may wrap so that every view has a tab (Gradio hides the ones that overflow in a menu).
       " @media (max-width: 640px) {"
       " #decoded-col { position: sticky; top: 0; z-index: 50; display: grid !important;"
       " grid-template-columns: minmax(0, 45%) minmax(0, 1fr); gap: 8px; align-items: start;"
       " background: var(--background-fill-primary); padding: 4px 0 8px; }"
       " #decoded { grid-row: span 2; height: auto !important; }"
       " #decoded canvas.vae-digit { max-width: 150px; }"
       " .tab-wrapper, .tab-container { height: auto !important; }"
       " .tab-container button { white-space: normal; min-width: min-content; min-height: 44px; padding: 0 4px;"
       " font-size: 13px; line-height: 1.2; }"
       " }")
# The page's own scripts, served from static/ and loaded in <head>, in this order.
STATIC = HERE / "static"
PAGE_SCRIPTS = ["decoder.js", "page.js", "draw.js"]
SCRUB_STEPS = 101  # positions of the interpolation scrubber
MAP_CSS = (" canvas.vae-map { width: 100%; max-width: 480px; aspect-ratio: 1; touch-action: none; cursor: crosshair;"
           " display: block; margin: 1.5em auto 0; } canvas.vae-digit { max-width: 160px; }")
DIGIT_CSS = ("canvas.vae-digit { width: 100%; max-width: 280px; aspect-ratio: 1; display: block; margin: auto;"
             " background: #000; image-rendering: pixelated; }"
             " .vae-status { font-size: 0.85em; opacity: 0.8; min-height: 1.2em; }")
PAD_CSS = (".vae-pad-label { margin: 0 0 6px; font-size: var(--block-label-text-size);"
           " color: var(--block-label-text-color); }"
           " .vae-pad-canvas { display: block; width: 100%; max-width: 280px; aspect-ratio: 1; margin: auto;"
           " touch-action: none; cursor: crosshair; border: 1px solid var(--border-color-primary); }"
           " .vae-pad-tools { display: flex; gap: 8px; justify-content: center; align-items: center; margin-top: 6px; }"
           " .vae-pad-button { height: 44px; min-width: 80px; margin: 0; padding: 0 12px; border-radius: 6px;"
           " font: inherit; color: var(--body-text-color); border: 1px solid var(--border-color-primary);"
           " background: var(--button-secondary-background-fill); }")

# Slider events skip the browser's queue and, from API clients, run without a concurrency limit:
# a decode is too cheap to wait in line. Work on uploaded images shares two workers, one per core of a small Space.
FAST = {"show_progress": "hidden", "trigger_mode": "always_last", "queue": False, "concurrency_limit": None}
IMAGES = {"concurrency_id": "images", "concurrency_limit": 2}


def static_url(path: Path) -> str:
    """The URL, relative to the page, at which Gradio serves a file under a static path."""
    return f"gradio_api/file={path.resolve()}"


def page_head(models: dict[str, LoadedModel], weights_dir: Path) -> str:
    """<head> tags: each model's decoder spec for the page and the model it shows first, then the page's scripts."""
    paths = {name: page_source(weights_dir / f"{name}.safetensors") for name in models}
    specs = {name: page_spec(loaded, paths[name], static_url(paths[name])) for name, loaded in models.items()}
    first = json.dumps(default_model(models) if models else None)  # the page fetches its decoder at once
    scripts = "".join(f'<script src="{static_url(STATIC / name)}"></script>' for name in PAGE_SCRIPTS)
    data = json.dumps(specs).replace("</", "<\\/")  # no "</script>" inside the script
    return f"<script>window.VAE_MODELS = {data}; window.VAE_FIRST = {first};</script>{scripts}"


def digit_canvas(status: str = "") -> str:
    """HTML of a 28x28 canvas the page paints a decoded digit into, with a status line."""
    return ('<canvas class="vae-digit" width="28" height="28"></canvas>'
            f'<p class="vae-status" aria-live="polite">{status}</p>')


OUTPUTS = OutputFiles()


def png(image: Image.Image) -> str:
    """An image as a PNG output file."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)  # fast: the files are small at any level
    return OUTPUTS.save(buf.getvalue(), ".png")


def big(probs: torch.Tensor) -> str:
    """A 28x28 probability map as a large, crisp PNG."""
    return png(to_image(probs, SCALE))


def read_digit(loaded: LoadedModel, upload: str | None, sketch: dict | None) -> torch.Tensor:
    """The 28x28 input: the upload if there is one, else the drawing.

    The page sends only the one on view (static/draw.js), so a drawing made while an older
    upload sits in the other tab is what gets read.
    """
    composite = (sketch or {}).get("composite")
    try:
        if upload:
            return read_upload(upload, loaded.box_side).digit
        if composite is None:
            raise ImageError("No image yet: upload one, draw one, or click an example.")
        return read_drawing(composite, loaded.box_side).digit
    except ImageError as e:
        raise gr.Error(str(e)) from None


def digit_label(loaded: LoadedModel, x: torch.Tensor) -> int | None:
    """For a conditional model, the class it reads the image as."""
    return explore.infer_label(loaded, x) if loaded.conditional else None


class Explorer:
    """The loaded models, and the handlers that need nothing but them: each does one thing, by calling vae.explore."""

    def __init__(self, models: dict[str, LoadedModel]) -> None:
        self.models = models
        self.max_dims = max((m.latent_dim for m in models.values()), default=0)
        self._maps: dict[str, tuple[Image.Image, pd.DataFrame]] = {}
        self._grids: dict[str, Image.Image] = {}

    def pick(self, name: str) -> LoadedModel:
        """The loaded model called `name`, or a clear error."""
        if name not in self.models:
            raise gr.Error(f"Unknown model {name!r}; choose one of {', '.join(self.models)}.")
        return self.models[name]

    def read(self, name: str, upload: str | None, sketch: dict | None) -> tuple[LoadedModel, torch.Tensor]:
        """The model called `name`, and the digit input (upload, else drawing) read for it."""
        loaded = self.pick(name)
        return loaded, read_digit(loaded, upload, sketch)

    def slider_values(self, loaded: LoadedModel, z: torch.Tensor) -> list[float]:
        """Values for all max_dims sliders from a latent code."""
        return explore.slider_values(z, loaded.ranking, self.max_dims)

    def on_slide(self, name: str, label: int, *values: float) -> str:
        """Decode the slider position (the hot path: one decode, nothing else)."""
        return big(explore.decode_sliders(self.pick(name), list(values), label))

    def on_map_point(self, name: str, label: int, z1: float, z2: float) -> str:
        """Decode one point of a 2-D latent space (latent dims 0 and 1, whatever their slider order)."""
        loaded, point = self.pick(name), {0: z1, 1: z2}
        return big(explore.decode_sliders(loaded, [point.get(d, 0.0) for d in loaded.ranking], label))

    def on_samples(self, name: str, label: int, n: float, temperature: float, seed: float) -> str:
        """A grid of prior samples."""
        probs = explore.random_samples(self.pick(name), int(n), float(temperature), int(seed), label)
        return png(grid_image(probs, nrow=min(int(n), 8), scale=3))

    def on_locate(self, name: str, upload: str | None, sketch: dict | None = None) -> tuple[str | None, str]:
        """The picture (upload, else drawing) as a thumbnail with the digit's box drawn on it, and what was found."""
        composite = (sketch or {}).get("composite")
        if not upload and composite is None:
            return None, ""
        try:
            picture = open_image(upload) if upload else Image.fromarray(composite)
        except ImageError as e:
            return None, f"**{e}**"
        try:
            box = self.pick(name).box_side
            reading = read_upload(upload, box) if upload else read_drawing(composite, box)
        except ImageError as e:  # no digit: show the picture, unboxed, with the reason
            return png(boxed_thumbnail(picture, None)), f"**{e}**"
        return png(boxed_thumbnail(picture, reading.box)), describe(reading)

    def latent_map(self, name: str) -> tuple[Image.Image, pd.DataFrame]:
        """The 2-D model's decoded manifold and test-code table, computed once per model."""
        if name not in self._maps:
            loaded = self.pick(name)
            manifold = grid_image(explore.manifold(loaded, 20, 0), nrow=20)
            self._maps[name] = manifold, pd.DataFrame(explore.code_map(loaded))
        return self._maps[name]

    def on_random_example(self, name: str) -> str:
        """A random test image of the chosen model's dataset, as an upload."""
        return random.choice(EXAMPLES[self.pick(name).dataset])

    def on_example(self, name: str, index: int) -> str:
        """The example clicked in a gallery of thumbnails, as an upload."""
        return EXAMPLES[self.pick(name).dataset][index]

    def on_traversal(self, name: str, label: int, *values: float) -> str:
        """The traversal grid from the sliders' point: one row per top dimension, -3 to +3 along it."""
        grid = teach.slider_traversal(self.pick(name), list(values), label)
        return png(grid_image(grid, nrow=TRAVERSAL_STEPS, scale=2))

    def family_grid(self, name: str) -> Image.Image:
        """A compared model's traversal grid from the origin, made once."""
        if name not in self._grids:
            self._grids[name] = grid_image(teach.slider_traversal(self.pick(name), [], 0), nrow=TRAVERSAL_STEPS,
                                           scale=2)
        return self._grids[name]


@dataclass
class Page:
    """What every view shares: the models, the model and class pickers, and what a model switch updates.

    A view adds `(components, update)` to `on_model`, where `update(loaded)` gives each component's update;
    `create_demo` wires them all to the model picker at once.
    """

    explorer: Explorer
    model: gr.Dropdown
    label: gr.Dropdown
    on_model: list[tuple[list, Callable[[LoadedModel], dict]]] = field(default_factory=list)
    digits: list["DigitInput"] = field(default_factory=list)
    sliders: list[gr.Slider] = field(default_factory=list)
    decoded: gr.Image | None = None  # the server's decoding of the sliders

    def set_sliders(self, loaded: LoadedModel, label: int | None, values: list[float]) -> dict:
        """The sliders set to `values`, and the server's decoding of them."""
        decoded = big(explore.decode_sliders(loaded, values, label))
        return {self.decoded: decoded, **dict(zip(self.sliders, values, strict=True))}

    def show(self) -> dict:
        """The `.then` of an event that set model, class or sliders: the page decodes what they now say."""
        return {"fn": None, "inputs": [self.model, self.label, *self.sliders],
                "js": "(m, l, ...v) => { window.vaePage?.show(m, l, v); }"}


@dataclass
class DigitInput:
    """One image input of the page: an upload, a drawing pad, and the value that carries a drawing to the server."""

    upload: gr.File
    sketch: gr.Sketchpad
    pad: str  # the id static/draw.js knows its drawing pad by
    examples: gr.Dataset
    drawn: gr.HTML  # the pad; its input event fires when a stroke ends, and at Undo and Clear

    @property
    def components(self) -> list[gr.components.Component]:
        """The handler inputs this digit input fills: the upload and the drawing."""
        return [self.upload, self.sketch]


def example_thumbnails(dataset: str) -> list[list[str]]:
    """The samples of an examples gallery: one picture per example of `dataset`, shown as a thumbnail."""
    return [[p] for p in EXAMPLES.get(dataset, [])]


def digit_input(page: Page, label: str, pad: str) -> DigitInput:
    """Upload tab (with example thumbnails and a random-example button) and Draw tab.

    Uploads arrive as plain files (gr.File, not gr.Image) so that vae.uploads, not
    Gradio, is the first to open them, and a bad file gets our clear message. The Draw tab is
    our own canvas (static/draw.js): Gradio's Sketchpad starts with no tool selected and tells
    the server of a stroke only after it has uploaded it. The Sketchpad stays, hidden, as the
    input API clients send drawings to and the page fills from its canvas at each event.
    """
    dataset = page.explorer.pick(page.model.value).dataset
    with gr.Tabs():
        with gr.Tab("Upload"):
            upload = gr.File(label=label, type="filepath", file_types=["image"], height=140)
            # A gallery of the pictures themselves (gr.Examples would show a File's examples as file names).
            examples = gr.Dataset(components=["image"], samples=example_thumbnails(dataset), type="index",
                                  layout="gallery", label="Examples from the test set", samples_per_page=20,
                                  elem_classes=["vae-examples"])
            examples.click(page.explorer.on_example, [page.model, examples], upload, api_name=f"example_{pad}",
                           api_visibility="private", queue=False)
            gr.Button("Random example", size="sm").click(page.explorer.on_random_example, page.model, upload,
                                                         queue=False, api_visibility="private")
        with gr.Tab("Draw"):
            drawn = gr.HTML(f'<p class="vae-pad-label">{label}</p>'
                            f'<div class="vae-pad" data-pad="{pad}" data-label="{label}"></div>',
                            js_on_load="element.vaeStroke = () => trigger('input'); window.vaeDraw?.mount(element);",
                            css_template=PAD_CSS)
            sketch = gr.Sketchpad(label=label, type="numpy", visible=False)
    digit = DigitInput(upload, sketch, pad, examples, drawn)
    page.digits.append(digit)
    return digit


def drawings_js(inputs: list, *digits: DigitInput) -> str:
    """The js of an event on `inputs` that puts in each digit input's drawing or upload, whichever is on view."""
    slots = [[d.pad, inputs.index(d.upload), inputs.index(d.sketch)] for d in digits]
    return f"(...values) => window.vaeDraw ? window.vaeDraw.inputs(values, {json.dumps(slots)}) : values"


def gently(handler: Callable[..., Any], warn: bool = True) -> Callable[..., Any]:
    """`handler`, except that when the app's own page calls it, a refused input is one warning
    (none if not `warn`) and the outputs stay as they were, instead of a red "Error" in every output.

    API clients still get the error. Gradio's page marks its calls with the header
    x-gradio-user: app (its clients send "api").
    """
    def run(request: gr.Request, *args: Any) -> Any:
        try:
            return handler(*args)
        except gr.Error as e:
            if request.headers.get("x-gradio-user") != "app":
                raise
            if warn:
                gr.Warning(e.message)
            return gr.skip()

    # Gradio reads API parameter names from the signature and passes the request by its annotation.
    request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request)
    run.__signature__ = inspect.signature(handler).replace(
        parameters=[request, *inspect.signature(handler).parameters.values()])
    run.__annotations__ = {**handler.__annotations__, "request": gr.Request}
    run.__name__, run.__doc__ = handler.__name__, handler.__doc__
    return run


def on_button_and_live(button: gr.Button, digits: list[DigitInput], handler: Callable[..., Any], inputs: list,
                       outputs: list, api_name: str, **options: Any) -> list[Any]:
    """Run `handler` on a click of `button` (API name `api_name`) and also, as soon as a stroke ends or an upload
    or example arrives in one of `digits` (a private API name ending in _live): the view updates without a click.

    Live events never warn: an empty pad after Clear, or the second input of two still empty, is no mistake.
    Returns the two events, the button's first, for chaining more steps.
    """
    js = drawings_js(inputs, *digits)
    live = [trigger for d in digits for trigger in (d.drawn.input, d.upload.change)]
    return [gr.on([button.click], gently(handler), inputs, outputs, api_name=api_name, js=js, **options),
            # always_last: a stroke that ends while the last one is read is read next, never dropped.
            gr.on(live, gently(handler, warn=False), inputs, outputs, api_name=f"{api_name}_live",
                  api_visibility="private", js=js, trigger_mode="always_last", **options)]


# ---- the views: each makes its components and wires their events ----

def model_picker(page: Page, info: gr.Markdown) -> None:
    """What a model switch does to the picker row: the model's info line, and its class picker."""
    def update(loaded: LoadedModel) -> dict:
        names = loaded.class_names
        return {info: loaded.describe(),
                page.label: gr.update(choices=list(zip(names, range(len(names)), strict=True)), value=0,
                                      visible=loaded.conditional)}
    page.on_model.append(([info, page.label], update))


def slider(i: int) -> gr.Slider:
    """The slider of the i-th most informative latent dimension."""
    return gr.Slider(-explore.SLIDER_RANGE, explore.SLIDER_RANGE, value=0, step=0.05, label=f"z{i}", elem_id=f"z-{i}")


def sliders_view(page: Page) -> None:
    """One slider per latent dimension; the page decodes each move itself, the server on request."""
    explorer, n = page.explorer, page.explorer.max_dims
    with gr.Tab("Latent sliders"):
        with gr.Row():
            with gr.Column(scale=1, elem_id="decoded-col"):
                gr.HTML(digit_canvas(), elem_id="decoded", label="Decoded", show_label=True, container=True,
                        css_template=DIGIT_CSS)
                # The server's decoding, for API clients and for a page that cannot decode itself.
                decoded_server = gr.Image(label="Decoded", elem_id="decoded-server", format="png",
                                          interactive=False, visible="hidden")
                server_decode = gr.Button("Decode on the server", elem_id="server-decode", visible="hidden")
                with gr.Row():
                    origin_btn = gr.Button("Reset to origin")
                    random_btn = gr.Button("Random point")
                seed = gr.Number(0, label="Seed (0: a new point each time)", precision=0)
            with gr.Column(scale=1):
                sliders = [slider(i) for i in range(min(TOP_SLIDERS, n))]
                with gr.Accordion("More dimensions", open=False) as more:
                    sliders += [slider(i) for i in range(TOP_SLIDERS, n)]
        page.sliders, page.decoded = sliders, decoded_server
        start_from_digit_view(page)
        traversal_view(page)

    def on_origin(name: str, label: int) -> dict:
        """Sliders to the origin, and its decoding."""
        return page.set_sliders(explorer.pick(name), label, [0.0] * n)

    def on_random_point(name: str, label: int, seed: float | None) -> dict:
        """Sliders to a random point of the prior (seed 0 or empty: a new one each time), and its decoding."""
        loaded = explorer.pick(name)
        z = explore.prior_sample(1, loaded.latent_dim, seed=int(seed) if seed else None)
        return page.set_sliders(loaded, label, explorer.slider_values(loaded, z))

    def on_model(loaded: LoadedModel) -> dict:
        """Sliders labelled for the model's dimensions, most informative first, at its origin."""
        kl, d = loaded.metadata.metrics.kl_per_dim, loaded.latent_dim
        return {decoded_server: big(explore.decode_sliders(loaded, [], 0)), more: gr.update(visible=d > TOP_SLIDERS),
                **{s: gr.update(visible=i < d, value=0.0, label=f"z{loaded.ranking[i]}" if i < d else "",
                                info=f"KL {kl[loaded.ranking[i]]:.2f} nats" if i < d else None)
                   for i, s in enumerate(sliders)}}

    page.on_model.append(([decoded_server, more, *sliders], on_model))
    inputs = [page.model, page.label, *sliders]
    # Slider drags decode in the page (static/page.js); it clicks this hidden button only when it cannot.
    server_decode.click(explorer.on_slide, inputs, decoded_server, api_name="decode", **FAST)
    page.label.change(explorer.on_slide, inputs, decoded_server, api_name="decode_label", **FAST).then(**page.show())
    to_sliders = [decoded_server, *sliders]
    origin_btn.click(on_origin, [page.model, page.label], to_sliders, api_name="origin").then(**page.show())
    random_btn.click(on_random_point, [page.model, page.label, seed], to_sliders,
                     api_name="random_point").then(**page.show())


def traversal_view(page: Page) -> None:
    """Under the sliders: what each top dimension does from where the sliders are, -3 to +3 along it."""
    grid = gr.Image(label=f"Traversal: each row moves one dimension (slider order) from -{TRAVERSAL_SPAN:g} to "
                          f"+{TRAVERSAL_SPAN:g}, the others held where the sliders are", elem_id="traversal",
                    format="png", interactive=False, buttons=["download", "fullscreen"], height=680)
    # A grid is 70 decodes: on the server, when a slider is let go or the server moved the sliders.
    gr.on([*(s.release for s in page.sliders), page.decoded.change], page.explorer.on_traversal,
          [page.model, page.label, *page.sliders], grid, api_name="traversal", trigger_mode="always_last",
          show_progress="hidden", **IMAGES)


def start_from_digit_view(page: Page) -> None:
    """Under the sliders: set them to the code of a real digit (an example, an upload or a drawing), to edit it."""
    with gr.Accordion("Start from a digit", open=False, elem_id="start-from-digit"):
        digit = digit_input(page, "Digit to edit", "encode")
        encode_btn = gr.Button("Set the sliders to this digit's code", variant="primary")

    def on_encode(name: str, upload: str | None, sketch: dict | None) -> dict:
        """Sliders to the code of an image, so the user can edit a real digit."""
        loaded, x = page.explorer.read(name, upload, sketch)
        label = digit_label(loaded, x)
        values = page.explorer.slider_values(loaded, explore.encode(loaded, x, label))
        return {**page.set_sliders(loaded, label or 0, values), page.label: gr.update(value=label or 0)}

    for event in on_button_and_live(encode_btn, [digit], on_encode, [page.model, *digit.components],
                                    [page.decoded, page.label, *page.sliders], "encode", **IMAGES):
        event.then(**page.show())


def samples_view(page: Page) -> None:
    """A grid of samples from the prior, at a temperature."""
    with gr.Tab("Random samples"):
        with gr.Row():
            n = gr.Slider(1, 64, value=32, step=1, label="Samples")
            temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature")
            seed = gr.Number(0, label="Seed", precision=0)
        sample_btn = gr.Button("Sample", variant="primary")
        samples = gr.Image(label="Samples from the prior", elem_id="samples", format="png", interactive=False,
                           buttons=["download", "fullscreen"])
    sample_btn.click(page.explorer.on_samples, [page.model, page.label, n, temperature, seed], samples,
                     api_name="samples")


def reconstruct_view(page: Page) -> None:
    """Your digit: where it was found, what the model sees, its reconstruction, posterior samples, its score."""
    with gr.Tab("Reconstruct", elem_id="tab-reconstruct"):
        with gr.Row():
            with gr.Column():
                digit = digit_input(page, "Your digit", "reconstruct")
                rec_btn = gr.Button("Reconstruct", variant="primary")
            with gr.Column():
                with gr.Row():
                    # Fixed heights leave room above each image for its label, which would cover the top.
                    where = gr.Image(label="Found here", elem_id="where", format="png", interactive=False,
                                     height=240, buttons=["fullscreen"])
                    seen = gr.Image(label="The model sees", elem_id="seen", format="png", interactive=False, height=240)
                    recon = gr.Image(label="Reconstruction", elem_id="recon", format="png", interactive=False,
                                     height=240)
                where_note = gr.Markdown(elem_id="where-note")
                posterior = gr.Image(label="Samples from the posterior: the model's uncertainty", format="png",
                                     interactive=False, height=260)
                score = gr.Markdown(elem_id="score")
        anatomy_view(page, digit, rec_btn)

    def on_reconstruct(name: str, upload: str | None, sketch: dict | None) -> dict:
        """What the model sees, its reconstruction, posterior samples, and how typical the image is."""
        loaded, x = page.explorer.read(name, upload, sketch)
        out = explore.reconstruct(loaded, x, digit_label(loaded, x))
        return {seen: big(x), recon: big(out["reconstruction"]),
                posterior: png(grid_image(out["samples"], nrow=4, scale=3)),
                score: explore.describe_score(out["nelbo"], out["percentile"], loaded.dataset)}

    # Everything here updates as soon as a stroke ends, an upload arrives or an example is clicked; the button
    # stays for API parity.
    inputs = [page.model, *digit.components]
    on_button_and_live(rec_btn, [digit], on_reconstruct, inputs, [seen, recon, posterior, score], "reconstruct",
                       **IMAGES)
    on_button_and_live(rec_btn, [digit], page.explorer.on_locate, inputs, [where, where_note], "locate", **IMAGES)


def anatomy_view(page: Page, digit: DigitInput, button: gr.Button) -> None:
    """Under the reconstruction: the digit's negative ELBO taken apart, in words and in three plots."""
    with gr.Accordion("The ELBO of your digit", open=True, elem_id="anatomy"):
        terms = gr.Markdown(elem_id="anatomy-terms")
        with gr.Row():
            kl = gr.BarPlot(x="place", y="KL (nats)", color="series", tooltip=["dimension"],
                            x_title="latent dimension, most informative first", elem_id="kl-plot",
                            label="KL of each latent dimension: your digit, and the test set's average",
                            color_map={"this image": "#e0457b", "test-set average": "#8a8a8a"})
            posterior = gr.ScatterPlot(x="place", y="z", color="series", tooltip=["dimension"],
                                       x_title="latent dimension, most informative first", y_title="z",
                                       elem_id="posterior-plot",
                                       label="Your digit's posterior q(z|x), mean +- 1 sd, against the prior N(0, 1)",
                                       color_map={"posterior mean": "#e0457b", "posterior mean +- 1 sd": "#f4a3c0",
                                                  "prior N(0, 1): +- 1 sd": "#8a8a8a"})
        histogram = gr.LinePlot(x="negative ELBO (nats)", y="test images per bin", color="series",
                                elem_id="score-histogram",
                                label="How digit-like is it? The test set's negative ELBO, and your digit",
                                color_map={"test set": "#8a8a8a", "this image": "#e0457b"})

    def on_anatomy(name: str, upload: str | None, sketch: dict | None) -> dict:
        """The ELBO of the image taken apart: its two terms, the KL per dimension, the posterior, the score's place."""
        loaded, x = page.explorer.read(name, upload, sketch)
        a = teach.image_anatomy(loaded, x, digit_label(loaded, x))
        plots = teach.anatomy_plots(loaded, a)
        return {terms: describe_anatomy(a, teach.score_percentile(loaded, a), loaded.dataset),
                kl: pd.DataFrame(plots["kl"]), posterior: pd.DataFrame(plots["posterior"]),
                histogram: pd.DataFrame(plots["histogram"])}

    on_button_and_live(button, [digit], on_anatomy, [page.model, *digit.components],
                       [terms, kl, posterior, histogram], "anatomy", **IMAGES)


def interpolate_view(page: Page) -> None:
    """A path through latent space between two digits: a strip, a GIF, and a scrubber the page decodes."""
    with gr.Tab("Interpolate"):
        with gr.Row():
            with gr.Column(elem_id="interp-from"):
                a = digit_input(page, "From", "from")
            with gr.Column(elem_id="interp-to"):
                b = digit_input(page, "To", "to")
        with gr.Row():
            steps = gr.Slider(2, 20, value=10, step=1, label="Steps")
            method = gr.Radio(["linear", "spherical"], value="spherical", label="Path")
        interp_btn = gr.Button("Interpolate", variant="primary")
        strip = gr.Image(label="Path through latent space", format="png", interactive=False)
        gr.HTML('<input type="range" min="0" max="100" value="50" step="1" disabled '
                'aria-label="Scrub along the path">' + digit_canvas("Interpolate first, then scrub the path."),
                elem_id="interp-scrub", label="Scrub along the path (decoded in your browser)", show_label=True,
                container=True, css_template=DIGIT_CSS + " input[type=range] { width: 100%; }")
        path = gr.JSON(visible="hidden")
        gif = gr.Image(label="Animation (GIF)", elem_id="gif", type="filepath", interactive=False,
                       buttons=["download", "fullscreen"])

    def ends(name: str, up_a: str | None, sk_a: dict | None, up_b: str | None, sk_b: dict | None) -> tuple:
        """The model, both images, and their labels."""
        (loaded, xa), (_, xb) = page.explorer.read(name, up_a, sk_a), page.explorer.read(name, up_b, sk_b)
        return loaded, xa, xb, (digit_label(loaded, xa), digit_label(loaded, xb))

    def on_interpolate(name: str, up_a: str | None, sk_a: dict | None, up_b: str | None, sk_b: dict | None,
                       steps: float, method: str) -> dict:
        """A strip and an animated GIF from one image to the other."""
        loaded, xa, xb, labels = ends(name, up_a, sk_a, up_b, sk_b)
        frames = explore.interpolation(loaded, xa, xb, int(steps), method, labels)
        return {strip: png(grid_image(frames, nrow=int(steps), scale=3)),
                gif: OUTPUTS.save(gif_bytes(frames, scale=SCALE), ".gif")}

    def on_interp_path(name: str, up_a: str | None, sk_a: dict | None, up_b: str | None, sk_b: dict | None,
                       method: str) -> dict:
        """A dense path of codes (and labels) between the two images, which the page's scrubber decodes."""
        loaded, xa, xb, labels = ends(name, up_a, sk_a, up_b, sk_b)
        z, y = explore.interpolation_path(loaded, xa, xb, SCRUB_STEPS, method, labels)
        return {"codes": z.tolist(), "labels": None if y is None else y.tolist()}

    inputs = [page.model, *a.components, *b.components]
    # The scrubber's path is a second call on the same inputs; a refused input was already said once.
    for event, suffix in zip(on_button_and_live(interp_btn, [a, b], on_interpolate, [*inputs, steps, method],
                                                [strip, gif], "interpolate", **IMAGES), ("", "_live"), strict=True):
        event.then(gently(on_interp_path, warn=False), [*inputs, method], path,
                   api_name=f"interpolation_path{suffix}", api_visibility="private",
                   js=drawings_js([*inputs, method], a, b), **IMAGES).then(
                       None, path, js="p => { window.vaePage?.setPath(p); }")


def map_view(page: Page) -> None:
    """The 2-D model's whole latent space: its decoded manifold, and the test codes to point at."""
    with gr.Tab("Latent map", visible=False, elem_id="tab-map") as tab:
        gr.Markdown("The 2-D model's whole latent space: decodings on a grid of Gaussian quantiles, and where "
                    "the test digits land. Move the pointer over the map (or touch it), or the z1/z2 sliders, "
                    "to decode that point.")
        with gr.Row():
            manifold = gr.Image(label="Decoded manifold", elem_id="manifold", format="png", interactive=False,
                                height=680)  # room above the 602 px grid for the label
            with gr.Column():
                gr.HTML('<canvas class="vae-map" width="480" height="480"></canvas><p class="vae-where"></p>'
                        + digit_canvas(), elem_id="map-view", label="Test set codes, and the decoded point",
                        show_label=True, container=True, css_template=DIGIT_CSS + MAP_CSS)
                with gr.Row():
                    z1 = gr.Slider(-4, 4, value=0, step=0.05, label="z1", elem_id="map-z1")
                    z2 = gr.Slider(-4, 4, value=0, step=0.05, label="z2", elem_id="map-z2")
                # The server's side, for API clients (/select_model's table, /decode_2d's picture).
                scatter = gr.ScatterPlot(x="z1", y="z2", color="class", visible="hidden")
                point = gr.Image(label="Decoded point", elem_id="point", format="png", interactive=False,
                                 visible="hidden")
                server_decode = gr.Button("Decode on the server", elem_id="server-decode-2d", visible="hidden")

    def on_model(loaded: LoadedModel) -> dict:
        """The tab, with the manifold and the test codes, for a 2-D model whose file holds its test codes."""
        is_2d = loaded.latent_dim == 2 and "test_mu" in loaded.extras
        if not is_2d:
            return {tab: gr.update(visible=False), manifold: None, scatter: None}
        picture, table = page.explorer.latent_map(loaded.name)
        return {tab: gr.update(visible=True), manifold: png(picture), scatter: table}  # a new file: old ones are swept

    page.on_model.append(([tab, manifold, scatter], on_model))
    # The map and its z1/z2 sliders decode in the page; /decode_2d stays for API clients.
    server_decode.click(page.explorer.on_map_point, [page.model, page.label, z1, z2], point, api_name="decode_2d",
                        **FAST)


def every_class_view(page: Page) -> None:
    """A conditional model's decoding of your digit's style with every label."""
    with gr.Tab("Every class", visible=False, elem_id="tab-every") as tab:
        gr.Markdown("Conditional model: the code keeps the *style* of your digit, the label sets *which* digit.")
        digit = digit_input(page, "Your digit", "every")
        every_btn = gr.Button("Decode with every label", variant="primary")
        text = gr.Markdown()
        row = gr.Image(label="Same style, every class", elem_id="every-row", format="png", interactive=False)

    def on_every_label(name: str, upload: str | None, sketch: dict | None) -> dict:
        """Same style, every class: one row of decodings."""
        loaded, x = page.explorer.read(name, upload, sketch)
        if not loaded.conditional:
            raise gr.Error("Pick a conditional model (its name starts with 'c') for this view.")
        decoded, label = explore.every_label(loaded, x)
        return {row: png(grid_image(decoded, nrow=len(decoded), scale=3)),
                text: f"Read as **{loaded.class_names[label]}**; decoded as every class:"}

    page.on_model.append(([tab], lambda loaded: {tab: gr.update(visible=loaded.conditional)}))
    on_button_and_live(every_btn, [digit], on_every_label, [page.model, *digit.components], [row, text],
                       "every_label", **IMAGES)


def compare_view(demo: gr.Blocks, page: Page) -> None:
    """Posterior collapse: the largest family of shipped models (one network, more and more KL pressure) compared."""
    explorer = page.explorer
    names = teach.collapse_family(explorer.models)
    with gr.Tab("Compare", elem_id="tab-compare", visible=len(names) > 1):
        gr.Markdown("The same network trained with more and more weight on the KL term (beta).\n\n" + EXPLANATION)
        table = gr.Markdown(elem_id="compare-table")
        curves = gr.LinePlot(x="dimension, largest KL first", y="KL (nats)", color="model", elem_id="compare-kl",
                             label="KL of each latent dimension (0: collapsed)")
        gr.Markdown(f"**Traversals from the origin**: each model's top {TRAVERSAL_ROWS} dimensions (rows), "
                    f"-{TRAVERSAL_SPAN:g} to +{TRAVERSAL_SPAN:g} (columns). A collapsed dimension's row is flat.")
        grids = gr.Gallery(label="Traversals", show_label=False, columns=3, height="auto", object_fit="contain",
                           elem_id="compare-grids")

    def on_compare() -> dict:
        """The comparison table, the KL curves, and each model's traversal grid."""
        figures, kl = teach.comparison(explorer.models, names)
        captions = [f"{n}: {a} active" for n, a in zip(names, figures["active units"], strict=True)]
        return {table: by_model_markdown(figures), curves: pd.DataFrame(kl),
                grids: [(png(explorer.family_grid(n)), c) for n, c in zip(names, captions, strict=True)]}

    demo.load(on_compare, None, [table, curves, grids], api_name="compare")


def wire_model_switch(demo: gr.Blocks, page: Page) -> None:
    """Choosing a model (and the page's first load) updates every view through its `on_model` entry.

    The API returns the outputs in the order the views were added, with the sliders last, as it always has.
    """
    sliders = set(page.sliders)
    outputs = [c for components, _ in page.on_model for c in components if c not in sliders] + page.sliders
    updates = [update for _, update in page.on_model]

    def on_model(name: str) -> dict:
        """Show the controls that fit the chosen model, and its origin."""
        loaded = page.explorer.pick(name)
        return {c: u for update in updates for c, u in update(loaded).items()}

    def on_examples(name: str) -> dict:
        """The example images of the chosen model's dataset, in every digit input."""
        samples = example_thumbnails(page.explorer.pick(name).dataset)
        return {d.examples: gr.Dataset(samples=samples) for d in page.digits}

    page.model.change(None, page.model, js="m => { window.vaePage?.loading(m); }")  # blank at once: never stale
    page.model.change(on_model, page.model, outputs, api_name="select_model").then(**page.show())
    demo.load(on_model, page.model, outputs, api_name="initial_state").then(**page.show())
    page.model.change(on_examples, page.model, [d.examples for d in page.digits], api_name="examples",
                      api_visibility="private", queue=False)


def create_demo(weights_dir: str | Path | None = None) -> gr.Blocks:
    """The whole page for the weights in `weights_dir` (default: $VAE_WEIGHTS_DIR, else weights/).

    A view is one function called here; `demo.vae_head` holds the <head> tags to launch it with.
    """
    weights_dir = Path(weights_dir or os.environ.get("VAE_WEIGHTS_DIR", HERE / "weights"))
    models, problems = load_models(weights_dir)
    gr.set_static_paths([STATIC, weights_dir])  # the page's scripts, and the weights its decoder reads
    with gr.Blocks(title="VAE latent space explorer", delete_cache=(600, 3600)) as demo:
        gr.Markdown("# Feel a VAE's latent space\nVariational Autoencoders trained on MNIST (and Fashion-MNIST): "
                    "move through a latent space, sample it, and see how it reads your own handwriting.")
        load_problems(weights_dir, models, problems)
        if models:
            first = default_model(models)
            with gr.Row():
                model = gr.Dropdown(list(models), value=first, label="Model", visible=len(models) > 1, scale=2)
                label = gr.Dropdown([("0", 0)], value=0, label="Class", visible=False, scale=1)
            page = Page(Explorer(models), model, label)
            model_picker(page, gr.Markdown())
            sliders_view(page)
            samples_view(page)
            reconstruct_view(page)
            interpolate_view(page)
            map_view(page)
            every_class_view(page)
            compare_view(demo, page)
            wire_model_switch(demo, page)
    demo.vae_head = page_head(models, weights_dir)
    return demo


def load_problems(weights_dir: Path, models: dict[str, LoadedModel], problems: list[str]) -> None:
    """What went wrong loading the weights, and with none loaded, how to get some."""
    listed = "".join(f"\n\n- {p}" for p in problems)
    if not models:
        # The problems first: each says how to fix its file (e.g. `git lfs pull`), which beats training anew.
        gr.Markdown(f"**No trained weights found in `{weights_dir}`.**{listed}\n\nTrain the default models with "
                    "`python train.py` (see README.md), then start the app again.")
    elif problems:  # e.g. a clone without Git LFS, where some weights files are only pointers
        gr.Markdown("**Some weights files could not be loaded:**" + listed, elem_id="load-problems")


class CompressedPage:
    """Gzip for the page itself (GET /: 440 KB of HTML with Gradio's config inline, 35 KB gzipped), which
    Gradio's own compression leaves out: it compresses only paths with a file extension (.js, .css, ...).
    On a phone's 4 Mbit/s that is 0.8 s sooner to the sliders (docs/browser-decoder.md)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.gzip = app, GZipMiddleware(app, minimum_size=1000, compresslevel=6)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The page through gzip (for a browser that accepts it), every other request as it was."""
        await (self.gzip if scope["type"] == "http" and scope["path"] == "/" else self.app)(scope, receive, send)


torch.set_num_threads(1)  # one decode is microseconds of math; thread hand-offs would cost more than they save
demo = create_demo()


def keep_memory_flat() -> None:
    """Pin glibc's mmap threshold (M_MMAP_THRESHOLD, -3) at its 128 KiB default.

    glibc raises the threshold after a large block is freed; from then on every decoded upload
    stays resident in some worker thread's arena (README, "Measured choices in the code").
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).mallopt(-3, 128 * 1024)


if __name__ == "__main__":
    keep_memory_flat()
    # Client-side rendering, explicitly: Gradio 6.31's default depends on GRADIO_SSR_MODE (off unless "true", on
    # Spaces too), which a host may set. The page works both ways (README, "Deploy"); server-side rendering
    # would add a Node process to a small Space, for a page that is all interactive images.
    demo.launch(max_file_size=MAX_FILE_SIZE, css=CSS, head=demo.vae_head, show_error=True, ssr_mode=False,
                app_kwargs={"middleware": [Middleware(CompressedPage)]})
