"""The estimator interface shared by sklearn and torch models, its typed reports, and the registry.

An estimator sees features as a list of ``(L, T, D)`` arrays (layers, frames, dims) and integer
labels. ``fit`` may use a validation set (held-out *training* speakers) for model selection;
it never sees test data. ``predict_proba`` returns ``(N, C)`` class probabilities. Like
scikit-learn, ``__init__`` stores the hyper-parameters (a typed config) and the shapes; what is
learned is set in ``fit``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

from serkit.core.config import Component, build_component, to_dict
from serkit.core.cost import Cost
from serkit.core.errors import ConfigError
from serkit.training.trainer import TrainReport


@dataclass
class Split:
    """Features, integer labels and speakers of one subset. ``feats[i]``: ``(L, T, D)``.

    ``variants``: optional augmented versions per utterance, ``[(feats (L, T, D), soft label
    (C,)), ...]`` (e.g. the EAM bank); models that do not train on them ignore them.
    ``soft``: optional target distributions ``(N, C)`` (rows sum to 1; label-distribution
    learning); torch heads then train on them (``train.losses.kl`` for a KL objective).
    ``corpora``: the corpus of each utterance (inner model selection across training corpora).
    ``train_only``: corpora that only ever train (single class after the label spec, or labels
    from a rule: :func:`serkit.data.protocols.training_only_corpora`), never an inner
    validation part.
    """

    feats: list[np.ndarray]
    labels: np.ndarray
    speakers: list[str | None]
    ids: list[str]
    variants: list[list[tuple[np.ndarray, np.ndarray]]] | None = None
    soft: np.ndarray | None = None
    corpora: list[str] | None = None
    train_only: frozenset = frozenset()

    def __len__(self) -> int:
        return len(self.feats)


@dataclass
class FitReport:
    """What ``fit`` did.

    Attributes:
        train: the torch training run (``None`` for sklearn models).
        refit_epochs: epochs of the refit on fit + validation speakers (``None``: no refit).
        layer: the layer chosen on training speakers (an index, ``"mean"`` or ``"concat"``).
        inner_val_ua: the inner-CV UA of each candidate layer (keys as strings).
        layer_weights: learned layer weights after training (``None``: not learned).
        layer_weights_init: their start for ``layer: cv``.
        debias: what a debiasing fit did (``augment.name: covada``: clips selected, of how many).
        chosen_C: the regularisation chosen by inner cross-validation (``logreg`` with ``C: auto``).
    """

    train: TrainReport | None = None
    refit_epochs: int | None = None
    layer: int | str | None = None
    inner_val_ua: dict[str, float] = field(default_factory=dict)
    layer_weights: list[float] | None = None
    layer_weights_init: list[float] | None = None
    debias: dict | None = None
    chosen_C: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FitReport:
        d = dict(d)
        if d.get("train") is not None:
            d["train"] = TrainReport(**d["train"])
        return cls(**d)


@dataclass
class Moments:
    """Sums over the vectors a standardisation is estimated from: ``n`` (count), ``s1`` (sum) and
    ``s2`` (sum of squares), float64, shape of one vector (e.g. ``(L, D)`` frames or ``(F,)``
    pooled statistics). ``a + b`` pools two sets; :meth:`mean_std` gives the estimate.

    ``clips``: optionally one summary vector per clip ``(N, F)`` float32 that a model needs
    beyond the sums (``logreg``: the raw pooled statistics it reads, from which it balances its
    answers on the adaptation clips); ``a + b`` keeps the most recent :attr:`MAX_CLIPS` (a
    running sum, as online adaptation keeps, stays bounded; one call's moments keep all)."""

    n: float
    s1: np.ndarray
    s2: np.ndarray
    clips: np.ndarray | None = None

    #: clip summaries kept (the most recent): enough to estimate per-class offsets, small
    #: enough to persist with an online-adapted model
    MAX_CLIPS: ClassVar[int] = 128

    @classmethod
    def of(cls, x: np.ndarray, axis: int = 0) -> Moments:
        """Moments of the vectors of ``x`` along ``axis`` (float64 sums)."""
        x = np.asarray(x, np.float64)
        return cls(float(x.shape[axis]), x.sum(axis), (x**2).sum(axis))

    def __add__(self, other: Moments) -> Moments:
        parts = [c for c in (self.clips, other.clips) if c is not None]
        clips = np.concatenate(parts)[-self.MAX_CLIPS :] if parts else None
        return Moments(self.n + other.n, self.s1 + other.s1, self.s2 + other.s2, clips)

    def mean_std(self, var_floor: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
        mean = self.s1 / max(self.n, 1)
        return mean, np.sqrt(np.maximum(self.s2 / max(self.n, 1) - mean**2, var_floor))

    def to_dict(self) -> dict:
        """JSON-ready; ``clips`` as base64 of little-endian float32 with their shape."""
        d = {"n": self.n, "s1": self.s1.tolist(), "s2": self.s2.tolist()}
        if self.clips is not None:
            import base64

            c = np.ascontiguousarray(self.clips, "<f4")
            d["clips"] = {"shape": list(c.shape), "f32": base64.b64encode(c.tobytes()).decode()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Moments:
        clips = None
        if d.get("clips"):
            import base64

            raw = base64.b64decode(d["clips"]["f32"])
            clips = np.frombuffer(raw, "<f4").reshape(d["clips"]["shape"]).astype(np.float32)
        return cls(
            float(d["n"]), np.asarray(d["s1"], np.float64), np.asarray(d["s2"], np.float64), clips
        )


def snapshot_state(state: dict) -> dict:
    """A deep copy of a model state (tensors cloned, arrays copied)."""
    import torch

    return {
        k: (v.detach().clone() if isinstance(v, torch.Tensor) else np.array(v, copy=True))
        for k, v in state.items()
    }


def blend_value(new, old, w: float):
    """``w * new + (1 - w) * old`` for floating tensors / arrays that differ; else ``new``."""
    import torch

    if isinstance(new, torch.Tensor) and isinstance(old, torch.Tensor):
        if new.is_floating_point() and old.shape == new.shape and not torch.equal(new, old):
            return w * new + (1 - w) * old
    elif isinstance(new, np.ndarray) and isinstance(old, np.ndarray):
        if new.dtype.kind == "f" and old.shape == new.shape and not np.array_equal(new, old):
            return w * new + (1 - w) * old
    return new


class Model(ABC):
    """Base class. Subclasses set ``name`` and ``config_cls`` (a dataclass) and implement the
    abstract methods. ``preset``: config fields a registered variant fixes (applied before the
    user's settings; a contradicting setting is an error)."""

    name: ClassVar[str]
    config_cls: ClassVar[type]
    preset: ClassVar[dict] = {}
    #: trains on ``Split.variants`` (augmentation banks) when given: ``True`` (every kind) or
    #: the ``augment.name`` kinds it accepts
    supports_augment: ClassVar[bool | tuple[str, ...]] = False
    #: augmentation a bench uses for this model unless the config says otherwise
    default_augment: ClassVar[str] = "none"
    #: the inputs it reads: ``("audio",)``, or ``("audio", "text")`` (the dataset then gives
    #: :class:`~serkit.nn.multimodal.Bimodal` items with the transcript's token states)
    modalities: ClassVar[tuple[str, ...]] = ("audio",)

    def __init__(self, config: Any, n_classes: int, n_layers: int, dim: int):
        self.config = config
        self.n_classes = n_classes
        self.n_layers = n_layers
        self.dim = dim

    @property
    def uses(self) -> tuple[str, ...]:
        """The modalities this configured model actually reads (a unimodal variant of a
        multimodal model reads one): only their encoders enter its cost."""
        return self.modalities

    @abstractmethod
    def fit(self, train: Split, val: Split | None, seed: int) -> FitReport:
        """Train on ``train``; ``val`` (held-out training speakers) only for model selection."""

    @abstractmethod
    def predict_proba(self, feats: list[np.ndarray]) -> np.ndarray:
        """``feats``: list of ``(L, T, D)`` -> ``(N, n_classes)`` probabilities."""

    @abstractmethod
    def cost(self, feats: list[np.ndarray], durations: list[float]) -> Cost:
        """Trainable params and head operations per 3 s clip, measured on real ``feats``
        (``durations`` in seconds); ``macs_encoder`` is left to the frontend."""

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """The fitted state as arrays / tensors only (no Python objects: model files are
        loaded with ``torch.load(weights_only=True)``)."""

    @abstractmethod
    def load_state(self, state: dict[str, Any]) -> None: ...

    val_proba: np.ndarray | None = None
    """``(N_val, C)`` probabilities on the validation speakers from a model fitted WITHOUT them
    (set by ``fit``; ``None`` when there was no validation set): what calibration is fitted on,
    since the final model may have been refitted on those speakers."""

    def validation_proba(self, val: Split) -> np.ndarray:
        """Probabilities of ``val`` (the validation split ``fit`` was given) to calibrate on:
        :attr:`val_proba` when ``fit`` kept them, else this model's predictions."""
        return self.val_proba if self.val_proba is not None else self.predict_proba(val.feats)

    def adapt(self, feats: list[np.ndarray], weight: float = 1.0) -> dict:
        """Re-estimate the input standardisation from unlabelled clips of a new domain
        (``feats[i]``: ``(L, T, D)``); weights stay as trained. ``weight`` < 1 shrinks toward
        the current standardisation (:meth:`adapt_toward`). Returns what was re-estimated."""
        return self.adapt_toward(self.adapt_moments(feats), weight)

    def adapt_toward(self, moments: Moments, weight: float = 1.0, base: dict | None = None) -> dict:
        """Standardisation = ``weight`` x the one ``moments`` give + ``(1 - weight)`` x the one
        of ``base`` (a :meth:`state` of this model; default: the current one): every floating
        entry that :meth:`adapt_from` changes is blended."""
        base = snapshot_state(self.state() if base is None else base)
        self.load_state(snapshot_state(base))
        info = self.adapt_from(moments)
        if weight < 1:
            self.load_state(
                {k: blend_value(v, base.get(k), weight) for k, v in self.state().items()}
            )
        return info

    def adapt_moments(self, feats: list[np.ndarray]) -> Moments:
        """The sufficient statistics that :meth:`adapt` estimates the standardisation from
        (summable: the moments of two sets of clips are the sum of each set's)."""
        raise ConfigError(f"model {self.name!r} has no input standardisation to adapt")

    def adapt_from(self, moments: Moments) -> dict:
        """Set the input standardisation from accumulated :class:`Moments`."""
        raise ConfigError(f"model {self.name!r} has no input standardisation to adapt")

    def set_domain(self, mean: np.ndarray, std: np.ndarray) -> None:
        """A model fitted on frames standardised per corpus (``normalize: corpus``) takes raw
        ``(L, T, D)`` features from now on, standardised with the domain's frame ``mean`` /
        ``std`` (``(L, D)``); :meth:`adapt` re-estimates them. Models that cannot carry this
        refuse."""
        raise ConfigError(
            f"model {self.name!r} cannot carry a per-corpus standardisation into a saved model; "
            "train it with normalize=none (logreg can)"
        )

    def spike_stats(self, feats: list[np.ndarray]) -> dict | None:
        """Firing-rate health per spiking layer (spiking models only)."""
        return None

    def cost_parts(self, feats: list, durations: list[float]) -> dict | None:
        """Operations and energy per part (e.g. per modality) of a multimodal head, per 3 s
        clip: ``{part: {macs, sops, energy_mj}}``; ``None`` for single-input heads."""
        return None

    def describe(self) -> dict:
        return {"name": self.name, "config": to_dict(self.config)}


MODELS: dict[str, type[Model]] = {}


def register(cls: type[Model]) -> type[Model]:
    MODELS[cls.name] = cls
    return cls


def model_component(data: dict | str | Component) -> Component:
    """``{name: attnpool, hidden: 64, ...}`` -> the model's typed config (presets applied)."""
    return build_component(
        data,
        {n: c.config_cls for n, c in MODELS.items()},
        "model",
        {n: c.preset for n, c in MODELS.items()},
    )


def build_model(spec: dict | str | Component, n_classes: int, n_layers: int, dim: int) -> Model:
    """A model from its spec (see :func:`model_component`) and the data's shapes."""
    comp = model_component(spec)
    return MODELS[comp.name](comp.config, n_classes, n_layers, dim)
