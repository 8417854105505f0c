"""Code map: where any model puts the test digits (a stored 2-D PCA or UMAP map of their codes), the nearest test
digits to yours, and latent arithmetic (a step from one class's average code to another's, and a - b + c).

The map, the digit under the pointer, its reconstruction and the class-direction slider are drawn and decoded in the
page (static/code_map.js) from the files `scripts/project_codes.py` stored in weights/projections; the server reads
a model's file the first time that model is chosen, never at start-up.
"""

from pathlib import Path

import gradio as gr
import torch
from PIL import Image

from vae.checkpoint import read_header
from vae.latent import decode_probs
from vae.loaded import LoadedModel
from vae.projection import (
    PER_CLASS,
    Projection,
    ProjectionError,
    analogy,
    class_direction,
    digits_path,
    load_projection,
    move_along,
    neighbours,
    projection_path,
    same_class_share,
)
from vae.render import grid_image
from webapp import compute
from webapp.digit_input import (
    digit_input,
    digit_label,
    gently,
    on_button_and_live,
    opening_example,
    opens_on_examples,
    read_digit,
)
from webapp.outputs import big, png
from webapp.page import CLASS_LEGEND, FAST, IMAGES, Page, digit_canvas, static_url
from webapp.words import picture_words, reword

N_NEIGHBOURS = 8
# The digit a first look at the view finds the nearest test digits of, and moves along the class direction (a 3,
# the direction's first class; a dress); for another dataset, its first example.
OPENING = {"mnist": "digit-3-2-test0030.png", "fashion-mnist": "3-dress-1-test0013.png"}
METHODS = {"exact": "z1, z2: the codes themselves", "umap": "UMAP", "pca": "PCA"}


class StoredMaps:
    """The models' maps stored in `weights_dir`/projections, each read the first time it is asked for; per model,
    computed once too (each takes most of a second): its words and the typical distance between two codes."""

    def __init__(self, weights_dir: Path) -> None:
        self.weights_dir = weights_dir
        self.read: dict[str, Projection | ProjectionError] = {}
        self.texts: dict[str, str] = {}
        self.scales: dict[str, float] = {}

    def projection(self, loaded: LoadedModel) -> Projection:
        """The model's stored map; a gr.Error says why there is none."""
        if loaded.name not in self.read:
            try:
                self.read[loaded.name] = load_projection(loaded, self.weights_dir)
            except ProjectionError as e:
                self.read[loaded.name] = e
        found = self.read[loaded.name]
        if isinstance(found, ProjectionError):
            raise gr.Error(str(found))
        return found

    def text(self, loaded: LoadedModel) -> str:
        """What the model's map shows, in plain words."""
        if loaded.name not in self.texts:
            self.texts[loaded.name] = describe(loaded, self.projection(loaded))
        return self.texts[loaded.name]

    def scale(self, loaded: LoadedModel) -> float:
        """The median distance between two test digits' codes on the model's map."""
        if loaded.name not in self.scales:
            self.scales[loaded.name] = typical_distance(self.projection(loaded))
        return self.scales[loaded.name]

    def page_files(self, loaded: LoadedModel) -> dict:
        """Where the page fetches the model's map and digits (and the keys it caches them by)."""
        files = {"map": projection_path(self.weights_dir, loaded.name),
                 "digits": digits_path(self.weights_dir, loaded.dataset)}
        return {k: {"url": static_url(p), "bytes": p.stat().st_size,
                    "sha256": read_header(p)[1]["__metadata__"]["sha256"]} for k, p in files.items()}


def code_map_view(page: Page, weights_dir: Path) -> None:
    """The Code map tab, for every model with a stored projection in `weights_dir`/projections."""
    maps = StoredMaps(weights_dir)
    with gr.Tab("Code map", id="tab-code-map", elem_id="tab-code-map") as tab:
        about = gr.Markdown(elem_id="code-map-about")
        method = gr.Radio([(v, k) for k, v in METHODS.items()], value="umap", label="Flatten the codes with",
                          elem_id="code-map-method")
        # Texts name the pictures as {one}, {many}: webapp.words.reword fills them in for the model's dataset.
        page.worded(gr.HTML, {"label": "Test {many}, by their codes"},
                    value='<canvas class="vae-map" width="560" height="560" role="img" aria-label="Test pictures '
                    'placed by their codes, coloured by class"></canvas>' + CLASS_LEGEND
                    + '<div class="vae-hover"><div><p>From the test set</p><canvas class="vae-digit vae-test" '
                    'width="28" height="28" role="img" aria-label="The test picture pointed at">'
                    '</canvas></div><div><p>Its reconstruction</p>' + digit_canvas() + '</div></div>'
                    '<p class="vae-where">Point at a dot (or touch it) to see its picture; click it to set the sliders '
                    '(Latent sliders tab) to its code.</p>', elem_id="code-map-view", show_label=True, container=True)
        with gr.Row():
            with gr.Column():
                digit = digit_input(page, "Your {one}", "codemap")
                near_btn = page.worded(gr.Button, {"value": "Find its nearest test {many}"}, variant="primary")
            with gr.Column():
                near = page.worded(gr.Gallery, {"label": f"The {N_NEIGHBOURS} test {{many}} whose codes are nearest to "
                                                         "your {one}'s"},
                                   elem_id="code-map-neighbours", columns=4, object_fit="contain")
                near_note = gr.Markdown(elem_id="code-map-near-note")
        page.worded(gr.Markdown, {"value": "## Latent arithmetic\nA **class direction** is the step from one class's "
                                           "average code to another's. The slider moves your {one} (or, before you "
                                           "give one, the first class's average code) along it: at 0 it is "
                                           "unchanged, at 1 it has taken the whole step."})
        with gr.Row():
            classes = class_choices(page.models.pick(page.model.value))
            start = gr.Dropdown(classes, value=3, label="From the average code of", elem_id="code-map-from")
            end = gr.Dropdown(classes, value=8, label="to the average code of", elem_id="code-map-to")
            t = gr.Slider(-1, 2, value=0, step=0.05, label="How far along the step (t)", elem_id="code-map-t")
        gr.HTML(digit_canvas(), elem_id="code-map-direction", label="Decoded in your browser", show_label=True,
                container=True)
        page.worded(gr.Markdown, {"value": "An **analogy** takes the step that turns {one} b into {one} a and applies "
                                           "it to {one} c: a - b + c. Give three test {many} by their number (point "
                                           "at a dot to see it)."})
        with gr.Row():
            a, b, c = (page.worded(gr.Number, {"label": f"{n}: test {{one}} number"}, value=0, precision=0,
                                   elem_id=f"code-map-{n}") for n in "abc")
            analogy_btn = gr.Button("a - b + c", variant="primary")
        analogy_out = page.worded(gr.Image, {"alt_text": "Test {many} a, b and c, then the decoding of the code "
                                                         "a - b + c"},
                                  label="a, b, c, and the decoding of a - b + c", elem_id="code-map-analogy",
                                  format="png", interactive=False, height=200)
        spec = gr.JSON(visible="hidden", elem_id="code-map-spec")  # for the page: where the model's map files are
        current = gr.JSON(visible="hidden", elem_id="code-map-current")  # the code of the digit on view
        table = gr.JSON(visible="hidden")
        picked = gr.Number(visible="hidden")
        showing = gr.State(None)  # the model whose map the tab shows
        pick_btn = gr.Button(visible="hidden", elem_id="code-map-pick")
        api_only = gr.Button(visible="hidden")
        direction_out = gr.Image(visible="hidden", format="png")
        opens_on_examples(page, tab, [digit], opening_example(OPENING))

    def on_model(loaded: LoadedModel) -> dict:
        """The map's words, methods, class pickers and files for the chosen model."""
        names = class_choices(loaded)
        choices = [(v, k) for k, v in METHODS.items() if k != "exact" or loaded.latent_dim == 2]
        pickers = {start: gr.update(choices=names, value=3), end: gr.update(choices=names, value=8),
                   method: gr.update(choices=choices, value=choices[0][1]), current: None, near: None, near_note: "",
                   analogy_out: None}  # what another model showed goes
        try:
            proj = maps.projection(loaded)
        except gr.Error as e:
            return {about: f"**No map for {loaded.name}:** {e.message}", a: 0, b: 0, c: 0, **pickers,
                    spec: {"model": loaded.name, "error": e.message}}
        first = {k: int(proj.test_indices[proj.labels == k][0]) for k in (7, 1, 4)}
        worked = png(analogy_picture(loaded, proj, first[7], first[1], first[4]))  # the view opens on an analogy
        return {about: maps.text(loaded), a: first[7], b: first[1], c: first[4], **pickers, analogy_out: worked,
                spec: {"model": loaded.name, "files": maps.page_files(loaded), "class_names": loaded.class_names,
                       "conditional": loaded.conditional, "picture": picture_words(loaded.dataset)["one"]}}

    def on_show(name: str, shown: str | None) -> dict:
        """The chosen model's map, unless the tab shows it already (coming back to the tab keeps what it shows)."""
        if name == shown:  # one output named: Gradio reads an empty dict as a value, not as "no updates"
            return {showing: shown}
        return {**on_model(page.models.pick(name)), showing: name}

    def on_neighbours(name: str, upload: str | None, sketch: dict | None) -> dict:
        """The test digits whose codes are nearest to the digit on view, and its code (for the map and the slider)."""
        loaded = page.models.pick(name)
        proj, x = maps.projection(loaded), read_digit(loaded, upload, sketch)
        label = digit_label(loaded, x)
        z = compute.encode(loaded, x, label)
        note = reword(f"Under each: its test {{one}} number, and how far its code is from your {{one}}'s "
                      f"(straight-line distance between the {loaded.latent_dim} numbers). For scale: half of all "
                      f"pairs of test {{many}} are more than {maps.scale(loaded):.1f} apart.", loaded.dataset)
        return {near: nearest_gallery(proj, z), near_note: note,
                current: {"code": z.tolist(), "label": 0 if label is None else label}}

    def on_pick(name: str, index: float | None) -> dict:
        """The sliders (and, for a conditional model, the class) set to the code of a test digit on the map."""
        loaded = page.models.pick(name)
        proj = maps.projection(loaded)
        i = position(proj, index)
        label = int(proj.labels[i]) if loaded.conditional else None
        return {**page.set_sliders(loaded, label, page.models.slider_values(loaded, proj.codes[i][None])),
                page.label: label or 0}

    def on_projection(name: str, how: str) -> dict:
        """The map's points: x, y, class and test-set number of each of the stored test digits."""
        loaded = page.models.pick(name)
        return map_points(loaded, maps.projection(loaded), how)

    def on_direction(name: str, upload: str | None, sketch: dict | None, start_class: int, end_class: int,
                     how_far: float) -> str:
        """Your digit (or, with none, the first class's average code) moved along the step between two classes'
        average codes, decoded."""
        loaded = page.models.pick(name)
        proj = maps.projection(loaded)
        if upload or (sketch or {}).get("composite") is not None:
            x = read_digit(loaded, upload, sketch)
            label = digit_label(loaded, x)
            z = compute.encode(loaded, x, label)
        else:
            label, z = int(start_class), proj.class_means[int(start_class)]
        moved = move_along(z, class_direction(proj.class_means, int(start_class), int(end_class)), float(how_far))
        return big(decode_probs(loaded.model, moved[None], compute.label_tensor(loaded, label))[0])

    def on_analogy(name: str, first: float | None, second: float | None, third: float | None) -> str:
        """Test digits a, b, c and the decoding of a - b + c."""
        loaded = page.models.pick(name)
        return png(analogy_picture(loaded, maps.projection(loaded), first, second, third))

    # Filled when the tab is opened and at each model switch (not through page.on_model: nothing is read at
    # start-up, and /select_model keeps its outputs).
    gr.on([tab.select, page.model.change], on_show, [page.model, showing],
          [about, method, start, end, a, b, c, spec, current, near, near_note, analogy_out, showing],
          api_visibility="private", **FAST)
    spec.change(None, spec, js="s => { window.vaeCodeMap?.show(s); }")
    current.change(None, current, js="c => { window.vaeCodeMap?.current(c); }")
    method.change(None, method, js="m => { window.vaeCodeMap?.method(m); }")
    gr.on([start.change, end.change], None, [start, end], js="(a, b) => { window.vaeCodeMap?.direction(a, b); }")
    inputs = [page.model, *digit.components]
    on_button_and_live(near_btn, [digit], on_neighbours, inputs, [near, near_note, current], "neighbours", **IMAGES)
    pick_btn.click(gently(on_pick), [page.model, picked], [page.decoded, *page.sliders, page.label],
                   api_name="map_digit", api_visibility="private", js="(m, p) => [m, window.vaeCodeMap?.picked()]",
                   **FAST).then(**page.show())
    api_only.click(gently(on_projection), [page.model, method], table, api_name="projection", **FAST)
    api_only.click(gently(on_direction), [*inputs, start, end, t], direction_out, api_name="direction", **IMAGES)
    # Queued (IMAGES, not FAST): Gradio shows a refusal's warning only for a queued event.
    analogy_btn.click(gently(on_analogy), [page.model, a, b, c], analogy_out, api_name="analogy", **IMAGES)


def class_choices(loaded: LoadedModel) -> list[tuple[str, int]]:
    """A class picker's choices: each class name, standing for its number."""
    return [(n, i) for i, n in enumerate(loaded.class_names)]


def map_points(loaded: LoadedModel, proj: Projection, how: str) -> dict[str, list]:
    """The map's points by `how` (exact, pca, umap): x, y, class and test-set number of each stored test digit."""
    if how not in METHODS or (how == "exact" and loaded.latent_dim != 2):
        raise gr.Error(f"Unknown map {how!r}: choose 'umap' or 'pca'" + (" or 'exact'" * (loaded.latent_dim == 2)))
    xy = {"exact": proj.codes, "pca": proj.pca, "umap": proj.umap}[how]
    return {"x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(), "test_index": proj.test_indices.tolist(),
            "class": [loaded.class_names[k] for k in proj.labels.tolist()]}


def nearest_gallery(proj: Projection, z: torch.Tensor) -> list[tuple]:
    """The N_NEIGHBOURS test digits whose codes are nearest to z, each captioned with its number and distance."""
    found, distances = neighbours(proj.codes, z, N_NEIGHBOURS)
    return [(big(proj.images[i].float() / 255), f"#{int(proj.test_indices[i])}: {float(d):.1f} away")
            for i, d in zip(found.tolist(), distances, strict=True)]


def analogy_picture(loaded: LoadedModel, proj: Projection, first: float | None, second: float | None,
                    third: float | None) -> Image.Image:
    """Test digits a, b, c (by number) in a row, then the decoding of a - b + c (with c's class)."""
    i, j, k = (position(proj, n) for n in (first, second, third))
    result = analogy(proj.codes[i], proj.codes[j], proj.codes[k])
    decoded = decode_probs(loaded.model, result[None], compute.label_tensor(loaded, int(proj.labels[k])))
    return grid_image(torch.cat([proj.images[[i, j, k]].float().div(255)[:, None], decoded]), nrow=4, scale=4)


def position(proj: Projection, index: float | None) -> int:
    """Where test digit number `index` is among the map's digits; a gr.Error if it is not on the map."""
    numbers = proj.test_indices.tolist()  # compared as Python numbers: any size, no tensor overflow
    if index not in numbers:
        raise gr.Error(f"Test picture {index} is not on the map: it holds the first {PER_CLASS} test pictures of "
                       "each class. Point at a dot to see its number.")
    return numbers.index(index)


def typical_distance(proj: Projection) -> float:
    """The median distance between the codes of two test digits on the map."""
    distances = torch.cdist(proj.codes, proj.codes)
    return float(distances[torch.triu(torch.ones_like(distances, dtype=torch.bool), 1)].median())


def describe(loaded: LoadedModel, proj: Projection) -> str:
    """What the map shows, and what its distances do and do not mean, in plain words."""
    d, n = loaded.latent_dim, len(proj.codes)
    share = {k: 100 * same_class_share(p, proj.labels) for k, p in (("codes", proj.codes), ("umap", proj.umap),
                                                                      ("pca", proj.pca))}
    text = (f"Each dot is one of {n:,} test images (the first {PER_CLASS} of each class), placed by its code: the "
            f"{d} numbers the encoder gives it (the mean of q(z|x)), coloured by its class. ")
    if d == 2:
        text += "This model's codes have two numbers, so **z1, z2** shows them exactly; PCA and UMAP redraw them. "
    flat = f"a flat map of {d}-number codes: dots" if d > 2 else "dots"
    text += (f"\n\n**Caution:** {flat} close together are usually close codes, but distances across the map, "
             f"cluster sizes and the gaps between clusters mean little. **PCA** looks at the codes from the side where "
             f"they spread most, keeping "
             f"{100 * sum(proj.pca_explained):.0f}% of their spread; **UMAP** bends the space to keep each dot's "
             f"neighbours. Of each test image's 5 nearest dots, {share['umap']:.0f}% are of its class on the UMAP "
             f"map and {share['pca']:.0f}% on the PCA map; of its 5 nearest codes, {share['codes']:.0f}%.")
    if loaded.conditional:
        text += (" This model is told the class, so its codes need not hold it: they hold the style (slant, "
                 "thickness), and classes mix.")
    return text
