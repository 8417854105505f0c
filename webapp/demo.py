"""The whole page: `create_demo(weights_dir)` builds it from the views, `launch(demo)` serves it as app.py does.

The weights are loaded once, here; each view is one call into `webapp.views`, and a model switch updates every
view through the `(components, update)` pairs the views put in `Page.on_model`.
"""

import ctypes
import os
import sys
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import torch
from starlette.middleware import Middleware

from vae.loaded import LoadedModel, default_model, load_models
from webapp.compressed_page import CompressedPage
from webapp.digit_input import example_thumbnails
from webapp.page import PAGE_CSS, STATIC, Models, Page, page_head
from webapp.views.code_map import code_map_view
from webapp.views.collapse import collapse_view
from webapp.views.compress import compress_view
from webapp.views.every_class import every_class_view
from webapp.views.guide import guide_view, link_controls
from webapp.views.interpolate import interpolate_view
from webapp.views.latent_map import latent_map_view
from webapp.views.overview import overview_view
from webapp.views.reconstruct import reconstruct_view
from webapp.views.samples import samples_view
from webapp.views.sliders import sliders_view
from webapp.views.watch_it_learn import watch_it_learn_view
from webapp.views.why_a_vae import why_a_vae_view
from webapp.words import describe_model, model_choice

WEIGHTS = Path(__file__).parent.parent / "weights"
MAX_FILE_SIZE = "10mb"
# Gradio's default theme, its fonts' bold (700) files in place of their SemiBold (600): Gradio 6.31 ships SemiBold
# files holding only a few Latin letters (A and B for Source Sans Pro), so a bold "VAE" was drawn in two fonts.
THEME = gr.themes.Default(
    font=[gr.themes.LocalFont("Source Sans Pro", weights=(400, 700)), "ui-sans-serif", "system-ui", "sans-serif"],
    font_mono=[gr.themes.LocalFont("IBM Plex Mono", weights=(400, 700)), "ui-monospace", "Consolas", "monospace"])


def create_demo(weights_dir: str | Path | None = None) -> gr.Blocks:
    """The whole page for the weights in `weights_dir` (default: $VAE_WEIGHTS_DIR, else weights/).

    `demo.vae_head` holds the <head> tags to launch it with.
    """
    torch.set_num_threads(1)  # one decode is microseconds of math; thread hand-offs would cost more than they save
    weights_dir = Path(weights_dir or os.environ.get("VAE_WEIGHTS_DIR", WEIGHTS))
    everything, problems = load_models(weights_dir, autoencoders=True)
    models = {name: m for name, m in everything.items() if not m.autoencoder}  # the views explore VAEs
    gr.set_static_paths([STATIC, weights_dir])  # the page's scripts, and the weights its decoder reads
    with gr.Blocks(title="VAE latent space explorer", delete_cache=(600, 3600)) as demo:
        gr.Markdown("# Feel a VAE's latent space\nVariational Autoencoders trained on MNIST (and Fashion-MNIST): "
                    "move through a latent space, sample it, and see how it reads your own handwriting.")
        load_problems(weights_dir, models, problems)
        if models:
            with gr.Row():
                model = gr.Dropdown([(model_choice(m), name) for name, m in models.items()],
                                    value=default_model(models), label="Model", elem_id="model-picker",
                                    visible=len(models) > 1, scale=2)
                label = gr.Dropdown([("0", 0)], value=0, label="Class", visible=False, scale=1)
            page = Page(Models(models), model, label)
            blank_at_once(page)
            model_picker(page, gr.Markdown(elem_id="model-info"))
            guide_view(page)
            overview_view(demo, page)
            # One Tab per view (each Tab's id is its elem_id); on a narrow screen the tabs wrap onto more rows
            # rather than hide in a "..." menu: every view stays one tap away.
            with gr.Tabs(elem_id="views", overflow_behavior="wrap") as views:
                sliders_view(page)
                samples_view(page)
                reconstruct_view(page)
                interpolate_view(page)
                latent_map_view(page)
                every_class_view(page)
                collapse_view(demo, page)
                compress_view(page)
                code_map_view(page, weights_dir)
                watch_it_learn_view(page)
                why_a_vae_view(demo, everything)
            link_controls(page, views)
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


def blank_at_once(page: Page) -> None:
    """A switch blanks the page's canvases for the new model before anything else: registered before every view's
    own switch listener, so a view's quick re-read (webapp.digit_input.rereads_after_a_switch) comes after it."""
    page.model.change(None, page.model, js="m => { window.vaePage?.loading(m); }")


def model_picker(page: Page, info: gr.Markdown) -> None:
    """What a model switch does to the picker row: the model's info line, and its class picker."""
    def update(loaded: LoadedModel) -> dict:
        names = loaded.class_names
        return {info: describe_model(loaded),
                page.label: gr.update(choices=list(zip(names, range(len(names)), strict=True)), value=0,
                                      visible=loaded.conditional)}
    page.on_model.append(([info, page.label], update))


def wire_model_switch(demo: gr.Blocks, page: Page) -> None:
    """Choosing a model (and the page's first load) updates every view through its `on_model` entry.

    The API returns the outputs in the order the views were added, with the sliders last, as it always has.
    """
    sliders = set(page.sliders)
    outputs = [c for components, _ in page.on_model for c in components if c not in sliders] + page.sliders
    updates = [update for _, update in page.on_model]

    set_up_for = gr.State(None)  # the model this session's sliders were last set up for

    def on_model(name: str, sliders_for: str | None = None) -> dict:
        """Show the controls that fit the chosen model, and its origin. Sliders already set up for it keep their
        values: a switch answered after the first load's catch-up showed the model (docs/engineering.md)."""
        loaded = page.models.pick(name)
        shown = {c: u for update in updates for c, u in update(loaded).items()}
        return {**(keep_values(shown, sliders) if sliders_for == name else shown), set_up_for: name}

    def on_first_load(name: str) -> dict:
        """The page's first load: as a switch to the model, except that the sliders stay where they are (at the
        origin, or where a visitor already moved them while the answer was on its way)."""
        return keep_values(on_model(name), sliders)

    answered = [*outputs, set_up_for]
    page.model.change(on_model, [page.model, set_up_for], answered, api_name="select_model").then(
        **page.show(origin=True))
    first = page.model.value  # what the first load is asked about
    demo.load(on_first_load, page.model, answered, api_visibility="private").then(
        catch_up(first, on_first_load), page.model, answered, api_visibility="private").then(**page.show(origin=True))
    # The first load's state for API clients, origin included, under the name it has always had.
    gr.Button("Initial state", visible="hidden").click(on_model, page.model, answered, api_name="initial_state")
    page.on_model_page.append(([d.examples for d in page.digits], examples_of(page)))
    # The chosen model's dataset, whose pictures the page's words name (a hidden box: its change event fires in the
    # page, where a State's would not after a queue=False answer).
    dataset = gr.Textbox(page.first.dataset, label="Dataset", visible="hidden")
    page_only = [c for components, _ in page.on_model_page for c in components]

    def on_model_page(name: str) -> dict:
        """What only the page shows for the chosen model (notes, notices, example images), and its dataset."""
        loaded = page.models.pick(name)
        return {**{c: u for _, update in page.on_model_page for c, u in update(loaded).items()},
                dataset: loaded.dataset}

    page.model.change(on_model_page, page.model, [*page_only, dataset], api_visibility="private", queue=False)
    # Only a switch to another dataset rewords the page: every component an answer updates costs the page's
    # script some time at each later answer (docs/engineering.md).
    dataset.change(page.reworded, dataset, [c for c, _ in page.wordings], api_visibility="private", queue=False)


def examples_of(page: Page) -> Callable[[LoadedModel], dict]:
    """A model's example images (its dataset's), for every digit input: a page-only update of a switch."""
    def update(loaded: LoadedModel) -> dict:
        samples = example_thumbnails(loaded.dataset)
        return {d.examples: gr.Dataset(samples=samples) for d in page.digits}
    return update


def keep_values(updates: dict, sliders: set) -> dict:
    """`updates` with the sliders' values left out: the sliders stay where they are."""
    return {c: ({k: v for k, v in u.items() if k != "value"} if c in sliders else u) for c, u in updates.items()}


def catch_up(first: str, update: Callable[[str], dict]) -> Callable[[str], dict]:
    """`update`, run again once the first load's answer (for the model `first`) is in, for the model chosen by then;
    nothing if that is still `first`. A visitor who switched before that answer came keeps the switch."""
    def again(name: str) -> dict:
        return gr.skip() if name == first else update(name)
    return again


def keep_memory_flat() -> None:
    """Pin glibc's mmap threshold (M_MMAP_THRESHOLD, -3) at its 128 KiB default.

    glibc raises the threshold after a large block is freed; from then on every decoded upload
    stays resident in some worker thread's arena (docs/engineering.md, "Memory").
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).mallopt(-3, 128 * 1024)


def launch(demo: gr.Blocks, **options: object) -> None:
    """Serve the page as `python app.py` does; `options` add to or override Gradio's launch arguments.

    Client-side rendering, explicitly: Gradio 6.31's default depends on GRADIO_SSR_MODE (off unless "true", on
    Spaces too), which a host may set; server-side rendering would add a Node process to a small Space, for a page
    that is all interactive images (docs/deploy.md).
    """
    keep_memory_flat()
    options = {"app_kwargs": {"middleware": [Middleware(CompressedPage)]}, **options}  # the page gzipped
    demo.launch(max_file_size=MAX_FILE_SIZE, css_paths=[PAGE_CSS], head=demo.vae_head, show_error=True,
                ssr_mode=False, theme=THEME, **options)
