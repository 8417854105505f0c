"""A digit input of the page (upload with example thumbnails, or a drawing pad), reading it, and wiring a view to it.

Uploads arrive as plain files (gr.File, not gr.Image) so that `pictures.uploads`, not Gradio, is the first to
open them, and a bad file gets our clear message. The Draw tab is our own canvas (static/draw.js); the hidden
Sketchpad stays as the input API clients send drawings to, which the page fills from its canvas at each event.
"""

import hashlib
import inspect
import json
import pickle
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch
from PIL import Image

from pictures.digitize import Reading, find_digit
from pictures.uploads import ImageError, open_image
from vae.loaded import LoadedModel
from vae.render import boxed_thumbnail
from webapp import compute
from webapp.outputs import png
from webapp.page import Page
from webapp.words import reword

EXAMPLES_DIR = Path(__file__).parent.parent / "examples"
# One-click inputs per dataset: real test images, shipped as small PNGs.
EXAMPLES = {"mnist": sorted(str(p) for p in EXAMPLES_DIR.glob("*.png")),
            "fashion-mnist": sorted(str(p) for p in (EXAMPLES_DIR / "fashion-mnist").glob("*.png"))}
PREVIEW_SIDE = 140  # px: the picked picture beside the upload's file name


@dataclass(frozen=True)
class Picture:
    """What the user gave, as opened: a picture to show, and the source its digit is found in."""

    image: Image.Image
    source: Image.Image | np.ndarray  # a drawing stays the Sketchpad's array, as find_digit reads it

    def read(self, loaded: LoadedModel) -> Reading:
        """The digit in it, sized as `loaded`'s dataset was; ImageError if there is none."""
        return find_digit(self.source, loaded.box_side)


def open_picture(upload: str | None, sketch: dict | None) -> Picture:
    """The upload if there is one, else the drawing; ImageError says what is missing or wrong.

    The page sends only the one on view (static/draw.js), so a drawing made while an older upload sits in the
    other tab is what gets read.
    """
    if upload:
        image = open_image(upload)
        return Picture(image, image)
    if is_empty(upload, sketch):
        raise ImageError("No image yet: upload one, draw one, or click an example.")
    composite = sketch["composite"]
    return Picture(Image.fromarray(composite), composite)


def read_digit(loaded: LoadedModel, upload: str | None, sketch: dict | None, name: str = "") -> torch.Tensor:
    """The 28x28 digit in the input (upload, else drawing); a refused input is a gr.Error with the reason,
    after the input's `name` when a view has more than one."""
    try:
        return open_picture(upload, sketch).read(loaded).digit
    except ImageError as e:
        raise gr.Error(f"{name}: {e}" if name else str(e)) from None


def is_empty(upload: str | None, sketch: dict | None) -> bool:
    """Whether an input holds neither an upload nor a drawing."""
    return not upload and (sketch or {}).get("composite") is None


def read_digits(loaded: LoadedModel, inputs: dict[str, tuple[str | None, dict | None]]) -> list[torch.Tensor]:
    """The digits of several named inputs ({name: (upload, sketch)}): one error that names every empty input,
    else each read as `read_digit` does."""
    empty = [name for name, (upload, sketch) in inputs.items() if is_empty(upload, sketch)]
    if empty:
        raise gr.Error(f"No image yet in {' and '.join(empty)}: upload one, draw one, or click an example.")
    return [read_digit(loaded, upload, sketch, name) for name, (upload, sketch) in inputs.items()]


def digit_label(loaded: LoadedModel, x: torch.Tensor) -> int | None:
    """For a conditional model, the class it reads the image as."""
    return compute.infer_label(loaded, x) if loaded.conditional else None


@dataclass
class DigitInput:
    """One image input of the page: an upload, a drawing pad, and the value that carries a drawing to the server."""

    upload: gr.File
    sketch: gr.Sketchpad
    pad: str  # the id static/draw.js knows its drawing pad by
    examples: gr.Dataset
    random_example: gr.Button
    drawn: gr.HTML  # the pad; its input event fires when a stroke ends, and at Undo and Clear
    answered: gr.State  # what the view's live event last read (on_button_and_live: the first input's is used)

    @property
    def components(self) -> list[gr.components.Component]:
        """The handler inputs this digit input fills: the upload and the drawing."""
        return [self.upload, self.sketch]

    @property
    def picks(self) -> list:
        """The events of a visitor giving a picture: an example or a random one clicked, a file uploaded (not the
        view putting in its opening example)."""
        return [self.examples.click, self.random_example.click, self.upload.upload]


def example_named(dataset: str, name: str | None, fallback: int = 0) -> str:
    """The example picture `name` of `dataset`; without one of that name, its example at index `fallback`."""
    paths = EXAMPLES.get(dataset, [])
    if not paths:
        raise gr.Error(f"No example images for {dataset}: upload or draw one.")
    return next((p for p in paths if Path(p).name == name), paths[fallback])


def example_thumbnails(dataset: str) -> list[list[str]]:
    """The samples of an examples gallery: one picture per example of `dataset`, shown as a thumbnail."""
    return [[p] for p in EXAMPLES.get(dataset, [])]


def digit_input(page: Page, label: str, pad: str) -> DigitInput:
    """Upload tab (with example thumbnails and a random-example button) and Draw tab. `label` names the pictures
    as webapp.words.reword does ("Your {one}"), so that it follows the chosen model's dataset."""
    dataset = page.models.pick(page.model.value).dataset
    with gr.Tabs():
        with gr.Tab("Upload"):
            with gr.Row(equal_height=True):
                upload = page.worded(gr.File, {"label": label}, type="filepath", file_types=["image"], height=140,
                                     scale=3)
                # The picked picture itself: the File shows only its name and size.
                words = {"label": f"{label}: your picture", "alt_text": f"The picture in {label}"}
                preview = page.worded(gr.Image, words, show_label=False, format="png", interactive=False,
                                      height=PREVIEW_SIDE, scale=1, min_width=110, buttons=[],
                                      elem_classes=["vae-preview"])
            # A gallery of the pictures themselves (gr.Examples would show a File's examples as file names).
            examples = gr.Dataset(components=["image"], samples=example_thumbnails(dataset), type="index",
                                  layout="gallery", label="Examples from the test set", samples_per_page=20,
                                  elem_classes=["vae-examples"])
            random_example = gr.Button("Random example", size="sm")
        with gr.Tab("Draw"):
            # Named by its label, which a model switch rewords without drawing the pad again.
            mount = "element.vaeStroke = () => trigger('input'); window.vaeDraw?.mount(element);"
            drawn = page.worded(gr.HTML, {"label": label}, value=f'<div class="vae-pad" data-pad="{pad}"></div>',
                                show_label=True, container=True, js_on_load=mount)
            sketch = gr.Sketchpad(label=reword(label, dataset), type="numpy", visible=False)  # for API clients

    def on_example(name: str, index: int) -> str:
        """The example clicked in the gallery, as an upload."""
        return EXAMPLES[page.models.pick(name).dataset][index]

    def on_random_example(name: str) -> str:
        """A random test image of the chosen model's dataset, as an upload."""
        return random.choice(EXAMPLES[page.models.pick(name).dataset])

    def on_upload(path: str | None) -> str | None:
        """A small picture of the upload, as it was opened (none for an empty or unreadable input)."""
        try:
            return png(boxed_thumbnail(open_image(path), None, PREVIEW_SIDE)) if path else None
        except ImageError:
            return None

    upload.change(on_upload, upload, preview, queue=False, api_visibility="private", show_progress="hidden")
    examples.click(on_example, [page.model, examples], upload, api_name=f"example_{pad}", api_visibility="private",
                   queue=False)
    random_example.click(on_random_example, page.model, upload, queue=False, api_visibility="private")
    digit = DigitInput(upload, sketch, pad, examples, random_example, drawn, gr.State(None))
    page.digits.append(digit)
    return digit


def opens_on_examples(page: Page, tab: gr.Tab, digits: list[DigitInput], choose: Callable[[str], Sequence[str]],
                      fits: Callable[[LoadedModel], bool] | None = None) -> None:
    """The first time `tab` is on screen with a model that `fits` the view (any, without `fits`; opened, or switched
    to while the view shows its "needs another model" notice) and `digits` still empty, put in them the examples
    `choose` gives for the model's dataset: their arrival runs the view as a picked example does, so the view opens
    on its result. A visitor's own picks are never replaced, and inputs they cleared stay empty (a gr.State per
    session). Called inside the tab's block, where its State and hidden box belong."""
    opened = gr.State(False)  # this session has seen the view with a model that fits it
    # Whether the view is on screen, which the page's script fills in at each event (hidden, kept off screen).
    on_screen = gr.Checkbox(label="View on screen", visible="hidden", elem_classes=["vae-api"])
    uploads = [d.upload for d in digits]

    def on_open(name: str, seen: bool, here: bool, *given: str | None) -> dict:
        """The opening examples, the first time the view is on screen with a model that fits, if its inputs are
        empty."""
        loaded = page.models.pick(name)
        if not (here and (fits is None or fits(loaded))):  # needs_model shows only its notice: open with its model
            return {opened: seen}
        if seen or any(given):
            return {opened: True}
        return {opened: True, **dict(zip(uploads, choose(loaded.dataset), strict=True))}

    inputs, outputs, options = [page.model, opened, on_screen, *uploads], [opened, *uploads], {
        "queue": False, "api_visibility": "private"}
    tab.select(on_open, inputs, outputs, js="(m, s, h, ...u) => [m, s, true, ...u]", **options)
    if fits is None:  # every model fits: the first look is the tab's opening
        return
    shown = f"!!document.getElementById({json.dumps(tab.elem_id)})?.offsetParent"
    page.model.change(on_open, inputs, outputs, js=f"(m, s, h, ...u) => [m, s, {shown}, ...u]", **options)


def opening_example(names: dict[str, str]) -> Callable[[str], list[str]]:
    """For opens_on_examples with one input: the example `names` gives for a dataset; for another, its first."""
    return lambda dataset: [example_named(dataset, names.get(dataset))]


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
    Returns two events to chain more steps on: the button's, and one that follows a live answer (never a skipped
    repeat: it is the change of what the live event last answered, and a State's change fires only when an answer
    changes it).
    """
    js = drawings_js(inputs, *digits)
    live = [trigger for d in digits for trigger in (d.drawn.input, d.upload.change)]
    # Gradio's File sometimes fires change again, with the same file, while or after the view reads it
    # (gradio-app/gradio#12346): the live event reads nothing twice, or a repeat's answer would replace the answer
    # a visitor is acting on (a rebuild in Compress, cleared by the repeat's new .vae file).
    answered = digits[0].answered

    def once(*values: Any) -> Any:
        """The handler's answer, unless the inputs are those the live event last answered."""
        *given, last = values
        key = fingerprint(given)
        return gr.skip() if key == last else {**handler(*given), answered: key}

    # always_last: a stroke that ends while the last one is read is read next, never dropped.
    gr.on(live, gently(once, warn=False), [*inputs, answered], [*outputs, answered], api_name=f"{api_name}_live",
          js=drawings_js([*inputs, answered], *digits), trigger_mode="always_last",
          **{**options, "api_visibility": "private"})
    return [gr.on([button.click], gently(handler), inputs, outputs, api_name=api_name, js=js, **options),
            answered.change(None, api_visibility="private")]


def fingerprint(values: Sequence[Any]) -> str:
    """A short hash of handler inputs (names, file paths, numbers, drawings as arrays): equal inputs, equal hash."""
    return hashlib.sha256(pickle.dumps(list(values))).hexdigest()[:32]


def rereads_after_a_switch(page: Page, tab: gr.Tab, digits: list[DigitInput], handler: Callable[..., dict],
                           inputs: list, outputs: list, **options: Any) -> list[Any]:
    """A model switch has the view (`tab`) read its pictures again with the new model (`handler`, as its live
    event runs it): at once if the view is on screen, else the next time it is opened. Its answers never stay on
    screen under another model's name, and a switch asks the server nothing for the views out of sight (each
    answer costs the page's script some time: docs/engineering.md).

    Returns the two events, the switch's first, for chaining more steps.
    """
    with tab:
        again = gr.Button("Read again", visible="hidden", elem_id=f"{tab.elem_id}-again")  # pressed by the page
        due = gr.Checkbox(label="Read again", visible="hidden", elem_classes=["vae-api"])  # filled in by the page

    def read(*values: Any) -> Any:
        """The view's answers from the new model; none with no picture given."""
        try:
            return handler(*values)
        except gr.Error:
            return gr.skip()

    def on_open(stale: bool, *values: Any) -> Any:
        """The view opened: read again if a switch left its answers the last model's."""
        return read(*values) if stale else gr.skip()

    view = f"document.getElementById({json.dumps(tab.elem_id)})"
    # In the page, with no answer: press the hidden button if the view is on screen, else mark the view stale.
    page.model.change(None, js=f"() => {{ const v = {view}; if (v?.offsetParent) document.getElementById("
                               f"{json.dumps(again.elem_id)})?.click(); else if (v) v.dataset.stale = '1'; }}")
    take_stale = f"const v = {view}, s = v?.dataset.stale === '1'; if (v) delete v.dataset.stale;"
    options = {"api_visibility": "private", "trigger_mode": "always_last", **options}
    return [again.click(read, inputs, outputs, js=drawings_js(inputs, *digits), **options),
            tab.select(on_open, [due, *inputs], outputs, **options,
                       js=f"(d, ...u) => {{ {take_stale} return ({drawings_js([due, *inputs], *digits)})(s, ...u); }}")]
