"""Why a VAE: a plain autoencoder with the 2-D VAE's network, beside that VAE: where each puts the test digits, and
what each decodes from the same random draws of N(0, 1)."""

import gradio as gr
from torch import Tensor

from vae.autoencoder import PRIOR_MASS, code_spread, map_window, pair, prior_decodings, prior_radius, stored_codes
from vae.loaded import LoadedModel
from vae.render import grid_image
from webapp.code_map_picture import code_map_picture, mark_codes
from webapp.outputs import png
from webapp.page import IMAGES

DRAWS = 32
INTRO = (
    "Two networks with the same layers, trained on the same digits. The **plain autoencoder** learns only to "
    "reconstruct: its code is the encoder's output, nothing else. The **VAE** also pays, in its loss, for how far "
    "each code's distribution is from the prior N(0, 1) (the KL term). Below each: where the test digits land, on "
    f"one scale (the grey circle holds {PRIOR_MASS:.0%} of N(0, 1)), and what its decoder makes of the same {DRAWS} "
    "random codes drawn from N(0, 1) (the crosses).")
WHY = (
    "**What the prior and the KL term buy:** they pull every code into the circle where the random draws fall, so "
    "each draw lands among the codes of real digits of every kind and decodes to a digit; the plain autoencoder "
    "spreads its codes far wider, and the same draws cover only a crowded corner of its code space: blurry blends "
    "of a few digits, mostly 3s and 5s.")
HOW = {True: "Trained on reconstruction alone; the code is the encoder's output, never sampled",
       False: "Trained on reconstruction + KL from N(0, 1); the code is sampled around the encoder's mean"}
MISSING = ("This comparison needs a plain autoencoder with the 2-D VAE's network in `weights/`: "
           "`python train.py --latent-dim 2 --autoencoder --epochs 30 --name ae-2d`.")


def why_a_vae_view(demo: gr.Blocks, models: dict[str, LoadedModel]) -> None:
    """The plain autoencoder and its VAE twin side by side (models may hold plain autoencoders: see load_models)."""
    names = pair(models)
    with gr.Tab("Why a VAE?", id="tab-why", elem_id="tab-why"):
        if names is None:
            gr.Markdown(MISSING)
            return
        shown = [models[n] for n in names]
        codes = [stored_codes(m) for m in shown]
        gr.Markdown(INTRO)
        with gr.Row():
            seed = gr.Number(0, label="Seed of the random draws", precision=0, elem_id="why-seed", min_width=160)
            new_draws = gr.Button("New draws", elem_id="why-new", min_width=160, size="lg")
        with gr.Row(elem_id="why-pair"):
            maps, grids = zip(*(model_column(m, c) for m, (c, _) in zip(shown, codes, strict=True)), strict=True)
        gr.Markdown(WHY)
    window = map_window(*(c for c, _ in codes))  # one scale for both maps
    backgrounds = [code_map_picture(c, labels, m.class_names, window, prior_radius())
                   for m, (c, labels) in zip(shown, codes, strict=True)]

    def on_draws(seed: float | None) -> list[str]:
        """Both maps with the draws of `seed` marked, then both decodings of those draws."""
        drawn = [prior_decodings(m.model, DRAWS, int(seed or 0)) for m in shown]
        return ([png(mark_codes(b, z, window)) for b, (z, _) in zip(backgrounds, drawn, strict=True)]
                + [png(grid_image(probs, nrow=8, scale=3)) for _, probs in drawn])

    outputs = [*maps, *grids]
    demo.load(on_draws, seed, outputs, api_name="why_a_vae", **IMAGES)
    seed.change(on_draws, seed, outputs, api_name="why_a_vae_seed", api_visibility="private",
                trigger_mode="always_last", **IMAGES)
    new_draws.click(None, seed, seed, js="(s) => (s || 0) + 1")


def model_column(loaded: LoadedModel, codes: Tensor) -> tuple[gr.Image, gr.Image]:
    """One side of the comparison: what the model is, how its test codes sit, its map and its decoded draws."""
    kind = "ae" if loaded.autoencoder else "vae"
    title = "Plain autoencoder" if loaded.autoencoder else "VAE"
    spread = code_spread(codes)
    with gr.Column(min_width=300, elem_id=f"why-{kind}"):
        gr.Markdown(f"## {title} (`{loaded.name}`)\n{HOW[loaded.autoencoder]}. {spread.inside_circle:.0%} of the "
                    f"test digits land inside the circle; the KL from N(0, 1) of a Gaussian fitted to their codes "
                    f"is {spread.kl_to_prior:.2f} nats.")
        where = gr.Image(label="Where the test digits land", format="png", interactive=False,
                         elem_id=f"why-map-{kind}", alt_text=f"The {title.lower()}'s codes of the test digits, "
                         f"coloured by digit, with the circle holding {PRIOR_MASS:.0%} of N(0, 1)")
        decoded = gr.Image(label=f"Decoded from the {DRAWS} random draws", format="png", interactive=False,
                           elem_id=f"why-draws-{kind}",
                           alt_text=f"What the {title.lower()} decodes from {DRAWS} random codes drawn from N(0, 1)")
    return where, decoded
