"""Explore a Variational Autoencoder's latent space in the browser: `python app.py`.

Layout and event wiring only: every computation lives in vae/ (vae.explore) and is tested there.
Models are the *.safetensors files in weights/ (or $VAE_WEIGHTS_DIR), loaded once at start-up.
"""

import ctypes
import inspect
import io
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
import torch
from PIL import Image

from vae import explore, teach
from vae.anatomy import describe_anatomy
from vae.compare import EXPLANATION, by_model_markdown
from vae.digitize import describe, find_digit, load_digit, to_mnist
from vae.render import boxed_thumbnail, gif_bytes, grid_image, to_image
from vae.traversal import TRAVERSAL_ROWS, TRAVERSAL_SPAN, TRAVERSAL_STEPS
from vae.uploads import ImageError, open_image
from vae.webpage import page_spec

HERE = Path(__file__).parent
WEIGHTS = Path(os.environ.get("VAE_WEIGHTS_DIR", HERE / "weights"))
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

torch.set_num_threads(1)  # one decode is microseconds of math; thread hand-offs would cost more than they save
MODELS, LOAD_PROBLEMS = explore.load_models(WEIGHTS)
MAX_DIMS = max((m.latent_dim for m in MODELS.values()), default=0)
gr.set_static_paths([STATIC, WEIGHTS])  # the page's scripts, and the weights its decoder reads


def static_url(path: Path) -> str:
    """The URL, relative to the page, at which Gradio serves a file under a static path."""
    return f"gradio_api/file={path.resolve()}"


def page_head() -> str:
    """<head> tags: each model's decoder spec for the page, then the page's scripts."""
    specs = {name: page_spec(lm, WEIGHTS / f"{name}.safetensors", static_url(WEIGHTS / f"{name}.safetensors"))
             for name, lm in MODELS.items()}
    scripts = "".join(f'<script src="{static_url(STATIC / name)}"></script>' for name in PAGE_SCRIPTS)
    data = json.dumps(specs).replace("</", "<\\/")  # no "</script>" inside the script
    return f"<script>window.VAE_MODELS = {data};</script>{scripts}"


def digit_canvas(status: str = "") -> str:
    """HTML of a 28x28 canvas the page paints a decoded digit into, with a status line."""
    return ('<canvas class="vae-digit" width="28" height="28"></canvas>'
            f'<p class="vae-status" aria-live="polite">{status}</p>')


def pick(name: str) -> explore.LoadedModel:
    """The loaded model called `name`, or a clear error."""
    if name not in MODELS:
        raise gr.Error(f"Unknown model {name!r}; choose one of {', '.join(MODELS)}.")
    return MODELS[name]


@dataclass
class OutputFiles:
    """Output files under unique names in a folder of this process's; files older than max_age are swept.

    Handlers return files, not PIL images, because Gradio copies a file into its cache
    atomically, while it rewrites a PIL image's cache file in place: two sessions making the
    same picture at once (everyone's first "Reset to origin") could serve each other half a file.
    """

    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vae-demo-out-")))
    max_age: float = 600.0  # Gradio serves its own cached copy, so ours can go soon
    last_sweep: float = field(default_factory=time.time)

    def save(self, data: bytes, suffix: str) -> str:
        """Write `data` to a new file and return its path."""
        now = time.time()
        if now - self.last_sweep > self.max_age:
            self.last_sweep = now
            for old in self.folder.iterdir():
                if now - old.stat().st_mtime > self.max_age:
                    old.unlink(missing_ok=True)
        fd, path = tempfile.mkstemp(suffix=suffix, dir=self.folder)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path


OUTPUTS = OutputFiles()


def png(image: Image.Image) -> str:
    """An image as a PNG output file."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)  # half the encode time of the default; files stay ~2 KB
    return OUTPUTS.save(buf.getvalue(), ".png")


def big(probs: torch.Tensor) -> str:
    """A 28x28 probability map as a large, crisp PNG."""
    return png(to_image(probs, SCALE))


def read_digit(lm: explore.LoadedModel, upload: str | None, sketch: dict | None) -> torch.Tensor:
    """The 28x28 input: the upload if there is one, else the drawing.

    The page sends only the one on view (static/draw.js), so a drawing made while an older
    upload sits in the other tab is what gets read.
    """
    composite = (sketch or {}).get("composite")
    try:
        if upload:
            return load_digit(upload, lm.frame)
        if composite is None:
            raise ImageError("No image yet: upload one, draw one, or click an example.")
        return to_mnist(composite, lm.frame)
    except ImageError as e:
        raise gr.Error(str(e)) from None


def digit_label(lm: explore.LoadedModel, x: torch.Tensor) -> int | None:
    """For a conditional model, the class it reads the image as."""
    return explore.infer_label(lm, x) if lm.conditional else None


# ---- handlers: each does one thing, by calling vae.explore ----

def on_slide(name: str, label: int, *values: float) -> str:
    """Decode the slider position (the hot path: one decode, nothing else)."""
    return big(explore.decode_sliders(pick(name), list(values), label))


def slider_values(lm: explore.LoadedModel, z: torch.Tensor) -> list[float]:
    """Values for all MAX_DIMS sliders from a latent code."""
    values = explore.sliders_from_code(z, lm.ranking)
    return values + [0.0] * (MAX_DIMS - len(values))


def on_origin(name: str, label: int) -> list:
    """Sliders to the origin, and its decoding."""
    values = [0.0] * MAX_DIMS
    return [on_slide(name, label, *values), *values]


def on_random_point(name: str, label: int, seed: float | None) -> list:
    """Sliders to a random point of the prior (seed 0 or empty: a new one each time), and its decoding."""
    lm = pick(name)
    values = slider_values(lm, explore.prior_sample(1, lm.latent_dim, seed=int(seed) if seed else None))
    return [on_slide(name, label, *values), *values]


def on_encode(name: str, upload: str | None, sketch: dict | None) -> list:
    """Sliders to the code of an image, so the user can edit a real digit."""
    lm = pick(name)
    x = read_digit(lm, upload, sketch)
    label = digit_label(lm, x)
    values = slider_values(lm, explore.encode(lm, x, label))
    return [on_slide(name, label or 0, *values), gr.update(value=label or 0), *values]


def on_samples(name: str, label: int, n: float, temperature: float, seed: float) -> str:
    """A grid of prior samples."""
    probs = explore.random_samples(pick(name), int(n), float(temperature), int(seed), label)
    return png(grid_image(probs, nrow=min(int(n), 8), scale=3))


def on_reconstruct(name: str, upload: str | None, sketch: dict | None) -> list:
    """What the model sees, its reconstruction, posterior samples, and how typical the image is."""
    lm = pick(name)
    x = read_digit(lm, upload, sketch)
    out = explore.reconstruct(lm, x, digit_label(lm, x))
    text = explore.describe_score(out["nelbo"], out["percentile"], lm.metadata["dataset"])
    return [big(x), big(out["reconstruction"]), png(grid_image(out["samples"], nrow=4, scale=3)), text]


def on_locate(name: str, upload: str | None, sketch: dict | None = None) -> tuple[str | None, str]:
    """The picture (upload, else drawing) as a thumbnail with the digit's box drawn on it, and what was found."""
    composite = (sketch or {}).get("composite")
    if not upload and composite is None:
        return None, ""
    try:
        picture = open_image(upload) if upload else Image.fromarray(composite)
    except ImageError as e:
        return None, f"**{e}**"
    try:
        reading = find_digit(picture, pick(name).frame)
    except ImageError as e:  # no digit: show the picture, unboxed, with the reason
        return png(boxed_thumbnail(picture, None)), f"**{e}**"
    return png(boxed_thumbnail(picture, reading.box)), describe(reading)


def on_interpolate(name: str, up_a: str | None, sk_a: dict | None, up_b: str | None, sk_b: dict | None,
                   steps: float, method: str) -> list:
    """A strip and an animated GIF from one image to the other."""
    lm = pick(name)
    xa, xb = read_digit(lm, up_a, sk_a), read_digit(lm, up_b, sk_b)
    frames = explore.interpolation(lm, xa, xb, int(steps), method, (digit_label(lm, xa), digit_label(lm, xb)))
    gif = OUTPUTS.save(gif_bytes(frames, scale=SCALE), ".gif")
    return [png(grid_image(frames, nrow=int(steps), scale=3)), gif]


def on_interp_path(name: str, up_a: str | None, sk_a: dict | None, up_b: str | None, sk_b: dict | None,
                   method: str) -> dict:
    """A dense path of codes (and labels) between the two images, which the page's scrubber decodes."""
    lm = pick(name)
    xa, xb = read_digit(lm, up_a, sk_a), read_digit(lm, up_b, sk_b)
    z, y = explore.interpolation_path(lm, xa, xb, SCRUB_STEPS, method, (digit_label(lm, xa), digit_label(lm, xb)))
    return {"codes": z.tolist(), "labels": None if y is None else y.tolist()}


def on_map_point(name: str, label: int, z1: float, z2: float) -> str:
    """Decode one point of a 2-D latent space (latent dims 0 and 1, whatever their slider order)."""
    point = {0: z1, 1: z2}
    return on_slide(name, label, *[point.get(d, 0.0) for d in pick(name).ranking])


def on_every_label(name: str, upload: str | None, sketch: dict | None) -> list:
    """Same style, every class: one row of decodings."""
    lm = pick(name)
    if not lm.conditional:
        raise gr.Error("Pick a conditional model (its name starts with 'c') for this view.")
    row, label = explore.every_label(lm, read_digit(lm, upload, sketch))
    text = f"Read as **{lm.class_names[label]}**; decoded as every class:"
    return [png(grid_image(row, nrow=len(row), scale=3)), text]


@cache
def latent_map(name: str) -> tuple[Image.Image, pd.DataFrame]:
    """The 2-D model's decoded manifold and test-code table, computed once per model."""
    lm = pick(name)
    return grid_image(explore.manifold(lm, 20, 0), nrow=20), pd.DataFrame(explore.code_map(lm))


def on_model(name: str) -> list:
    """Show the controls that fit the chosen model, and its origin."""
    lm = pick(name)
    names = lm.class_names
    kl = lm.metadata["metrics"]["kl_per_dim"]
    sliders = [gr.update(visible=i < lm.latent_dim, value=0.0,
                         label=f"z{lm.ranking[i]}" if i < lm.latent_dim else "",
                         info=f"KL {kl[lm.ranking[i]]:.2f} nats" if i < lm.latent_dim else None)
               for i in range(MAX_DIMS)]
    is_2d = lm.latent_dim == 2 and "test_mu" in lm.extras
    return [
        lm.describe(),
        gr.update(choices=list(zip(names, range(len(names)), strict=True)), value=0, visible=lm.conditional),
        big(explore.decode_sliders(lm, [], 0)),
        gr.update(visible=lm.latent_dim > TOP_SLIDERS),
        gr.update(visible=is_2d),
        png(latent_map(name)[0]) if is_2d else None,
        latent_map(name)[1] if is_2d else None,
        gr.update(visible=lm.conditional),
        *sliders,
    ]


def on_examples(name: str, count: int) -> list:
    """The example images of the chosen model's dataset, for each of the `count` example galleries."""
    return [gr.Dataset(samples=example_thumbnails(pick(name).metadata["dataset"]))] * count


def on_traversal(name: str, label: int, *values: float) -> str:
    """The traversal grid from the sliders' point: one row per top dimension, -3 to +3 along it."""
    lm = pick(name)
    return png(grid_image(teach.slider_traversal(lm, list(values), label), nrow=TRAVERSAL_STEPS, scale=2))


def on_anatomy(name: str, upload: str | None, sketch: dict | None) -> tuple:
    """The ELBO of the image taken apart: its two terms, the KL per dimension, the posterior, the score's place."""
    lm = pick(name)
    x = read_digit(lm, upload, sketch)
    a = teach.image_anatomy(lm, x, digit_label(lm, x))
    plots = teach.anatomy_plots(lm, a)
    text = describe_anatomy(a, teach.score_percentile(lm, a), lm.metadata["dataset"])
    return text, *(pd.DataFrame(plots[k]) for k in ("kl", "posterior", "histogram"))


@cache
def family_grid(name: str) -> Image.Image:
    """A compared model's traversal grid from the origin, made once."""
    return grid_image(teach.slider_traversal(pick(name), [], 0), nrow=TRAVERSAL_STEPS, scale=2)


def on_compare() -> tuple:
    """The posterior-collapse comparison: the table, the KL curves, and each model's traversal grid."""
    names = teach.collapse_family(MODELS)
    table, curves = teach.comparison(MODELS, names)
    grids = [(png(family_grid(n)), f"{n}: {a} active") for n, a in zip(names, table["active units"], strict=True)]
    return by_model_markdown(table), pd.DataFrame(curves), grids


# ---- layout ----

def on_random_example(name: str) -> str:
    """A random test image of the chosen model's dataset, as an upload."""
    return random.choice(EXAMPLES[pick(name).metadata["dataset"]])


@dataclass
class DigitInput:
    """One image input of the page: an upload, a drawing pad, and the value that carries a drawing to the server."""

    upload: gr.File
    sketch: gr.Sketchpad
    pad: str  # the id static/draw.js knows its drawing pad by
    examples: gr.Dataset
    drawn: gr.HTML  # the pad; its input event fires when a stroke ends, and at Undo and Clear


def example_thumbnails(dataset: str) -> list[list[str]]:
    """The samples of an examples gallery: one picture per example of `dataset`, shown as a thumbnail."""
    return [[p] for p in EXAMPLES.get(dataset, [])]


def on_example(name: str, index: int) -> str:
    """The example clicked in the gallery, as an upload."""
    return EXAMPLES[pick(name).metadata["dataset"]][index]


def digit_input(label: str, model: gr.Dropdown, pad: str, dataset: str) -> DigitInput:
    """Upload tab (with example thumbnails and a random-example button) and Draw tab.

    Uploads arrive as plain files (gr.File, not gr.Image) so that vae.uploads, not
    Gradio, is the first to open them, and a bad file gets our clear message. The Draw tab is
    our own canvas (static/draw.js): Gradio's Sketchpad starts with no tool selected and tells
    the server of a stroke only after it has uploaded it. The Sketchpad stays, hidden, as the
    input API clients send drawings to and the page fills from its canvas at each event.
    """
    with gr.Tabs():
        with gr.Tab("Upload"):
            upload = gr.File(label=label, type="filepath", file_types=["image"], height=140)
            # A gallery of the pictures themselves (gr.Examples would show a File's examples as file names).
            examples = gr.Dataset(components=["image"], samples=example_thumbnails(dataset), type="index",
                                  layout="gallery", label="Examples from the test set", samples_per_page=20,
                                  elem_classes=["vae-examples"])
            examples.click(on_example, [model, examples], upload, api_name=f"example_{pad}",
                           api_visibility="private", queue=False)
            gr.Button("Random example", size="sm").click(on_random_example, model, upload, queue=False,
                                                         api_visibility="private")
        with gr.Tab("Draw"):
            drawn = gr.HTML(f'<p class="vae-pad-label">{label}</p>'
                            f'<div class="vae-pad" data-pad="{pad}" data-label="{label}"></div>',
                            js_on_load="element.vaeStroke = () => trigger('input'); window.vaeDraw?.mount(element);",
                            css_template=PAD_CSS)
            sketch = gr.Sketchpad(label=label, type="numpy", visible=False)
    return DigitInput(upload, sketch, pad, examples, drawn)


def drawings_js(inputs: list, *digits: DigitInput) -> str:
    """The js of an event on `inputs` that puts in each digit input's drawing or upload, whichever is on view."""
    slots = [[d.pad, next(i for i, c in enumerate(inputs) if c is d.upload),
              next(i for i, c in enumerate(inputs) if c is d.sketch)] for d in digits]
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
                       outputs: list, api_name: str, **options: Any) -> list[tuple[Any, str]]:
    """Run `handler` on a click of `button` (API name `api_name`) and also, as soon as a stroke ends or an upload
    or example arrives in one of `digits` (a private API name ending in _live): the view updates without a click.

    Live events never warn: an empty pad after Clear, or the second input of two still empty, is no mistake.
    Returns each event with the suffix of its API names, for chaining more steps.
    """
    js = drawings_js(inputs, *digits)
    live = [trigger for d in digits for trigger in (d.drawn.input, d.upload.change)]
    return [(gr.on([button.click], gently(handler), inputs, outputs, api_name=api_name, js=js, **options), ""),
            # always_last: a stroke that ends while the last one is read is read next, never dropped.
            (gr.on(live, gently(handler, warn=False), inputs, outputs, api_name=f"{api_name}_live",
                   api_visibility="private", js=js, trigger_mode="always_last", **options), "_live")]


def build() -> gr.Blocks:
    """The whole page."""
    with gr.Blocks(title="VAE latent space explorer", delete_cache=(600, 3600)) as demo:
        gr.Markdown("# Feel a VAE's latent space\nVariational Autoencoders trained on MNIST (and Fashion-MNIST): "
                    "move through a latent space, sample it, and see how it reads your own handwriting.")
        problems = "".join(f"\n\n- {p}" for p in LOAD_PROBLEMS)
        if not MODELS:
            # The problems first: each says how to fix its file (e.g. `git lfs pull`), which beats training anew.
            gr.Markdown(f"**No trained weights found in `{WEIGHTS}`.**{problems}\n\nTrain the default models with "
                        "`python train.py` (see README.md), then start the app again.")
            return demo
        if problems:  # e.g. a clone without Git LFS, where some weights files are only pointers
            gr.Markdown("**Some weights files could not be loaded:**" + problems, elem_id="load-problems")
        first = explore.default_model(MODELS)
        dataset = MODELS[first].metadata["dataset"]
        with gr.Row():
            model = gr.Dropdown(list(MODELS), value=first, label="Model", visible=len(MODELS) > 1, scale=2)
            label = gr.Dropdown([("0", 0)], value=0, label="Class", visible=False, scale=1)
        info = gr.Markdown()
        # Slider events skip the browser's queue and, from API clients, run without a concurrency limit:
        # a decode is too cheap to wait in line (32 API users: decode p95 1.8 s -> 0.7 s). Work on
        # uploaded images shares two workers, one per core of a small Space.
        fast = {"show_progress": "hidden", "trigger_mode": "always_last", "queue": False, "concurrency_limit": None}
        images = {"concurrency_id": "images", "concurrency_limit": 2}

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
                    sliders = [gr.Slider(-explore.SLIDER_RANGE, explore.SLIDER_RANGE, value=0, step=0.05,
                                         label=f"z{i}", elem_id=f"z-{i}") for i in range(min(TOP_SLIDERS, MAX_DIMS))]
                    with gr.Accordion("More dimensions", open=False) as more:
                        sliders += [gr.Slider(-explore.SLIDER_RANGE, explore.SLIDER_RANGE, value=0, step=0.05,
                                              label=f"z{i}", elem_id=f"z-{i}") for i in range(TOP_SLIDERS, MAX_DIMS)]
            with gr.Accordion("Start from a digit", open=False, elem_id="start-from-digit"):
                enc = digit_input("Digit to edit", model, "encode", dataset)
                encode_btn = gr.Button("Set the sliders to this digit's code", variant="primary")
            traversal_grid = gr.Image(
                label=f"Traversal: each row moves one dimension (slider order) from -{TRAVERSAL_SPAN:g} to "
                      f"+{TRAVERSAL_SPAN:g}, the others held where the sliders are", elem_id="traversal",
                format="png", interactive=False, buttons=["download", "fullscreen"], height=680)
            # A grid is 70 decodes: on the server, when a slider is let go or the server moved the sliders.
            gr.on([*(s.release for s in sliders), decoded_server.change], on_traversal, [model, label, *sliders],
                  traversal_grid, api_name="traversal", trigger_mode="always_last", show_progress="hidden", **images)

        with gr.Tab("Random samples"):
            with gr.Row():
                n = gr.Slider(1, 64, value=32, step=1, label="Samples")
                temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature")
                sample_seed = gr.Number(0, label="Seed", precision=0)
            sample_btn = gr.Button("Sample", variant="primary")
            samples = gr.Image(label="Samples from the prior", elem_id="samples", format="png", interactive=False,
                               buttons=["download", "fullscreen"])

        with gr.Tab("Reconstruct", elem_id="tab-reconstruct"):
            with gr.Row():
                with gr.Column():
                    rec = digit_input("Your digit", model, "reconstruct", dataset)
                    rec_btn = gr.Button("Reconstruct", variant="primary")
                with gr.Column():
                    with gr.Row():
                        # Fixed heights leave room above each image for its label, which would cover the top.
                        where = gr.Image(label="Found here", elem_id="where", format="png", interactive=False,
                                         height=240, buttons=["fullscreen"])
                        seen = gr.Image(label="The model sees", elem_id="seen", format="png",
                                        interactive=False, height=240)
                        recon = gr.Image(label="Reconstruction", elem_id="recon", format="png", interactive=False,
                                         height=240)
                    where_note = gr.Markdown(elem_id="where-note")
                    posterior = gr.Image(label="Samples from the posterior: the model's uncertainty", format="png",
                                         interactive=False, height=260)
                    score = gr.Markdown(elem_id="score")
            with gr.Accordion("The ELBO of your digit", open=True, elem_id="anatomy"):
                anatomy_terms = gr.Markdown(elem_id="anatomy-terms")
                with gr.Row():
                    kl_plot = gr.BarPlot(x="place", y="KL (nats)", color="series", tooltip=["dimension"],
                                         x_title="latent dimension, most informative first", elem_id="kl-plot",
                                         label="KL of each latent dimension: your digit, and the test set's average",
                                         color_map={"this image": "#e0457b", "test-set average": "#8a8a8a"})
                    posterior_plot = gr.ScatterPlot(
                        x="place", y="z", color="series", tooltip=["dimension"], elem_id="posterior-plot",
                        x_title="latent dimension, most informative first", y_title="z",
                        label="Your digit's posterior q(z|x), mean +- 1 sd, against the prior N(0, 1)",
                        color_map={"posterior mean": "#e0457b", "posterior mean +- 1 sd": "#f4a3c0",
                                   "prior N(0, 1): +- 1 sd": "#8a8a8a"})
                histogram = gr.LinePlot(x="negative ELBO (nats)", y="test images per bin", color="series",
                                        elem_id="score-histogram",
                                        label="How digit-like is it? The test set's negative ELBO, and your digit",
                                        color_map={"test set": "#8a8a8a", "this image": "#e0457b"})
            # Everything here updates as soon as a stroke ends, an upload arrives or an example is clicked; the
            # button stays for API parity.
            inputs = [model, rec.upload, rec.sketch]
            on_button_and_live(rec_btn, [rec], on_reconstruct, inputs, [seen, recon, posterior, score],
                               "reconstruct", **images)
            on_button_and_live(rec_btn, [rec], on_locate, inputs, [where, where_note], "locate", **images)
            on_button_and_live(rec_btn, [rec], on_anatomy, inputs,
                               [anatomy_terms, kl_plot, posterior_plot, histogram], "anatomy", **images)

        with gr.Tab("Interpolate"):
            with gr.Row():
                with gr.Column(elem_id="interp-from"):
                    a = digit_input("From", model, "from", dataset)
                with gr.Column(elem_id="interp-to"):
                    b = digit_input("To", model, "to", dataset)
            with gr.Row():
                steps = gr.Slider(2, 20, value=10, step=1, label="Steps")
                method = gr.Radio(["linear", "spherical"], value="spherical", label="Path")
            interp_btn = gr.Button("Interpolate", variant="primary")
            strip = gr.Image(label="Path through latent space", format="png", interactive=False)
            gr.HTML('<input type="range" min="0" max="100" value="50" step="1" disabled '
                    'aria-label="Scrub along the path">' + digit_canvas("Interpolate first, then scrub the path."),
                    elem_id="interp-scrub",
                    label="Scrub along the path (decoded in your browser)", show_label=True, container=True,
                    css_template=DIGIT_CSS + " input[type=range] { width: 100%; }")
            path = gr.JSON(visible="hidden")
            gif = gr.Image(label="Animation (GIF)", elem_id="gif", type="filepath", interactive=False,
                           buttons=["download", "fullscreen"])

        with gr.Tab("Latent map", visible=False, elem_id="tab-map") as map_tab:
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
                    server_decode_2d = gr.Button("Decode on the server", elem_id="server-decode-2d", visible="hidden")

        with gr.Tab("Every class", visible=False, elem_id="tab-every") as every_tab:
            gr.Markdown("Conditional model: the code keeps the *style* of your digit, the label sets *which* digit.")
            ev = digit_input("Your digit", model, "every", dataset)
            every_btn = gr.Button("Decode with every label", variant="primary")
            every_text = gr.Markdown()
            every_row = gr.Image(label="Same style, every class", elem_id="every-row", format="png",
                                 interactive=False)

        with gr.Tab("Compare", elem_id="tab-compare", visible=len(teach.collapse_family(MODELS)) > 1):
            gr.Markdown("The same network trained with more and more weight on the KL term (beta).\n\n" + EXPLANATION)
            compare_table = gr.Markdown(elem_id="compare-table")
            compare_kl = gr.LinePlot(x="dimension, largest KL first", y="KL (nats)", color="model",
                                     elem_id="compare-kl", label="KL of each latent dimension (0: collapsed)")
            gr.Markdown(f"**Traversals from the origin**: each model's top {TRAVERSAL_ROWS} dimensions (rows), "
                        f"-{TRAVERSAL_SPAN:g} to +{TRAVERSAL_SPAN:g} (columns). A collapsed dimension's row is flat.")
            compare_grids = gr.Gallery(label="Traversals", show_label=False, columns=3, height="auto",
                                       object_fit="contain", elem_id="compare-grids")
            demo.load(on_compare, None, [compare_table, compare_kl, compare_grids], api_name="compare")

        model_outputs = [info, label, decoded_server, more, map_tab, manifold, scatter, every_tab, *sliders]
        # After the server sets model, class or sliders, the page decodes what they now say.
        page_show = {"fn": None, "inputs": [model, label, *sliders],
                     "js": "(m, l, ...v) => { window.vaePage?.show(m, l, v); }"}
        model.change(None, model, js="m => { window.vaePage?.loading(m); }")  # blank at once: never a stale digit
        model.change(on_model, model, model_outputs, api_name="select_model").then(**page_show)
        demo.load(on_model, model, model_outputs, api_name="initial_state").then(**page_show)
        example_sets = [d.examples for d in (enc, rec, a, b, ev)]
        model.change(partial(on_examples, count=len(example_sets)), model, example_sets, api_name="examples",
                     api_visibility="private", queue=False)
        # Slider drags decode in the page (static/page.js); it clicks this hidden button only when it cannot.
        server_decode.click(on_slide, [model, label, *sliders], decoded_server, api_name="decode", **fast)
        label.change(on_slide, [model, label, *sliders], decoded_server, api_name="decode_label",
                     **fast).then(**page_show)
        origin_btn.click(on_origin, [model, label], [decoded_server, *sliders], api_name="origin").then(**page_show)
        random_btn.click(on_random_point, [model, label, seed], [decoded_server, *sliders],
                         api_name="random_point").then(**page_show)
        for event, _ in on_button_and_live(encode_btn, [enc], on_encode, [model, enc.upload, enc.sketch],
                                           [decoded_server, label, *sliders], "encode", **images):
            event.then(**page_show)
        sample_btn.click(on_samples, [model, label, n, temperature, sample_seed], samples, api_name="samples")
        inputs = [model, a.upload, a.sketch, b.upload, b.sketch]
        # The scrubber's path is a second call on the same inputs; a refused input was already said once.
        for event, suffix in on_button_and_live(interp_btn, [a, b], on_interpolate, [*inputs, steps, method],
                                                [strip, gif], "interpolate", **images):
            event.then(gently(on_interp_path, warn=False), [*inputs, method], path,
                       api_name=f"interpolation_path{suffix}", api_visibility="private",
                       js=drawings_js([*inputs, method], a, b), **images).then(
                           None, path, js="p => { window.vaePage?.setPath(p); }")
        # The map and its z1/z2 sliders decode in the page; /decode_2d stays for API clients.
        server_decode_2d.click(on_map_point, [model, label, z1, z2], point, api_name="decode_2d", **fast)
        on_button_and_live(every_btn, [ev], on_every_label, [model, ev.upload, ev.sketch], [every_row, every_text],
                           "every_label", **images)
    return demo


demo = build()

def keep_memory_flat() -> None:
    """Pin glibc's mmap threshold (M_MMAP_THRESHOLD, -3) at its 128 KiB default.

    glibc raises the threshold after a large block is freed; from then on every decoded upload
    stays resident in some worker thread's arena. Measured over five rounds of the bad-input
    suite: 831 -> 1068 MB without this, 831 -> 852 MB with it.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).mallopt(-3, 128 * 1024)


if __name__ == "__main__":
    keep_memory_flat()
    # Client-side rendering, explicitly: Gradio 6.31's default depends on GRADIO_SSR_MODE (off unless "true", on
    # Spaces too), which a host may set. The page works both ways (README, "Deploy"); server-side rendering
    # would add a Node process to a small Space, for a page that is all interactive images.
    demo.launch(max_file_size=MAX_FILE_SIZE, css=CSS, head=page_head(), show_error=True, ssr_mode=False)
