"""What every view of the page shares: the loaded models, the model and class pickers, the sliders, the <head>.

A view adds `(components, update)` to `Page.on_model`, where `update(loaded)` gives each component's update for
the chosen model; `webapp.demo` wires them all to the model picker at once.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
import torch

from vae.loaded import LoadedModel, default_model
from webapp import compute
from webapp.decoder_spec import page_source, page_spec
from webapp.outputs import big
from webapp.words import reword

STATIC = Path(__file__).parent.parent / "static"
# Served from static/ and loaded in <head>, in this order.
PAGE_SCRIPTS = ["decoder.js", "page.js", "draw.js", "code_map.js", "learn.js", "overview.js", "teach.js"]
PAGE_CSS = STATIC / "page.css"
# Slider events skip the browser's queue and, from API clients, run without a concurrency limit:
# a decode is too cheap to wait in line. Work on uploaded images shares two workers, one per core of a small Space.
FAST = {"show_progress": "hidden", "trigger_mode": "always_last", "queue": False, "concurrency_limit": None}
IMAGES = {"concurrency_id": "images", "concurrency_limit": 2}
Made = TypeVar("Made", bound=gr.blocks.Block)


@dataclass
class Models:
    """The loaded models by name, and what follows from all of them (the number of sliders)."""

    models: dict[str, LoadedModel]

    @property
    def max_dims(self) -> int:
        """Sliders the page needs: the largest latent size."""
        return max((m.latent_dim for m in self.models.values()), default=0)

    def pick(self, name: str) -> LoadedModel:
        """The loaded model called `name`, or a clear error."""
        if name not in self.models:
            raise gr.Error(f"Unknown model {name!r}; choose one of {', '.join(self.models)}.")
        return self.models[name]

    def slider_values(self, loaded: LoadedModel, z: torch.Tensor) -> list[float]:
        """Values for all max_dims sliders from a latent code."""
        return compute.slider_values(z, loaded.ranking, self.max_dims)


@dataclass
class Page:
    """The models, the pickers every view reads, and what a model switch updates."""

    models: Models
    model: gr.Dropdown
    label: gr.Dropdown
    on_model: list[tuple[list, Callable[[LoadedModel], dict]]] = field(default_factory=list)
    # The same for what only the page shows (notes, notices, examples): kept out of /select_model's outputs. The
    # views build these for the first model (no first-load answer, late behind a visitor's own switch, can undo that
    # switch).
    on_model_page: list[tuple[list, Callable[[LoadedModel], dict]]] = field(default_factory=list)
    # Components whose words name the pictures ({one}, {many}...: webapp.words.reword), with those words by property:
    # rewritten when a switch changes the dataset.
    wordings: list[tuple[gr.blocks.Block, dict[str, str]]] = field(default_factory=list)
    digits: list = field(default_factory=list)  # every webapp.digit_input.DigitInput, for the examples' update
    sliders: list[gr.Slider] = field(default_factory=list)
    decoded: gr.Image | None = None  # the server's decoding of the sliders

    @property
    def first(self) -> LoadedModel | None:
        """The model the page shows first (the picker's value), or None without models."""
        return self.models.models.get(self.model.value)

    def worded(self, make: Callable[..., Made], words: dict[str, str], **options: Any) -> Made:
        """`make(**options)` with `words` (properties such as label or value, their texts naming the pictures as
        {one}, {many}...: see webapp.words.reword) in the words of the first model's dataset: "Your {one}" is "Your
        digit" for MNIST. A switch to another dataset's model rewords them ("Your image")."""
        component = make(**{prop: reword(text, self.first.dataset) for prop, text in words.items()}, **options)
        self.wordings.append((component, words))
        return component

    def reworded(self, dataset: str) -> dict:
        """The update of every worded component to the words of `dataset`."""
        return {c: gr.update(**{prop: reword(text, dataset) for prop, text in words.items()})
                for c, words in self.wordings}

    def set_sliders(self, loaded: LoadedModel, label: int | None, values: list[float]) -> dict:
        """The sliders set to `values`, and the server's decoding of them."""
        decoded = big(compute.decode_sliders(loaded, values, label))
        return {self.decoded: decoded, **dict(zip(self.sliders, values, strict=True))}

    def show(self, origin: bool = False) -> dict:
        """The `.then` of an event that set model, class or sliders: the page decodes what they now say.

        `origin`: the event's picture is the origin whatever the sliders say (a first load or a late switch answer
        keeps them where a visitor may already have moved them), so the page asks for theirs if they moved.
        """
        return {"fn": None, "inputs": [self.model, self.label, *self.sliders],
                "js": f"(m, l, ...v) => {{ window.vaePage?.show(m, l, v, {str(origin).lower()}); }}"}


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


CLASS_LEGEND = '<ul class="vae-legend" aria-label="Colour of each class"></ul>'  # filled by page.js legend()


def digit_canvas(status: str = "", label: str = "The decoded picture") -> str:
    """HTML of a 28x28 canvas the page paints a decoded digit into, named `label` for screen readers, with a
    status line."""
    return (f'<canvas class="vae-digit" width="28" height="28" role="img" aria-label="{label}"></canvas>'
            f'<p class="vae-status" aria-live="polite">{status}</p>')


def reveal(selector: str) -> str:
    """The js of an event step that scrolls the element `selector` into view, if it is not wholly in view."""
    return f"() => {{ window.vaePage?.reveal({json.dumps(selector)}); }}"
