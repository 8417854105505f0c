"""Latent map: the 2-D model's whole latent space, its decoded manifold and the test digits' codes to point at."""

from functools import lru_cache

import gradio as gr
import pandas as pd
from PIL import Image

from vae.latent import gaussian_grid
from vae.loaded import LoadedModel
from vae.render import grid_image
from webapp import compute
from webapp.outputs import big, png
from webapp.page import CLASS_LEGEND, FAST, Page, digit_canvas
from webapp.views.guide import first_fit, is_2d, needs_model
from webapp.words import term

SIDE = 20  # the decoded manifold: SIDE x SIDE points
EDGE = round(float(gaussian_grid(SIDE).max()))  # its outermost points, rounded (1.96 for 20)
MAP_INTRO = (f"The 2-D model's whole latent space. **The map:** each dot is a test digit's code (the mean of its "
             f"{term('posterior')}), coloured by its class. Point at the map (or touch it), or move the z1/z2 "
             f"sliders: beside it is the digit the decoder draws at that point. **Below:** what the decoder draws "
             f"at {SIDE} x {SIDE} points from about -{EDGE} to {EDGE} on both axes (z1 left to right, z2 bottom to "
             f"top, as on the map), closer together near 0, as the {term('prior')} N(0, 1) spreads its draws. One "
             f"class melts into the next with no empty gaps: the {term('KL')} term keeps the codes packed (*Why a "
             "VAE?* shows an autoencoder without it).")
MANIFOLD_LABEL = f"The decoder's digit on a {SIDE} x {SIDE} grid"  # one line beside its buttons on a phone
MAPS_KEPT = 16  # the shipped 2-D models and the newest trained ones (Watch it learn adds one per run)


def latent_map_view(page: Page) -> None:
    """The map tab, shown for a 2-D model whose file holds its test codes; the page draws and decodes the map."""
    shown = first_fit(page.models.models, is_2d) is not None
    with gr.Tab("Latent map", visible=shown, id="tab-map", elem_id="tab-map") as tab:
        needs_model(page, is_2d, "a model with a 2-D code", "tab-map")
        gr.Markdown(MAP_INTRO, elem_id="map-intro")
        # The map and its decoded point side by side, both in view on a projector's 1024x768; the manifold below.
        gr.HTML('<div class="vae-map-pair"><div class="vae-map-side"><canvas class="vae-map" width="480" '
                'height="480" role="img" aria-label="Map of the 2-D latent space: the test digits\' codes, '
                'coloured by class; point at it to decode that point"></canvas>' + CLASS_LEGEND
                + '<p class="vae-where"></p></div>'
                '<div class="vae-map-point">' + digit_canvas(label="The digit decoded at the point on the map")
                + "</div></div>", elem_id="map-view", label="Test set codes, and the decoded point",
                show_label=True, container=True)
        with gr.Row():
            z1 = gr.Slider(-4, 4, value=0, step=0.05, label="z1", elem_id="map-z1")
            z2 = gr.Slider(-4, 4, value=0, step=0.05, label="z2", elem_id="map-z2")
        manifold = gr.Image(label=MANIFOLD_LABEL, elem_id="manifold", format="png", interactive=False,
                            height=680, alt_text=f"The decoded manifold: a {SIDE} by {SIDE} grid of the digits the "
                            "model decodes across its 2-D latent space")  # room above the 602 px grid for the label
        # The server's side, for API clients (/map_codes's table, /decode_2d's picture). Gradio shows every
        # component of a tab whose visibility an answer sets (on_model), hidden ones too: page.css keeps .vae-api
        # hidden. The page never asks for the table: its 5,000 rows in a component would cost the page a copy of
        # them at each answer (docs/engineering.md); the page reads the codes from the model's file.
        api = {"visible": "hidden", "elem_classes": ["vae-api"]}
        scatter = gr.ScatterPlot(x="z1", y="z2", color="class", elem_id="map-codes", **api)
        codes_btn = gr.Button("Test codes", elem_id="map-codes-button", **api)
        point = gr.Image(label="Decoded point", elem_id="point", format="png", interactive=False,
                         alt_text="The digit decoded at the point", **api)
        server_decode = gr.Button("Decode on the server", elem_id="server-decode-2d", **api)

    @lru_cache(maxsize=MAPS_KEPT)
    def manifold_picture(name: str) -> Image.Image:
        """The 2-D model's decoded manifold, computed once per model (the newest few)."""
        return grid_image(compute.manifold(page.models.pick(name), SIDE, 0), nrow=SIDE)

    def on_map_point(name: str, label: int, z1: float, z2: float) -> str:
        """Decode one point of a 2-D latent space (latent dims 0 and 1, whatever their slider order)."""
        loaded, at = page.models.pick(name), {0: z1, 1: z2}
        return big(compute.decode_sliders(loaded, [at.get(d, 0.0) for d in loaded.ranking], label))

    def on_model(loaded: LoadedModel) -> dict:
        """The tab, with the manifold, for a 2-D model whose file holds its test codes."""
        if not is_2d(loaded):  # the tab stays, saying which model it needs (needs_model)
            return {tab: gr.update(visible=shown), manifold: None}
        return {tab: gr.update(visible=True), manifold: png(manifold_picture(loaded.name))}  # old files are swept

    def on_codes(name: str) -> pd.DataFrame:
        """The test digits' codes and classes that the map draws, for a 2-D model whose file holds them."""
        loaded = page.models.pick(name)
        if not is_2d(loaded):
            reason = "no test codes in its file" if loaded.latent_dim == 2 else f"a {loaded.latent_dim}-D code"
            raise gr.Error(f"The latent map needs a 2-D model with its test codes; {name} has {reason}.")
        return pd.DataFrame(compute.code_map(loaded))  # for API clients only: not built at a switch

    page.on_model.append(([tab, manifold], on_model))
    codes_btn.click(on_codes, page.model, scatter, api_name="map_codes", **FAST)
    # The map and its z1/z2 sliders decode in the page; /decode_2d stays for API clients.
    server_decode.click(on_map_point, [page.model, page.label, z1, z2], point, api_name="decode_2d", **FAST)
