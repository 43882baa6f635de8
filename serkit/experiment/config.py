"""The experiment config (what defines a result: hashed into the run fingerprint) and the run
config (how it is executed: workers, cache folder, progress; never hashed).

YAML and the command line spell every setting one way::

    manifest: manifests/emodb.jsonl
    protocol: loso
    model: {name: attnpool, hidden: 128, train: {lr: 3.0e-3}}
    frontend: {name: whisper-tiny-layers, layers: [0, 1, 2]}
    augment: {name: none}

``--model attnpool --set model.hidden=64 --set frontend.layers=[0,2]`` override the same
fields. The loader builds every section's typed config once, from the registries, so an
unknown key, a wrong type, an enum value outside its ``Literal`` or a contradiction of a
model preset (``snn-vanilla`` with ``use_tsse: true``) fails before any work starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from serkit.core.config import Component, deep_merge, from_dict, load_yaml, parse_overrides, to_dict
from serkit.core.errors import ConfigError
from serkit.core.io import text_digest
from serkit.data.labels import LabelSpec
from serkit.data.protocols import SPLITS_DIR, check_protocol, fixed_split
from serkit.estimators import MODELS, model_component
from serkit.features import frontend_component
from serkit.features.text import TextEncoderConfig
from serkit.training.augment import AugmentConfig

DEFAULT_MODEL = "attnpool"
DEFAULT_FRONTEND = "whisper-tiny-layers"
TRAIN_VIEWS = ("corpus", "speaker", "loco")


def train_views(train_norm: str) -> list[str]:
    """The views of the training clips that ``train_norm`` asks for (``same`` -> ``[]``: the
    table as ``normalize`` made it); ``corpus+speaker+loco`` -> ``["corpus", "speaker",
    "loco"]``. Views are written in the order of :data:`TRAIN_VIEWS`, each at most once."""
    if train_norm == "same":
        return []
    views = train_norm.split("+")
    if (
        any(v not in TRAIN_VIEWS for v in views)
        or len(set(views)) != len(views)
        or views != sorted(views, key=TRAIN_VIEWS.index)
        or views == ["corpus"]
    ):
        raise ConfigError(
            f"train_norm must be same, or views of {'|'.join(TRAIN_VIEWS)} joined by '+' in that "
            f"order (e.g. speaker, corpus+speaker, corpus+speaker+loco), got {train_norm!r}"
        )
    return views


_VIEW_WORDS = {
    "corpus": "its corpus's statistics",
    "speaker": "its speaker's statistics",
    "loco": "the mean of the other training corpora's statistics",
}


def describe_train_norm(train_norm: str) -> str:
    """How ``train_norm`` standardises a training clip, in words (provenance, reports)."""
    views = train_views(train_norm) or ["corpus"]
    words = [_VIEW_WORDS[v] for v in views]
    if len(words) == 1:
        return f"each standardised with {words[0]}"
    return f"{len(words)} copies of each: with " + ", with ".join(words)


@dataclass
class ExperimentConfig:
    """One experiment (everything here defines its result).

    Attributes:
        protocol: ``loso`` | ``loso-session`` | ``folds:NAME`` (a split in data/splits/ or a JSON
        file) | ``kfold-speaker:K`` |
            ``loco`` | ``cross:A->B`` (:mod:`serkit.data.protocols`).
        manifest: one JSONL manifest, or several joined by commas (combined; ``corpus`` keeps
            them apart).
        corpora: use only these corpora of the manifest (empty = all).
        labels: label spec (:mod:`serkit.data.labels`): ``[anger, neutral=neutral+calm]``
            restricts and merges; empty = every label as written.
        seeds: number of seeds (``seed_base`` .. ``seed_base + seeds - 1``); a fold's result
            does not depend on it (more seeds extend a finished run).
        val_fraction: share of training speakers held out for model selection.
        normalize: ``none`` or ``speaker``: z-score every speaker's frame features with that
            speaker's own statistics (:mod:`serkit.features.normalize`; transductive for a test
            speaker, unlabelled; only meaningful when every speaker shows several emotions);
            ``corpus``: the same per corpus (each test corpus with its own unlabelled statistics:
            what ``serkit adapt`` does for a deployed model).
        train_norm: how the TRAINING clips are standardised: ``same`` (as ``normalize``
            says); with ``normalize: corpus`` also ``speaker`` (each training clip with its own
            speaker's frame statistics, which removes the speaker's habitual level from what the
            classifier learns; test clips, adaptation and a saved model's domain stay per corpus)
            or ``loco`` (each training corpus with the mean of the OTHER training corpora's
            statistics: the view an unseen corpus gets before any adaptation), or several of
            ``corpus``, ``speaker``, ``loco`` joined by ``+`` (one copy of every training clip
            per view, e.g. ``corpus+speaker+loco``); validation clips (training speakers held
            out) are standardised the same way. ``speaker`` needs a speaker id on every training
            clip, ``loco`` two training corpora; augmented variants get their clip's view; not
            with transcripts.
        model, frontend: registered components with their typed configs.
        adapt_clips: also score each fold's model adapted without labels to each test corpus
            (:meth:`~serkit.estimators.Model.adapt`) with this many of its clips (0 = all), e.g.
            ``[10, 50, 0]``; the unadapted scores are the headline.
        adapt_half_s: shrinkage of that adaptation, as ``serkit adapt`` does it: the statistics
            of the ``k`` clips count ``w = s / (s + adapt_half_s)`` (``s``: their seconds of
            audio; the deployed model counts speech seconds), the training ones ``1 - w``;
            0 = the ``k`` clips' statistics in full (the protocol before 2026-12-05).
        adapt_balance: with adaptation, also add this share (0-1) of the per-class logit
            offsets that make the mean answer on the ``k`` adaptation clips uniform
            (:func:`~serkit.core.calibration.balancing_offsets`, estimated under the adapted
            standardisation and shrunk by the same ``w``), as a model trained with it does when
            adapted; 0 = standardisation only. With it, ``adaptK`` is balanced and
            ``adaptK_unbalanced`` is the same adaptation without the offsets. Needs
            ``normalize: corpus`` (the per-corpus logreg carries it into a saved model).
        max_per_corpus: train on at most this many clips of each training corpus (label-
            stratified draw per seed; 0 = all), so that a large corpus cannot dominate.
        augment: training augmentation; absent in YAML = the model's default (``eam`` for ``mll``).
        text: the text encoder of models that read transcripts (``eavs-tf``; the manifest's
            ``text`` field, e.g. from ``serkit transcribe``); ignored (and not hashed) otherwise.
        text_shuffle_test: reliance diagnostic: each fold's test transcripts are permuted among
            its test utterances (seeded), so the words no longer belong to the audio.
        test_corruptions: also score each fold's model (trained on clean speech) on corrupted
            copies of its test clips (:mod:`serkit.audio.corrupt` specs: ``babble@10``,
            ``white@0``, ``reverb@0.6``, ``telephone``, ...); the clean scores stay the headline.
        babble: manifest(s) whose speech makes the babble (speakers of this experiment are
            excluded, so test speakers never babble over themselves).
        noise_dir: folder of real noise recordings for ``background@SNR``.
        leaky_norm: LEAKY, only to measure a published protocol (issue 33: the public
            ResLSTM-SER notebook): a torch head's frame standardisation takes its statistics
            from EVERY clip of the experiment, test folds included, instead of the training
            fold's. Results say so in their protocol; never a headline.
    """

    manifest: str = ""
    protocol: str = "loso"
    corpora: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    seeds: int = 5
    seed_base: int = 0
    val_fraction: float = 0.2
    normalize: Literal["none", "speaker", "corpus"] = "none"
    train_norm: str = "same"
    adapt_clips: list[int] = field(default_factory=list)
    adapt_half_s: float = 60.0
    adapt_balance: float = 0.0
    max_per_corpus: int = 0
    model: Component = field(default_factory=lambda: model_component(DEFAULT_MODEL))
    frontend: Component = field(default_factory=lambda: frontend_component(DEFAULT_FRONTEND))
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    text_shuffle_test: bool = False
    test_corruptions: list[str] = field(default_factory=list)
    babble: str = ""
    noise_dir: str = ""
    leaky_norm: bool = False

    def __post_init__(self):
        train_views(self.train_norm)  # a clear error for an unknown view
        if not 0.0 <= self.adapt_balance <= 1.0:
            raise ConfigError(f"adapt_balance must be in [0, 1], got {self.adapt_balance}")
        if self.adapt_balance and self.normalize != "corpus":
            raise ConfigError(
                "adapt_balance is carried by a model with a per-corpus standardisation: it needs "
                f"normalize=corpus (got {self.normalize})"
            )
        if self.train_norm != "same":
            if self.normalize != "corpus":
                raise ConfigError(
                    f"train_norm={self.train_norm} standardises training clips in views of the "
                    "per-corpus standardisation: it needs normalize=corpus (got "
                    f"{self.normalize})"
                )
            if self.reads_text:
                raise ConfigError(
                    f"train_norm={self.train_norm} is not built for models that read "
                    "transcripts; use train_norm=same"
                )

    @property
    def reads_text(self) -> bool:
        """Whether the model reads transcripts (its ``modalities`` include ``text``)."""
        return "text" in MODELS[self.model.name].modalities

    @property
    def data(self) -> DataConfig:
        """The data this experiment reads (see :class:`DataConfig`)."""
        return DataConfig(
            self.manifest,
            self.frontend,
            self.labels,
            self.corpora,
            self.protocol,
            self.normalize,
            self.text if self.reads_text else None,
            self.model.name,
        )

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seed_base, self.seed_base + self.seeds))

    def to_dict(self) -> dict:
        return {
            **{k: to_dict(v) for k, v in vars(self).items() if k not in ("model", "frontend")},
            "model": self.model.to_dict(),
            "frontend": self.frontend.to_dict(),
        }

    def fingerprint(self, frontend_spec: dict) -> str:
        """Digest of what defines one fold's result: everything but the number of seeds, plus
        the frontend's full spec (its version included)."""
        d = {k: v for k, v in self.to_dict().items() if k != "seeds"}
        # settings that cannot change this result are left out (a model that reads no transcript
        # is not a new experiment because the text encoder's settings differ)
        unused = (
            ([] if self.reads_text else ["text", "text_shuffle_test"])
            + ([] if self.test_corruptions else ["babble", "noise_dir"])
            + ([] if self.adapt_clips else ["adapt_half_s"])
            + ([] if self.adapt_clips and self.adapt_balance else ["adapt_balance"])
            + ([] if self.train_norm != "same" else ["train_norm"])
            + (["leaky_norm"] if not self.leaky_norm else [])
        )
        for k in unused:
            d.pop(k)
        split = self.protocol[6:] if self.protocol.startswith("folds:") else ""
        if (
            split and not (SPLITS_DIR / f"{split}.json").exists()
        ):  # a split file: its folds define the result
            d["split_folds"] = fixed_split(split).folds
        return text_digest(
            json.dumps(
                {"experiment": d, "frontend_spec": frontend_spec}, sort_keys=True, default=str
            )
        )


@dataclass
class DataConfig:
    """What :func:`~serkit.experiment.dataset.load_dataset` needs: the narrow part of an
    :class:`ExperimentConfig` (or of any other experiment, e.g. the dimensional one).

    ``protocol``: checked for leaks before the (long) extraction (empty = no check);
    ``text``: the text encoder when the model reads transcripts (``None`` = it does not);
    ``reader``: who reads the transcripts (for the error message)."""

    manifest: str
    frontend: Component
    labels: list[str] = field(default_factory=list)
    corpora: list[str] = field(default_factory=list)
    protocol: str = ""
    normalize: Literal["none", "speaker", "corpus"] = "none"
    text: TextEncoderConfig | None = None
    reader: str = ""


@dataclass
class RunConfig:
    """How an experiment runs; never part of its result or fingerprint.

    ``jobs``: parallel fold workers (each one torch / BLAS thread); ``cache_dir``: feature cache
    (empty = ``$SERKIT_CACHE`` or ~/.cache/serkit/features); ``progress``: progress bars."""

    jobs: int = 1
    cache_dir: str = ""
    progress: bool = True


def _section(data: dict, key: str) -> dict:
    v = data.get(key)
    return {"name": v} if isinstance(v, str) else dict(v or {})


def experiment_from_dict(data: dict) -> ExperimentConfig:
    """Build and check an :class:`ExperimentConfig` from plain data (YAML / overrides)."""
    data = dict(data)
    model = {"name": DEFAULT_MODEL, **_section(data, "model")}
    frontend = {"name": DEFAULT_FRONTEND, **_section(data, "frontend")}
    augment = data.pop("augment", None)
    for key in ("model", "frontend"):
        data.pop(key, None)
    cfg = from_dict(ExperimentConfig, data, "experiment")
    check_protocol(cfg.protocol)
    if cfg.test_corruptions:
        from serkit.audio.corrupt import parse_corruption

        cfg.test_corruptions = [parse_corruption(c).spec for c in cfg.test_corruptions]
    if cfg.labels:
        cfg.labels = LabelSpec.parse(cfg.labels).to_list()  # checked and in one spelling
    cfg.model, cfg.frontend = model_component(model), frontend_component(frontend)
    cls = MODELS[cfg.model.name]
    cfg.augment = from_dict(
        AugmentConfig, {"name": cls.default_augment, **(augment or {})}, "augment"
    )
    kinds = cls.supports_augment
    if cfg.augment.name != "none" and not (
        kinds is True or (isinstance(kinds, tuple) and cfg.augment.name in kinds)
    ):
        only = f" (only {', '.join(kinds)})" if isinstance(kinds, tuple) and kinds else ""
        raise ConfigError(
            f"model {cls.name!r} does not train on augmented variants of kind "
            f"{cfg.augment.name!r}{only}; use a torch head (attnpool, mlp, linear, mll, pts-snn, "
            "reslstm-sa, ...) or augment.name=none"
        )
    return cfg


def load_experiment(
    config: str | Path | None = None, overrides: list[str] | None = None, **explicit
) -> ExperimentConfig:
    """YAML file (optional), then explicit fields (``model="attnpool"`` sets ``model.name``;
    ``None`` = not given), then ``key.sub=value`` overrides."""
    data = load_yaml(config) if config else {}
    extra = parse_overrides(overrides)
    for key in ("model", "frontend"):
        data[key] = _section(data, key)
        if isinstance(extra.get(key), str):  # --set model=mlp
            extra[key] = {"name": extra[key]}
        name = explicit.pop(key, None) or (extra.get(key) or {}).get("name")
        if name is not None and name != data[key].get("name"):
            data[key] = {"name": name}  # a new component: the old one's settings do not carry over
    data = deep_merge(data, {k: v for k, v in explicit.items() if v is not None})
    return experiment_from_dict(deep_merge(data, extra))
