"""Explore a Variational Autoencoder's latent space in the browser: `python app.py`.

Layout and event wiring only: every computation lives in vae/ (vae.explore) and is tested there.
Models are the *.safetensors files in weights/ (or $VAE_WEIGHTS_DIR), loaded once at start-up.
"""

import ctypes
import io
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path

import gradio as gr
import pandas as pd
import torch
from PIL import Image

from vae import explore
from vae.digitize import describe, find_digit, load_digit, to_mnist
from vae.render import boxed_thumbnail, gif_bytes, grid_image, to_image
from vae.uploads import ImageError, open_image

HERE = Path(__file__).parent
WEIGHTS = Path(os.environ.get("VAE_WEIGHTS_DIR", HERE / "weights"))
# One-click inputs per dataset: real test images, shipped as small PNGs.
EXAMPLES = {"mnist": sorted(str(p) for p in (HERE / "examples").glob("*.png")),
            "fashion-mnist": sorted(str(p) for p in (HERE / "examples" / "fashion-mnist").glob("*.png"))}
TOP_SLIDERS = 10  # shown at once; the rest sit under "more dimensions"
SCALE = 8  # 28 px -> 224 px, nearest neighbour
MAX_FILE_SIZE = "10mb"
CSS = "img { image-rendering: pixelated; }"  # keep 28x28 pixels crisp at any display size

torch.set_num_threads(1)  # one decode is microseconds of math; thread hand-offs would cost more than they save
MODELS, LOAD_PROBLEMS = explore.load_models(WEIGHTS)
MAX_DIMS = max((m.latent_dim for m in MODELS.values()), default=0)


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


def read_digit(lm: explore.LoadedModel, upload: str | None, sketch: dict | None, source: str) -> torch.Tensor:
    """The 28x28 input from whichever of upload or drawing the user touched last.

    A drawing also counts when nothing was uploaded: the canvas reports a stroke to the
    server about a second after it ends, so a quick click may arrive before that report.
    """
    composite = (sketch or {}).get("composite")
    try:
        if upload and (source == "upload" or composite is None):
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


def on_encode(name: str, upload: str | None, sketch: dict | None, source: str) -> list:
    """Sliders to the code of an image, so the user can edit a real digit."""
    lm = pick(name)
    x = read_digit(lm, upload, sketch, source)
    label = digit_label(lm, x)
    values = slider_values(lm, explore.encode(lm, x, label))
    return [on_slide(name, label or 0, *values), gr.update(value=label or 0), *values]


def on_samples(name: str, label: int, n: float, temperature: float, seed: float) -> str:
    """A grid of prior samples."""
    probs = explore.random_samples(pick(name), int(n), float(temperature), int(seed), label)
    return png(grid_image(probs, nrow=min(int(n), 8), scale=3))


def on_reconstruct(name: str, upload: str | None, sketch: dict | None, source: str) -> list:
    """What the model sees, its reconstruction, posterior samples, and how typical the image is."""
    lm = pick(name)
    x = read_digit(lm, upload, sketch, source)
    out = explore.reconstruct(lm, x, digit_label(lm, x))
    text = explore.describe_score(out["nelbo"], out["percentile"], lm.metadata["dataset"])
    return [big(x), big(out["reconstruction"]), png(grid_image(out["samples"], nrow=4, scale=3)), text]


def on_locate(name: str, upload: str | None, source: str) -> tuple[str | None, str]:
    """The upload as a thumbnail with the digit's box drawn on it, and a sentence about what was found."""
    if not upload or source != "upload":
        return None, ""
    try:
        picture = open_image(upload)
    except ImageError as e:
        return None, f"**{e}**"
    try:
        reading = find_digit(picture, pick(name).frame)
    except ImageError as e:  # no digit: show the picture, unboxed, with the reason
        return png(boxed_thumbnail(picture, None)), f"**{e}**"
    return png(boxed_thumbnail(picture, reading.box)), describe(reading)


def on_interpolate(name: str, up_a: str | None, sk_a: dict | None, src_a: str, up_b: str | None, sk_b: dict | None,
                   src_b: str, steps: float, method: str) -> list:
    """A strip and an animated GIF from one image to the other."""
    lm = pick(name)
    xa, xb = read_digit(lm, up_a, sk_a, src_a), read_digit(lm, up_b, sk_b, src_b)
    frames = explore.interpolation(lm, xa, xb, int(steps), method, (digit_label(lm, xa), digit_label(lm, xb)))
    gif = OUTPUTS.save(gif_bytes(frames, scale=SCALE), ".gif")
    return [png(grid_image(frames, nrow=int(steps), scale=3)), gif]


def on_map_point(name: str, label: int, z1: float, z2: float) -> str:
    """Decode one point of a 2-D latent space (latent dims 0 and 1, whatever their slider order)."""
    point = {0: z1, 1: z2}
    return on_slide(name, label, *[point.get(d, 0.0) for d in pick(name).ranking])


def on_map_select(name: str, label: int, z2: float, evt: gr.SelectData) -> list:
    """A range brushed on the scatter plot sets z1 to its middle (Gradio's plots select along x); z2 stays."""
    x_range = evt.index if isinstance(evt.index, list | tuple) else [evt.index, evt.index]
    z1 = round(float(sum(x_range) / len(x_range)), 2)
    return [on_map_point(name, label, z1, z2), z1]


def on_every_label(name: str, upload: str | None, sketch: dict | None, source: str) -> list:
    """Same style, every class: one row of decodings."""
    lm = pick(name)
    if not lm.conditional:
        raise gr.Error("Pick a conditional model (its name starts with 'c') for this view.")
    row, label = explore.every_label(lm, read_digit(lm, upload, sketch, source))
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
    """The example images of the chosen model's dataset, for each of the `count` example lists."""
    return [gr.Dataset(samples=[[p] for p in EXAMPLES.get(pick(name).metadata["dataset"], [])])] * count


# ---- layout ----

def on_random_example(name: str) -> str:
    """A random test image of the chosen model's dataset, as an upload."""
    return random.choice(EXAMPLES[pick(name).metadata["dataset"]])


def digit_input(label: str, model: gr.Dropdown) -> tuple[gr.File, gr.Sketchpad, gr.State, gr.Dataset]:
    """Upload / draw tabs, examples and a random-example button; a State remembers which the user touched last.

    Uploads arrive as plain files (gr.File, not gr.Image) so that vae.uploads, not
    Gradio, is the first to open them, and a bad file gets our clear message.
    """
    source = gr.State("upload")
    with gr.Tabs():
        with gr.Tab("Upload"):
            upload = gr.File(label=label, type="filepath", file_types=["image"], height=140)
        with gr.Tab("Draw"):
            sketch = gr.Sketchpad(label=label, type="numpy", height=280, canvas_size=(280, 280),
                                  brush=gr.Brush(default_size=18, colors=["#000000"], color_mode="fixed"))
    examples = gr.Examples(EXAMPLES["mnist"], inputs=upload, label="Examples from the test set", examples_per_page=20)
    gr.Button("Random example", size="sm").click(on_random_example, model, upload, queue=False,
                                                 api_visibility="private")
    upload.change(lambda v: "upload" if v else gr.skip(), upload, source, queue=False, show_progress="hidden",
                  api_visibility="private")
    sketch.change(lambda v: "draw", sketch, source, queue=False, show_progress="hidden", api_visibility="private")
    return upload, sketch, source, examples.dataset


def build() -> gr.Blocks:
    """The whole page."""
    with gr.Blocks(title="VAE latent space explorer", delete_cache=(600, 3600)) as demo:
        gr.Markdown("# Feel a VAE's latent space\nVariational Autoencoders trained on MNIST (and Fashion-MNIST): "
                    "move through a latent space, sample it, and see how it reads your own handwriting.")
        if not MODELS:
            gr.Markdown(f"**No trained weights found in `{WEIGHTS}`.** Train the default models with "
                        "`python train.py` (see README.md), then start the app again."
                        + "".join(f"\n\n- {p}" for p in LOAD_PROBLEMS))
            return demo
        first = explore.default_model(MODELS)
        with gr.Row():
            model = gr.Dropdown(list(MODELS), value=first, label="Model", visible=len(MODELS) > 1, scale=2)
            label = gr.Dropdown([("0", 0)], value=0, label="Class", visible=False, scale=1)
        info = gr.Markdown()

        with gr.Tab("Latent sliders"):
            with gr.Row():
                with gr.Column(scale=1):
                    decoded = gr.Image(label="Decoded", elem_id="decoded", height=320, show_label=True, format="png",
                                       interactive=False)
                    with gr.Row():
                        origin_btn = gr.Button("Reset to origin")
                        random_btn = gr.Button("Random point")
                    seed = gr.Number(0, label="Seed (0: a new point each time)", precision=0)
                with gr.Column(scale=1):
                    sliders = [gr.Slider(-explore.SLIDER_RANGE, explore.SLIDER_RANGE, value=0, step=0.05,
                                         label=f"z{i}") for i in range(min(TOP_SLIDERS, MAX_DIMS))]
                    with gr.Accordion("More dimensions", open=False) as more:
                        sliders += [gr.Slider(-explore.SLIDER_RANGE, explore.SLIDER_RANGE, value=0, step=0.05,
                                              label=f"z{i}") for i in range(TOP_SLIDERS, MAX_DIMS)]
            with gr.Accordion("Start from a digit", open=False):
                enc_up, enc_sk, enc_src, enc_ex = digit_input("Digit to edit", model)
                encode_btn = gr.Button("Set the sliders to this digit's code", variant="primary")

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
                    rec_up, rec_sk, rec_src, rec_ex = digit_input("Your digit", model)
                    rec_btn = gr.Button("Reconstruct", variant="primary")
                with gr.Column():
                    with gr.Row():
                        # Fixed heights leave room above each image for its label, which would cover the top.
                        where = gr.Image(label="Found here", elem_id="where", format="png", interactive=False,
                                         height=240, buttons=["fullscreen"])
                        seen = gr.Image(label="What the model sees (28x28)", format="png", interactive=False,
                                        height=240)
                        recon = gr.Image(label="Reconstruction", elem_id="recon", format="png", interactive=False,
                                         height=240)
                    where_note = gr.Markdown(elem_id="where-note")
                    posterior = gr.Image(label="Samples from the posterior: the model's uncertainty", format="png",
                                         interactive=False, height=260)
                    score = gr.Markdown(elem_id="score")

        with gr.Tab("Interpolate"):
            with gr.Row():
                with gr.Column(elem_id="interp-from"):
                    a_up, a_sk, a_src, a_ex = digit_input("From", model)
                with gr.Column(elem_id="interp-to"):
                    b_up, b_sk, b_src, b_ex = digit_input("To", model)
            with gr.Row():
                steps = gr.Slider(2, 20, value=10, step=1, label="Steps")
                method = gr.Radio(["linear", "spherical"], value="spherical", label="Path")
            interp_btn = gr.Button("Interpolate", variant="primary")
            strip = gr.Image(label="Path through latent space", format="png", interactive=False)
            gif = gr.Image(label="Animation (GIF)", elem_id="gif", type="filepath", interactive=False,
                           buttons=["download", "fullscreen"])

        with gr.Tab("Latent map", visible=False, elem_id="tab-map") as map_tab:
            gr.Markdown("The 2-D model's whole latent space: decodings on a grid of Gaussian quantiles, and where "
                        "the test digits land. Move the z1/z2 sliders, or brush a range on the plot to set z1, "
                        "to decode a point.")
            with gr.Row():
                manifold = gr.Image(label="Decoded manifold", elem_id="manifold", format="png", interactive=False,
                                    height=680)  # room above the 602 px grid for the label
                with gr.Column():
                    # A chart title, not a block label: Gradio sizes the chart to `height` without the label,
                    # so a label pushes the class legend out of the block.
                    scatter = gr.ScatterPlot(x="z1", y="z2", color="class", label="Test set codes", show_label=False,
                                             title="Test set codes", height=480)
                    with gr.Row():
                        z1 = gr.Slider(-4, 4, value=0, step=0.05, label="z1")
                        z2 = gr.Slider(-4, 4, value=0, step=0.05, label="z2")
                    point = gr.Image(label="Decoded point", elem_id="point", format="png", interactive=False,
                                     height=200)

        with gr.Tab("Every class", visible=False, elem_id="tab-every") as every_tab:
            gr.Markdown("Conditional model: the code keeps the *style* of your digit, the label sets *which* digit.")
            ev_up, ev_sk, ev_src, ev_ex = digit_input("Your digit", model)
            every_btn = gr.Button("Decode with every label", variant="primary")
            every_text = gr.Markdown()
            every_row = gr.Image(label="Same style, every class", elem_id="every-row", format="png",
                                 interactive=False)

        # Slider events skip the browser's queue and, from API clients, run without a concurrency limit:
        # a decode is too cheap to wait in line (32 API users: decode p95 1.8 s -> 0.7 s). Work on
        # uploaded images shares two workers, one per core of a small Space.
        fast = {"show_progress": "hidden", "trigger_mode": "always_last", "queue": False, "concurrency_limit": None}
        images = {"concurrency_id": "images", "concurrency_limit": 2}
        model_outputs = [info, label, decoded, more, map_tab, manifold, scatter, every_tab, *sliders]
        model.change(on_model, model, model_outputs, api_name="select_model")
        demo.load(on_model, model, model_outputs, api_name="initial_state")
        example_sets = [enc_ex, rec_ex, a_ex, b_ex, ev_ex]
        model.change(partial(on_examples, count=len(example_sets)), model, example_sets, api_name="examples",
                     api_visibility="private", queue=False)
        gr.on([s.input for s in sliders], on_slide, [model, label, *sliders], decoded, api_name="decode", **fast)
        label.change(on_slide, [model, label, *sliders], decoded, api_name="decode_label", **fast)
        origin_btn.click(on_origin, [model, label], [decoded, *sliders], api_name="origin")
        random_btn.click(on_random_point, [model, label, seed], [decoded, *sliders], api_name="random_point")
        encode_btn.click(on_encode, [model, enc_up, enc_sk, enc_src], [decoded, label, *sliders], api_name="encode",
                         **images)
        sample_btn.click(on_samples, [model, label, n, temperature, sample_seed], samples, api_name="samples")
        rec_btn.click(on_reconstruct, [model, rec_up, rec_sk, rec_src], [seen, recon, posterior, score],
                      api_name="reconstruct", **images)
        rec_btn.click(on_locate, [model, rec_up, rec_src], [where, where_note], api_name="locate", **images)
        interp_btn.click(on_interpolate, [model, a_up, a_sk, a_src, b_up, b_sk, b_src, steps, method],
                         [strip, gif], api_name="interpolate", **images)
        gr.on([z1.input, z2.input], on_map_point, [model, label, z1, z2], point, api_name="decode_2d", **fast)
        # Private: the handler needs the browser's selection (gr.SelectData), which API clients cannot send.
        scatter.select(on_map_select, [model, label, z2], [point, z1], api_name="select_point",
                       api_visibility="private")
        every_btn.click(on_every_label, [model, ev_up, ev_sk, ev_src], [every_row, every_text],
                        api_name="every_label", **images)
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
    demo.launch(max_file_size=MAX_FILE_SIZE, css=CSS, show_error=True)
