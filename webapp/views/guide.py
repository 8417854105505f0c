"""The way in: a guided start (one button per best demo), the glossary, and what lets the page's script
(static/teach.js) choose a model and set the sliders: for the guided start, a view's "switch to" button, and a
shared link (the model, view and code in the page's address).
"""

import html
from collections.abc import Callable

import gradio as gr
import torch

from vae.loaded import LoadedModel, default_model
from webapp.collapse import beta
from webapp.digit_input import gently
from webapp.page import Page
from webapp.words import glossary_html

COLLAPSE_VIEW = "tab-compare"  # the elem_id of the posterior-collapse view


def is_2d(loaded: LoadedModel) -> bool:
    """Whether the latent map can show the model: a 2-D code, and its test codes in its file."""
    return loaded.latent_dim == 2 and "test_mu" in loaded.extras


def first_fit(models: dict[str, LoadedModel], fits: Callable[[LoadedModel], bool]) -> str | None:
    """The first model (by name) that `fits`, or None."""
    return next((name for name, m in sorted(models.items()) if fits(m)), None)


def most_collapsed(models: dict[str, LoadedModel]) -> str | None:
    """The model that shows posterior collapse best: of those with unused latent dimensions, the one trained with
    the highest beta, then the one with the most unused; None if every model uses every dimension."""
    def unused(loaded: LoadedModel) -> int:
        return loaded.latent_dim - loaded.metadata.metrics.active_units
    collapsed = [n for n in models if unused(models[n]) > 0]
    return max(collapsed, key=lambda n: (beta(models[n].metadata), unused(models[n])), default=None)


def switch_button(text: str, model: str, view: str, draw: bool = False) -> str:
    """A button of the page's script: choose `model`, open the view whose tab has elem_id `view` (with `draw`, its
    drawing pad), bring it in sight."""
    pad = ' data-draw="1"' if draw else ""
    return (f'<button type="button" class="vae-go" data-model="{html.escape(model)}" data-view="{view}"{pad}>'
            f"{html.escape(text)}</button>")


def guided_start(models: dict[str, LoadedModel]) -> str:
    """The guided start's buttons, one per best demo the shipped models allow."""
    demos = [("Walk the 2-D latent map", first_fit(models, is_2d), "tab-map", False),
             ("Draw a digit and see how the model reads it", default_model(models), "tab-reconstruct", True),
             ("See posterior collapse", most_collapsed(models), COLLAPSE_VIEW, False)]
    buttons = "".join(switch_button(text, model, view, draw) for text, model, view, draw in demos if model)
    # The views start below the first screen while "How a VAE works" is open: the way to all of them, at once.
    every_view = '<a class="vae-all-views" href="#views">or see all the views ↓</a>'
    return f'<div class="vae-guide"><span>Start here:</span>{buttons}{every_view}</div>'


def needs_model(page: Page, fits: Callable[[LoadedModel], bool], what: str, view: str) -> None:
    """In a view that only some models can show: with another model chosen, say so and offer the switch.

    page.css hides the rest of the view while the notice shows.
    """
    target = first_fit(page.models.models, fits)

    def shown(loaded: LoadedModel | None) -> dict:
        """No notice for a model that fits; else what the view needs, and a button to switch."""
        if loaded is None or fits(loaded) or target is None:
            return {"value": "", "visible": False}
        needs = f"<p>This view needs {html.escape(what)}; <b>{html.escape(loaded.name)}</b> is chosen.</p>"
        return {"value": needs + switch_button(f"Switch to {target}", target, view), "visible": True}

    notice = gr.HTML(elem_classes=["vae-needs"], **shown(page.first))
    page.on_model_page.append(([notice], lambda loaded: {notice: gr.update(**shown(loaded))}))


def guide_view(page: Page) -> None:
    """The guided start and the glossary."""
    gr.HTML(guided_start(page.models.models), elem_id="guided-start")
    with gr.Accordion("Words used on this page", open=False, elem_id="glossary"):
        gr.HTML(glossary_html())


def link_controls(page: Page, views: gr.Tabs) -> None:
    """Hidden controls through which the page's script chooses a model, opens a view and sets the sliders (after the
    views, whose sliders they set): for the guided start, a view's "switch to" button, and a shared link."""
    ids = [tab.id for tab in views.children]
    wanted = gr.Textbox(label="Model wanted", elem_id="want-model", visible="hidden")
    code = gr.Textbox(label="Code wanted (z1,z2,...)", elem_id="want-code", visible="hidden")
    wanted_class = gr.Textbox(label="Class wanted", elem_id="want-class", visible="hidden")
    set_model = gr.Button("Set model", elem_id="set-model", visible="hidden")
    set_code = gr.Button("Set code", elem_id="set-code", visible="hidden")
    view = gr.Textbox(label="View wanted", elem_id="want-view", visible="hidden")
    set_view = gr.Button("Set view", elem_id="set-view", visible="hidden")

    def on_set_view(wanted_view: str) -> dict:
        """Open the view whose tab has the id `wanted_view` (also from a phone's overflow menu of tabs)."""
        if wanted_view not in ids:
            raise gr.Error(f"Unknown view {wanted_view!r}; the views are {', '.join(map(str, ids))}.")
        return {views: gr.Tabs(selected=wanted_view)}

    def on_set_model(name: str) -> dict:
        """Choose the model `name` (the model picker then updates every view)."""
        return {page.model: page.models.pick(name).name}

    def on_set_code(name: str, label: str, z: str) -> dict:
        """The class and the sliders set to the code z (comma-separated, z1 first), and the server's decoding."""
        loaded = page.models.pick(name)
        wanted = parse_class(label, loaded)
        values = page.models.slider_values(loaded, parse_code(z, loaded.latent_dim))
        return {**page.set_sliders(loaded, wanted, values), page.label: gr.update(value=wanted)}

    # The page's script fills the wanted values in (js), so nothing else needs to set the hidden textboxes.
    set_model.click(on_set_model, wanted, page.model, js="(w) => window.vaeTeach?.wanted.model ?? w",
                    api_visibility="private", queue=False)
    set_view.click(on_set_view, view, views, js="(v) => window.vaeTeach?.wanted.view ?? v", api_visibility="private",
                   queue=False)
    # Queued, and gentle: a hand-edited address with a bad code or class gets a warning (Gradio shows none for an
    # unqueued event), the sliders stay, and the page still draws, so the page's script goes on with the address.
    set_code.click(gently(on_set_code), [page.model, wanted_class, code], [page.decoded, page.label, *page.sliders],
                   js="(m, l, z) => [m, window.vaeTeach?.wanted.label ?? l, window.vaeTeach?.wanted.code ?? z]",
                   api_visibility="private").then(**page.show())


def parse_class(text: str | None, loaded: LoadedModel) -> int:
    """The class in a shared address (none: 0) as a number the model has; anything else is a clear error."""
    if not text:
        return 0
    classes = len(loaded.class_names) if loaded.conditional else 1
    if text.strip() not in {str(k) for k in range(classes)}:
        what = f"its classes are 0 to {classes - 1}" if loaded.conditional else "it is not told the class"
        raise gr.Error(f"{loaded.name} has no class {text[:40]!r}: {what}.")
    return int(text)


def parse_code(text: str, dims: int) -> torch.Tensor:
    """A latent code from its comma-separated values (z1 first); missing values are 0; bad text is a clear error."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()] if text else []
    except ValueError:
        raise gr.Error(f"A code is numbers separated by commas (z1,z2,...), not {text[:40]!r}.") from None
    z = torch.zeros(1, dims)
    z[0, : min(dims, len(values))] = torch.tensor(values[:dims])
    return z
