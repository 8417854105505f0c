"""What a weights file says about its model, as frozen dataclasses: the one place its JSON keys are read.

`ModelMetadata.from_dict` reads the JSON the shipped files hold and `to_dict` writes it back,
so files written before these classes existed load unchanged and new files read the same.
Fields a file may lack (a model saved by a test, a model never evaluated) are optional.
"""

import json
from dataclasses import asdict, dataclass, field, fields

from vae.model import VAEConfig


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; stored in the weights file's metadata."""

    epochs: int = 10
    batch_size: int = 128  # global: shared among the processes of a distributed run
    lr: float = 1e-3
    lr_schedule: str = "constant"  # "constant", "cosine" (to lr/20 at the last step) or "onecycle" (see learning_rate)
    binarize: bool = False  # dynamically binarized targets instead of grey levels in [0, 1]
    beta: float = 1.0
    warmup_epochs: float = 0.0
    free_bits: float = 0.0
    lower_kl_floor: float = 0.0  # a hierarchy's lower-layer KL weight starts here (of beta) in the warm-up
    iw_samples: int = 1  # > 1 trains on the importance-weighted bound (IWAE) instead of the ELBO
    seed: int = 0
    mean_image_init: bool = False  # the decoder starts at the mean training image (start_at_mean_image)
    cpu_bf16: bool = False  # bfloat16 autocast on a CPU that multiplies bf16 natively (CUDA uses it whenever it can)
    autoencoder: bool = False  # a plain autoencoder: z = the encoder's mean, trained on the reconstruction term alone

    def __post_init__(self) -> None:
        if self.autoencoder and (self.beta != 1 or self.warmup_epochs or self.free_bits or self.iw_samples > 1
                                 or self.lower_kl_floor):
            raise ValueError("a plain autoencoder has no KL term: beta, warm-up, free bits, the lower KL floor "
                             "and IWAE do not apply")
        if not 0 <= self.lower_kl_floor <= 1:
            raise ValueError(f"lower_kl_floor is a fraction of beta, from 0 to 1; got {self.lower_kl_floor}")
        if self.iw_samples < 1:
            raise ValueError(f"iw_samples must be at least 1, got {self.iw_samples}")
        if self.iw_samples > 1 and self.free_bits > 0:
            raise ValueError("free bits floor the ELBO's KL term, which the IWAE bound does not have")

    def to_dict(self) -> dict:
        """Plain dict for JSON metadata."""
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class Metrics:
    """The test-set figures of `vae.evaluate.evaluate`, in nats per image.

    A plain autoencoder (`train.py --autoencoder`) has no prior and no posterior, so no ELBO, KL or likelihood:
    its metrics hold the reconstruction error and active units alone, the other fields None.
    """

    test_nelbo: float | None = None
    test_recon: float
    test_kl: float | None = None  # both layers' of a hierarchy
    test_kl_lower: float | None = None  # a hierarchy's lower layer's alone, KL(q(z1|x, z) || p(z1|z))
    test_nll: float | None = None
    nll_k: int | None = None
    nll_images: int | None = None
    nll_by_k: dict[str, float] | None = None  # k (as text, a JSON key) -> mean NLL with k importance samples
    kl_per_dim: tuple[float, ...] | None = None  # the top layer's, whose dimensions the sliders move
    active_units: int

    def __post_init__(self) -> None:
        if self.kl_per_dim is not None:
            object.__setattr__(self, "kl_per_dim", tuple(self.kl_per_dim))

    def nll_at(self, k: int) -> float | None:
        """The mean NLL measured with k importance samples, if it was."""
        return (self.nll_by_k or {}).get(str(k))


@dataclass(frozen=True)
class Epoch:
    """One finished epoch of training."""

    epoch: int
    train_loss: float
    test_nelbo: float | None = None
    test_recon: float | None = None  # a plain autoencoder's, which has no ELBO


@dataclass(frozen=True, kw_only=True)
class ModelMetadata:
    """Everything stored beside a model's tensors: its config, data, training, and measured figures."""

    dataset: str
    class_names: tuple[str, ...] = ()
    train: TrainConfig | None = None
    epochs: int | None = None  # epochs trained (train.epochs is what was asked for)
    metrics: Metrics
    history: tuple[Epoch, ...] = ()
    parameters: int | None = None
    train_seconds: float | None = None
    device: str | None = None
    command: str | None = None  # the train.py command line, with every resume
    versions: dict[str, str] = field(default_factory=dict)
    metrics_command: str | None = None  # the `python -m vae.evaluate ... --record` that measured `metrics`
    config: VAEConfig
    default: bool = False  # the model a visitor sees first

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(self.class_names))
        object.__setattr__(self, "history", tuple(self.history))

    @classmethod
    def from_dict(cls, d: dict) -> "ModelMetadata":
        """Read the JSON of a weights file; a missing required key or an unknown one raises KeyError/TypeError.

        The top-level "seed" repeats train.seed and is not kept twice.
        """
        d = {k: v for k, v in d.items() if k != "seed"}
        d["config"] = VAEConfig.from_dict(d["config"])
        d["metrics"] = Metrics(**d["metrics"])
        if "train" in d:
            d["train"] = TrainConfig(**d["train"])
        d["history"] = [Epoch(**e) for e in d.get("history", [])]
        return cls(**d)

    def to_dict(self) -> dict:
        """The JSON of a weights file, keys in the order train.py has always written them; unset fields left out."""
        out: dict = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in (None, (), {}) and value != f.default:
                out[f.name] = value
            if f.name == "epochs" and self.train is not None:
                out["seed"] = self.train.seed
        return json.loads(json.dumps(out, default=lambda o: asdict(o, dict_factory=without_none)))


def without_none(pairs: list[tuple[str, object]]) -> dict:
    """A dataclass's fields as a dict, unset (None) ones left out: a file holds only what was measured."""
    return {k: v for k, v in pairs if v is not None}
