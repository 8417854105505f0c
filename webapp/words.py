"""The page's words for its numbers: the glossary, each model in plain words, and links from a term to its entry.

A link to a glossary entry is a plain anchor (`#g-kl`); static/teach.js opens the glossary at the entry instead of
changing the page's address (the address holds the shared state: model, view, sliders).
"""

from vae.loaded import LoadedModel

UNUSED_KL = 0.01  # nats: a dimension whose test-set KL is below this tells the decoder (almost) nothing

# term -> (anchor, plain words). The order is the glossary's.
GLOSSARY = {
    "latent code z": ("g-z", "The few numbers the encoder turns a digit into, and the decoder draws a digit from."),
    "prior": ("g-prior", "Where codes should lie before seeing any digit: N(0, 1), a bell curve around 0 in every "
                         "dimension. Random codes drawn from it should decode to digits."),
    "posterior": ("g-posterior", "q(z|x): the codes the encoder thinks fit one digit x, a mean and a standard "
                                 "deviation (sd) per dimension."),
    "KL": ("g-kl", "Kullback-Leibler divergence: how far the posterior q(z|x) is from the prior N(0, 1), in nats. "
                   "0 means the code says nothing about the digit."),
    "nats": ("g-nats", "The unit of these costs: information measured with the natural logarithm "
                       "(1 nat = 1.44 bits). Lower costs mean a better fit."),
    "negative ELBO": ("g-nelbo", "The cost the VAE is trained to lower: reconstruction (how badly x' matches x) plus "
                                 "KL. It is an upper bound on the NLL."),
    "NLL": ("g-nll", "Negative log-likelihood: how surprised the model is by a digit, -log p(x), in nats. "
                     "Lower is better; estimated here with many posterior samples (k)."),
    "temperature": ("g-temperature", "Scales random codes before decoding: below 1 stays near the prior's centre "
                                     "(typical, blander digits), above 1 goes further out (odder ones)."),
    "beta": ("g-beta", "The weight of the KL term in training. beta > 1 pushes codes towards the prior: a simpler "
                       "code, blurrier digits, more unused dimensions."),
    "active units": ("g-active", "Latent dimensions the model really uses (their mean moves from digit to digit). "
                                 "An unused one has KL near 0: it collapsed to the prior."),
    "KL warm-up": ("g-warmup", "Training that starts with the KL term's weight at 0 and raises it to beta over so "
                               "many epochs (passes over the training digits): the encoder learns to use its code "
                               "before the KL pulls codes towards the prior, which can save dimensions from "
                               "collapsing."),
    "lower layer": ("g-lower", "In a two-layer model, a second code u between the code z and the picture: z is "
                               "drawn first, then u given z, and the decoder draws the picture from u. It holds the "
                               "detail z leaves out; its own KL is a third term of the negative ELBO."),
}


DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}  # vae.data's names, as the page writes them


def dataset_name(dataset: str) -> str:
    """A dataset's name as the page writes it ("MNIST", not the id "mnist")."""
    return DATASET_NAMES.get(dataset, dataset)


# What the page calls one of a dataset's pictures (with its article), several, and what they show. Another
# dataset's are images.
PICTURE_WORDS = {"mnist": ("a digit", "digits", "handwriting"), "fashion-mnist": ("an image", "images", "clothes")}


def picture_words(dataset: str) -> dict[str, str]:
    """The words for a dataset's pictures that view texts name as {one} ("digit"), {One}, {a_one} ("a digit"),
    {many} and {subject} ("handwriting")."""
    a_one, many, subject = PICTURE_WORDS.get(dataset, ("an image", "images", "pictures"))
    one = a_one.split()[1]
    return {"one": one, "One": one.capitalize(), "a_one": a_one, "many": many, "subject": subject}


def reword(text: str, dataset: str) -> str:
    """A view's text with its {one}, {many}... filled in for the dataset: "Your {one}" is "Your digit" for MNIST."""
    return text.format(**picture_words(dataset))


def pictures(dataset: str) -> str:
    """What a dataset's pictures are, in a sentence: digits for MNIST, images otherwise."""
    return picture_words(dataset)["many"]


def term(word: str, shown: str | None = None) -> str:
    """A Markdown link from `shown` (default: the term itself) to the glossary entry of `word`."""
    return f"[{shown or word}](#{GLOSSARY[word][0]})"


def glossary_html() -> str:
    """The glossary as a definition list, one anchor per term."""
    entries = "".join(f'<dt id="{anchor}">{word}</dt><dd>{text}</dd>' for word, (anchor, text) in GLOSSARY.items())
    return f'<dl class="vae-glossary">{entries}</dl>'


def describe_model(loaded: LoadedModel) -> str:
    """The model line under the picker: what the model is, and its test score in plain words."""
    m, cfg = loaded.metadata.metrics, loaded.model.config
    kind = "a convolutional network" if cfg.arch == "conv" else "a small fully connected network"
    told = ", told the class of each digit," if loaded.conditional else ""
    return (f"**{loaded.name}**: {kind}{told} reads each {dataset_name(loaded.dataset)} picture into "
            f"{cfg.latent_dim} numbers (its {term('latent code z', 'code z')}){lower_layer(cfg.lower_dim)}. "
            "On test pictures it scores "
            f"{m.test_nelbo:.1f} {term('nats')} ({term('negative ELBO')}) and {m.test_nll:.1f} nats {term('NLL')} "
            f"(k={m.nll_k}, {m.nll_images:,} test images): how badly the model expects them, **lower is better**.")


def lower_layer(lower_dim: int) -> str:
    """What describe_model says of a two-layer model's lower layer (nothing for one layer); the sliders' note says
    where it sits while the sliders move z. The page calls that layer u (z1 in vae/): z1, z2, ... name z's
    dimensions."""
    if not lower_dim:
        return ""
    return f", then {lower_dim} more in a {term('lower layer')} (u) between z and the picture"


def sliders_note(loaded: LoadedModel) -> str:
    """The note above the sliders: the unused dimensions, and for a two-layer model what the sliders leave to its
    lower layer."""
    note = unused_note(loaded.metadata.metrics.kl_per_dim)
    lower = loaded.model.config.lower_dim
    if not lower:
        return note
    return (f"{note} They move z alone: this model's lower layer (u, {lower} numbers between z and the picture) "
            f"sits at its average for that z (its {term('prior')} mean). Here z holds only part of a digit and u the "
            "rest, so a digit read into the sliders can come back as another one: a one-layer model keeps it.")


def model_choice(loaded: LoadedModel) -> str:
    """The model picker's label for a model: its name and what it is good for."""
    beta = loaded.metadata.train.beta if loaded.metadata.train else 1.0
    if loaded.dataset != "mnist":
        what = f"clothes ({dataset_name(loaded.dataset)})"
    elif loaded.latent_dim == 2:
        what = "2-D code: the latent map"
    elif loaded.conditional:
        what = "told the class: every class"
    elif beta != 1:
        what = f"beta {beta:g}: posterior collapse"
    elif loaded.model.config.lower_dim:
        what = "best score (two layers)"
    elif loaded.model.config.arch == "conv":
        what = "sharp digits (one layer)"
    else:
        what = "plain VAE"
    return f"{loaded.name}: {what}, {loaded.latent_dim}-D"


def unused_dimensions(kl_per_dim: list[float]) -> list[int]:
    """The latent dimensions whose test-set KL is near 0: the model does not use them (collapsed)."""
    return [d for d, kl in enumerate(kl_per_dim) if kl < UNUSED_KL]


def slider_info(kl: float) -> str:
    """The line under a latent slider: its dimension's KL, and whether the model uses it."""
    if kl < UNUSED_KL:
        return f"KL {kl:.2f} nats: unused (collapsed), moving it changes nothing"
    return f"KL {kl:.2f} nats: what this dimension tells the decoder"


def unused_note(kl_per_dim: list[float]) -> str:
    """The note above the sliders on how many dimensions the model leaves unused, with a link to the collapse view."""
    unused = unused_dimensions(kl_per_dim)
    if not unused:
        return (f"Every one of the {len(kl_per_dim)} dimensions is used. Sliders are ordered by {term('KL')}: "
                "the most informative first.")
    return (f"{len(unused)} of {len(kl_per_dim)} dimensions are unused ({term('KL')} near 0, "
            f"[collapsed](#view=compare)): their sliders change nothing. Sliders are ordered by KL, "
            "the most informative first.")
