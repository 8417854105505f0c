"""Compress: a digit coded losslessly into a few bytes by the VAE (bits-back coding), and rebuilt from them alone.

`/compress` codes one digit and `/decompress` rebuilds the digits of a .vae file; the steps of the coder, the
sizes beside PNG and zlib, and the negative ELBO are shown in plain words (vae.compress does the coding).
"""

from pathlib import Path

import gradio as gr
import numpy as np
import torch

import vae.compress as coder
from pictures.digitize import load_digit
from vae.data import binarize
from vae.loaded import LoadedModel
from vae.model import N_PIXELS
from vae.render import grid_image
from webapp.digit_input import (
    EXAMPLES,
    digit_input,
    gently,
    on_button_and_live,
    opening_example,
    opens_on_examples,
    read_digit,
    rereads_after_a_switch,
)
from webapp.outputs import OUTPUTS, big, png
from webapp.page import IMAGES, Page, reveal
from webapp.views.guide import needs_model

BINARIZE_SEED = 0  # the same picture always gives the same black-and-white digit, so the same file
MAX_PAGE_DIGITS = 1_000  # an uploaded .vae file may hold this many digits here (a few seconds to rebuild)
OPENING = {"mnist": "digit-5-1-test0008.png"}  # the digit a first look at the view compresses

INTRO = """## Compress a digit into a few bytes, with the VAE
A VAE gives every digit a probability, and a probable digit can be written in few **bits** (one bit is one
yes-or-no answer; 8 bits make a byte). Here the model writes your digit, losslessly, as a short message by
*bits-back coding* with asymmetric numeral systems, then rebuilds it from that message alone, pixel for pixel.
First your digit is made black and white the way the model's training digits were: each pixel is drawn white
with its grey level as the chance (with a fixed seed, so the same picture always gives the same file). The view
opens on an example: pick another, or draw one."""

STEPS = {
    "start": ("Start-up bits: fixed pseudo-random bits at the bottom of the message, so that the first digit has "
              "bits to take back. The receiver gets them back at the end."),
    "1. take bits back": ("Decode a code z from q(z|x), the encoder's distribution for your digit: picking z reads "
                          "bits off the message. They come back when the receiver, knowing the digit, puts z back."),
    "2. code the pixels": ("Code the 784 pixels with the decoder's probabilities p(x|z): a pixel it predicted "
                           "confidently costs a small fraction of a bit."),
    "3. code z": "Code z with the prior N(0, I), so that the receiver can find z first.",
    "stored": "The coder stores whole 32-bit words: the message is rounded up to the next word.",
}
# A model with two layers of code, z -> u -> x, takes bits back for both and codes u as a step of its own (the page
# calls the lower layer u: z1, z2, ... name z's dimensions; vae/ calls it z1).
TWO_LAYER_STEPS = {
    "start": STEPS["start"],
    "1. take bits back": ("Decode a code z from q(z|x), the encoder's distribution for your digit, then the lower "
                          "layer u from q(u|x, z): picking them reads bits off the message. They come back when the "
                          "receiver, knowing the digit, puts them back."),
    "2. code the pixels": ("Code the 784 pixels with the decoder's probabilities p(x|u): a pixel it predicted "
                           "confidently costs a small fraction of a bit."),
    "3. code u": "Code u with p(u|z), the prior that z gives it, so that the receiver, knowing z, can find u.",
    "4. code z": STEPS["3. code z"],
    "stored": STEPS["stored"],
}


def codecs_of(models: dict[str, LoadedModel]) -> tuple[dict[str, coder.Codec], dict[str, str]]:
    """A codec for each model that can code binary digits, and for each other model the reason it cannot."""
    codecs, refusals = {}, {}
    for name, loaded in models.items():
        try:
            codecs[name] = coder.make_codec(loaded)
        except coder.NotCodable as e:
            refusals[name] = str(e)
    return codecs, refusals


def which_models(codecs: dict[str, coder.Codec]) -> str:
    """The line that says which models can code here."""
    if not codecs:
        return ("**No loaded model can code binary digits**: compression needs one trained on black-and-white "
                "digits (`python train.py --binarize`).")
    return (f"Models that code here: **{', '.join(codecs)}** (trained on black-and-white digits). The others were "
            "trained on grey levels or need each digit's label, so their probabilities are no fair code for these.")


def black_and_white(x: torch.Tensor, seed: int = BINARIZE_SEED) -> np.ndarray:
    """Digits in [0, 1] made black and white as the model's training digits were: uint8 (N, 28, 28)."""
    drawn = binarize(x.reshape(-1, 28, 28).float(), torch.Generator().manual_seed(seed))
    return drawn.to(torch.uint8).numpy()


def describe_steps(result: coder.Compressed) -> str:
    """A table of the message's length in bits after each step of a one-digit message, with what each step does."""
    (s,) = result.steps
    lengths = [s.before, s.after_bits_back, s.after_pixels, s.after_lower_prior, s.after_prior, result.message_bits]
    lengths = [n for n in lengths if n is not None]  # a one-layer model has no u to code
    steps = STEPS if len(lengths) == len(STEPS) else TWO_LAYER_STEPS
    rows = zip(steps.items(), lengths, [0, *lengths[:-1]], strict=True)
    cell = {step: text.replace("|", "\\|") for step, text in steps.items()}  # a bare | would end the table's cell
    lines = [f"| {step} | {after} ({after - before:+d}) | {cell[step]} |" for (step, _), after, before in rows]
    return "\n".join([f"**How the message grows: the {len(steps) - 2} steps of bits-back coding**", "",
                      "| step | bits in the message after it (change) | what happens |", "|---|---:|---|",
                      *lines])


def longer_than_zlib(result: coder.Compressed, sizes: dict[str, int]) -> str:
    """Where a lone digit's message is longer than zlib's, the sentence that says why (its start-up bits); else ''."""
    if result.message_bits // 8 <= sizes["zlib"]:
        return ""
    why = (" A model with two layers of code takes more bits back first, so it needs more of them."
           if result.steps[0].after_lower_prior is not None else "")
    return (f" Here the message is the longer one only because of its start-up bits (below): the digit's own share is "
            f"{-(-result.net_bits // 8)} bytes.{why}")


def describe_sizes(result: coder.Compressed, nelbo_bits: float, sizes: dict[str, int]) -> str:
    """The message's length beside a PNG's and zlib's, and beside what it costs in theory, in plain words."""
    message, file = result.message_bits // 8, len(result.data)
    return f"""**Your digit in {result.message_bits} bits: {message} bytes.** As a .vae file it takes {file} bytes:
those {message} plus a {coder.HEADER.size}-byte header naming the model and holding a checksum of the digit.

| the same black-and-white digit as | bytes |
|---|---:|
| this VAE's message (the .vae file) | **{message}** ({file}) |
| zlib, the compressor inside ZIP and PNG, on its 98 bytes of packed pixels | {sizes['zlib']} |
| a 1-bit PNG picture | {sizes['png']} |

PNG and zlib know nothing about digits: they only look for repeats. The VAE has seen 60,000 digits, so it
predicts each pixel, and a well-predicted pixel costs a small fraction of a bit.{longer_than_zlib(result, sizes)}

**In theory** this digit costs {nelbo_bits:.1f} bits: its negative ELBO, the loss the VAE was trained on
({nelbo_bits * coder.LN2:.1f} nats; 1 nat = 1.44 bits). The digit's own share of the message, the net, came to
{result.net_bits} bits: near that, because the coder draws one code where the ELBO averages over many. The other
{result.startup_bits} bits are start-up bits, which the first step needs to take bits back. Alone, a digit pays
for them; in a long message only the first digit does: try **Code the 20 examples as one message** below."""


def describe_many(result: coder.Compressed, separate_bytes: int) -> str:
    """What one message of many digits costs, total and net per pixel, and why the two differ."""
    n, pixels = len(result.steps), len(result.steps) * N_PIXELS
    return f"""**{n} digits in one message: {result.message_bits:,} bits = {result.message_bits // 8:,} bytes**
({len(result.data):,} as a .vae file), against {separate_bytes:,} bytes as {n} separate .vae files.
Total: **{8 * len(result.data) / pixels:.3f} bits per pixel** (every bit of the file over the {pixels:,} pixels);
net: **{result.net_bits / pixels:.3f} bits per pixel** (what the digits themselves added).

Only the first digit takes its bits back from the {result.startup_bits} start-up bits; every later digit takes
them from the digits coded before it, so the start-up bits and the header are paid once. The longer the message,
the closer the total comes to the net, which is the model's negative ELBO per pixel."""


def describe_rebuilt(digits: np.ndarray, compressed: np.ndarray | None, size: int, model: str) -> str:
    """What the receiver did, and whether it gave back exactly the digits compressed above."""
    what = "one digit" if len(digits) == 1 else f"{len(digits)} digits"
    same = ""
    if compressed is not None:
        identical = compressed.shape == digits.shape and np.array_equal(compressed, digits)
        same = (f" **Identical** to what was compressed above: all {digits.size:,} pixels match." if identical
                else " This file holds other digits than the ones compressed above.")
    return (f"Rebuilt {what} from the {size} bytes of the file alone, with {model} (named in its header).{same} "
            "The receiver ran the steps backwards, last digit first: it decoded z with the prior, the pixels with "
            "p(x|z), and put z back with q(z|x), which returned exactly the bits the sender took back.")


def describe_file(path: str | None) -> str:
    """What Decompress will do with the .vae file now in the box (none: how to get one)."""
    if not path:
        return "No .vae file: compress a digit above, or drop a .vae file in the box, then press **Decompress**."
    data = Path(path).read_bytes()
    try:
        count = coder.read_header(data).digits
        what = "the digit" if count == 1 else f"the {count} digits"
    except coder.StreamError:
        what = "what it holds"
    return (f"Press **Decompress**: the receiver rebuilds {what} from this file's {len(data)} bytes alone, with the "
            "model its header names.")


def compress_view(page: Page) -> None:
    """The Compress tab: a digit coded into a .vae file, the coder's steps, and the file rebuilt into the digit."""
    codecs, refusals = codecs_of(page.models.models)

    def codes(loaded: LoadedModel) -> bool:
        """Whether the model can code digits here (trained on black-and-white digits, not told the class)."""
        return loaded.name in codecs

    with gr.Tab("Compress", id="tab-compress", elem_id="tab-compress") as tab:
        gr.Markdown(INTRO, elem_id="compress-intro")
        gr.Markdown(which_models(codecs), elem_id="compress-models")
        needs_model(page, codes, "a model trained on black-and-white digits", "tab-compress")
        with gr.Row():
            with gr.Column():
                digit = digit_input(page, "Your {one}", "compress")
                compress_btn = gr.Button("Compress", variant="primary")
            with gr.Column():
                binary = gr.Image(label="Black and white, as the model was trained", elem_id="binary",
                                  format="png", interactive=False, height=240,
                                  alt_text="Your digit in black and white, the picture the model compresses")
                sizes = gr.Markdown(elem_id="compress-sizes")
        steps = gr.Markdown(elem_id="compress-steps")
        with gr.Row():
            with gr.Column():
                vae_file = gr.File(label="The .vae file: download it, or drop one here",
                                   file_types=[".vae"], type="filepath", elem_id="vae-file")
                decompress_btn = gr.Button("Decompress", variant="primary")
            with gr.Column():
                rebuilt = gr.Image(label="Rebuilt from the file alone", elem_id="rebuilt", format="png",
                                   interactive=False, height=240, alt_text="The digits rebuilt from the file alone")
                rebuilt_note = gr.Markdown(elem_id="rebuilt-note")
        many_btn = gr.Button("Code the 20 examples as one message")
        many = gr.Image(label="The 20 examples, black and white", elem_id="many", format="png", interactive=False,
                        visible=False, alt_text="The 20 example digits in black and white, coded as one message")
        many_note = gr.Markdown(elem_id="many-note")
        compressed = gr.State(None)  # the digits the .vae file holds, to compare the rebuilt ones with
        opens_on_examples(page, tab, [digit], opening_example(OPENING), codes)

    def codec_for(name: str) -> coder.Codec:
        """The chosen model's codec, or a gr.Error saying why it cannot code."""
        page.models.pick(name)
        if name not in codecs:
            raise gr.Error(f"{refusals[name]} {which_models(codecs)}".replace("**", ""))
        return codecs[name]

    def on_compress(name: str, upload: str | None, sketch: dict | None) -> dict:
        """The digit made black and white, coded into a .vae file, with its sizes and the coder's steps."""
        codec = codec_for(name)
        x = black_and_white(read_digit(page.models.pick(name), upload, sketch))
        result = coder.compress_digit(codec, x)
        nelbo = float(coder.negative_elbo_bits(codec, x)[0])
        return {binary: big(torch.from_numpy(x[0]).float()),
                sizes: describe_sizes(result, nelbo, coder.comparison_sizes(x)), steps: describe_steps(result),
                vae_file: OUTPUTS.save(result.data, f"digit-{name}.vae"), compressed: x}

    def on_decompress(path: str | None, before: np.ndarray | None) -> dict:
        """The digits of a .vae file, rebuilt from its bytes alone with the model its header names."""
        if not path:
            raise gr.Error("No .vae file yet: compress a digit first, or drop a .vae file in the box.")
        data = Path(path).read_bytes()
        try:
            sha = coder.read_header(data).sha
            codec = next((c for c in codecs.values() if c.sha == sha), None)
            if codec is None:
                raise gr.Error(f"This file was compressed with a model this app does not have "
                               f"(weights {sha.hex()}...).")
            digits = coder.decompress(codec, data, MAX_PAGE_DIGITS)
        except coder.StreamError as e:
            raise gr.Error(f"{str(e)[:1].upper()}{str(e)[1:]}.") from None
        shown = torch.from_numpy(digits).float().unsqueeze(1)
        image = big(shown[0]) if len(digits) == 1 else png(grid_image(shown, nrow=10, scale=3))
        return {rebuilt: image, rebuilt_note: describe_rebuilt(digits, before, len(data), codec.name)}

    def on_new_file(path: str | None) -> dict:
        """A new .vae file (compressed, or dropped in) clears the last rebuild: it would be called identical to digits
        the file does not hold."""
        return {rebuilt: None, rebuilt_note: describe_file(path)}

    def on_examples(name: str) -> dict:
        """The 20 example digits coded as one message, beside 20 separate files."""
        codec = codec_for(name)
        x = black_and_white(torch.stack([load_digit(p) for p in EXAMPLES["mnist"]]))
        result = coder.compress(codec, x)
        separate = sum(len(coder.compress_digit(codec, d).data) for d in x)
        grid = png(grid_image(torch.from_numpy(x).float().unsqueeze(1), nrow=10, scale=3))
        return {many: gr.Image(grid, visible=True),
                many_note: describe_many(result, separate),
                vae_file: OUTPUTS.save(result.data, f"{len(x)}-digits-{name}.vae"),
                compressed: x}

    def on_new_model(name: str, upload: str | None, sketch: dict | None) -> dict:
        """The digit coded again with a newly chosen model; the 20 examples' message, the last model's, is put away."""
        return {**on_compress(name, upload, sketch), many: gr.Image(visible=False), many_note: ""}

    inputs = [page.model, *digit.components]
    coded = [binary, sizes, steps, vae_file, compressed]
    on_button_and_live(compress_btn, [digit], on_compress, inputs, coded, "compress", **IMAGES)
    rereads_after_a_switch(page, tab, [digit], on_new_model, inputs, [*coded, many, many_note], **IMAGES)
    # On a phone the result comes below the pad and the examples: bring it up for the visitor's own digit, not for
    # the opening example (that would scroll past the input).
    gr.on([compress_btn.click, *digit.picks, digit.drawn.input], None, js=reveal("#binary"))
    vae_file.change(on_new_file, vae_file, [rebuilt, rebuilt_note], api_visibility="private", queue=False)
    decompress_btn.click(gently(on_decompress), [vae_file, compressed], [rebuilt, rebuilt_note],
                         api_name="decompress", **IMAGES)
    many_btn.click(gently(on_examples), page.model, [many, many_note, vae_file, compressed],
                   api_name="compress_examples", api_visibility="private", **IMAGES)
