"""The one dataset path of every experiment: manifest -> label filter -> features (cached) ->
unusable files dropped -> label index -> speaker normalisation -> :class:`Dataset`.

``bench``, ``tune``, ``train`` and the benchmark scripts all go through :func:`load_dataset`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from serkit.core.errors import ConfigError, ProtocolError
from serkit.core.io import atomic_write_text
from serkit.data.labels import harmonise
from serkit.data.manifest import Utterance, read_manifests
from serkit.data.protocols import (
    cap_per_corpus,
    make_folds,
    single_class_corpora,
    training_only_corpora,
    validation_split,
)
from serkit.estimators import Split
from serkit.experiment.config import DataConfig, ExperimentConfig, RunConfig, train_views
from serkit.features import (
    FeatureCache,
    Frontend,
    SpeakerNormalizer,
    build_frontend,
    extract_features,
    normalize_features,
)
from serkit.features.text import TextEncoder, TextEncoding, encode_texts
from serkit.nn.multimodal import Bimodal


@dataclass
class Dataset:
    """Utterances with their features (``feats[id]``: ``(L, T, D)``), label names and indices.

    ``failed``: ``(id, reason)`` of skipped files; ``normalizer``: the fitted speaker
    normaliser (``normalize: speaker``), else ``None``."""

    utts: list[Utterance]
    feats: dict[str, np.ndarray]
    labels: list[str]
    frontend: Frontend
    cache: FeatureCache
    failed: list[tuple[str, str]] = field(default_factory=list)
    extracted: int = 0
    cached: int = 0
    extract_s: float = 0.0
    normalizer: SpeakerNormalizer | None = None
    text: TextEncoding | None = None
    text_encoder: TextEncoder | None = None
    normalize: str = "none"  # how ``feats`` were standardised (none | speaker | corpus)

    def __post_init__(self):
        self._spk_norm: SpeakerNormalizer | None = None
        self.y = np.array([self.labels.index(u.label) for u in self.utts])
        self.soft = label_distributions(self.utts, self.labels)
        self.train_only = frozenset(training_only_corpora(self.utts))

    def encoder_macs(self, clip_s: float) -> int | None:
        """The frontend's MACs for ``clip_s`` seconds at the rate it runs at here: its fixed
        rate, or (native-rate frontends such as ``mfcc-chroma``) the first clip's file rate."""
        if self.frontend.sample_rate is not None or not self.utts:
            return self.frontend.encoder_macs(clip_s)
        import soundfile as sf

        try:
            sr = sf.info(self.utts[0].audio).samplerate
        except (OSError, RuntimeError):
            return self.frontend.encoder_macs(clip_s)
        return self.frontend.encoder_macs(clip_s, sr)

    def dsp_macs(self, clip_s: float) -> int | None:
        """MACs of the frontend's signal processing (log-mel) for ``clip_s`` seconds."""
        return self.frontend.dsp_macs(clip_s)

    @property
    def n_layers(self) -> int:
        return next(iter(self.feats.values())).shape[0]

    @property
    def dim(self) -> int:
        return next(iter(self.feats.values())).shape[2]

    def split(self, idx: list[int], variants=None, shuffle_text_seed: int | None = None) -> Split:
        """The :class:`~serkit.estimators.Split` of utterances ``idx`` (indices into ``utts``).

        With transcripts (a model that reads text) each item is a
        :class:`~serkit.nn.multimodal.Bimodal`; ``shuffle_text_seed`` permutes the transcripts
        among these utterances (the reliance diagnostic)."""
        ids = [self.utts[i].id for i in idx]
        feats = [self.feats[u] for u in ids]
        if self.text is not None:
            texts = [self.text.states[u] for u in ids]
            if shuffle_text_seed is not None:
                texts = [
                    texts[j]
                    for j in np.random.default_rng(shuffle_text_seed).permutation(len(texts))
                ]
            feats = [Bimodal(f, t, True, self.text_encoder.dim) for f, t in zip(feats, texts)]
        return Split(
            feats,
            self.y[idx],
            [self.utts[i].speaker for i in idx],
            ids,
            variants,
            None if self.soft is None else self.soft[idx],
            [self.utts[i].corpus for i in idx],
            self.train_only,
        )

    def fit_split(
        self, idx: list[int], train_norm: str = "same", variants=None, pool: list[int] | None = None
    ) -> Split:
        """The training (fit or validation) :class:`~serkit.estimators.Split` of ``idx`` under
        ``train_norm`` (:class:`~serkit.experiment.config.ExperimentConfig`): ``same`` =
        :meth:`split`; otherwise one copy of every clip per view (the first copy keeps the
        ids, the others are suffixed ``#speaker`` / ``#loco``):

        * ``corpus``: as the table is (each corpus with its own frame statistics);
        * ``speaker``: each clip with its own speaker's frame statistics (a single-class
          corpus, e.g. BAVED's neutral level, keeps its corpus's: its speakers' statistics
          would come from that one class);
        * ``loco``: each clip with the mean of the OTHER training corpora's statistics (those
          of ``pool``, default ``idx``; pass the whole training fold so that a validation
          split sees the same corpora): what a corpus never seen gets before adaptation
          (:meth:`~serkit.features.SpeakerNormalizer.mean_stats`).

        ``feats`` here are corpus-standardised, ``z = (x - m_c) / s_c``; every view is an
        affine map of ``z`` (speaker: exactly standardising ``x`` with the speaker's statistics
        of ``x``; loco: ``(z * s_c + m_c - M) / S``), so no raw feature is re-read. Augmented
        ``variants`` (standardised as their clip) get their clip's map in each view. The copies
        are made when read (:class:`MappedClips`), so views cost no memory. Statistics use every
        clip of the group in this dataset (no labels); a speaker never spans two corpora (the
        key is ``corpus/speaker``)."""
        base = self.split(idx, variants)
        views = train_views(train_norm)
        if not views:
            return base
        if self.text is not None:
            raise ConfigError(f"train_norm={train_norm}: not with transcripts")
        copies, var_copies = [], []
        for v in views:
            if v == "corpus":
                fn = None
            elif v == "speaker":
                # a single-class corpus keeps its corpus's view: its speakers' own statistics
                # would come from one class (BAVED's neutral level) and carry the label
                single = single_class_corpora(
                    [u.corpus for u in self.utts], [u.label for u in self.utts]
                )
                keys = [
                    None if self.utts[i].corpus in single else self._speaker_key(self.utts[i])
                    for i in idx
                ]
                fn = _SpeakerMap(self.speaker_view(), keys)
            else:
                maps = self._loco_maps(idx if pool is None else pool, train_norm)
                fn = _AffineMap([maps[c] for c in base.corpora])
            copies.append(base.feats if fn is None else MappedClips(base.feats, fn))
            if base.variants is not None:
                var_copies.append(
                    base.variants if fn is None else mapped_variants(base.variants, fn)
                )
        if len(copies) == 1:
            return dataclasses.replace(
                base, feats=copies[0], variants=var_copies[0] if var_copies else None
            )
        n = len(copies)
        return Split(
            Chained(copies),
            np.concatenate([base.labels] * n),
            base.speakers * n,
            base.ids + [f"{i}#{v}" for v in views[1:] for i in base.ids],
            Chained(var_copies) if var_copies else None,
            None if base.soft is None else np.concatenate([base.soft] * n),
            None if base.corpora is None else base.corpora * n,
            base.train_only,
        )

    def _loco_maps(self, pool: list[int], train_norm: str) -> dict:
        """``corpus -> (a, b)``, each ``(L, 1, D)`` float32, with ``a * z + b`` the clip of that
        corpus standardised with the mean statistics of the other corpora of ``pool``."""
        st = self.normalizer.stats if self.normalizer is not None else {}
        corpora = sorted({self.utts[i].corpus for i in pool})
        if len(corpora) < 2 or any(c not in st for c in corpora):
            raise ConfigError(
                f"train_norm={train_norm}: the loco view needs normalize=corpus and at least two "
                f"training corpora (got {corpora})"
            )
        maps = {}
        for c in corpora:
            other = self.normalizer.mean_stats(exclude=set(st) - (set(corpora) - {c}))
            a = st[c].std / other.std
            maps[c] = (a, (st[c].mean - other.mean) / other.std)
        return maps

    @staticmethod
    def _speaker_key(u: Utterance) -> str:
        if u.speaker is None:
            raise ConfigError(
                f"train_norm by speaker needs a speaker id on every training clip ({u.id} has none)"
            )
        return f"{u.corpus}/{u.speaker}"

    def speaker_view(self) -> SpeakerNormalizer:
        """Per-speaker statistics of ``feats`` (fitted once, statistics only: no second copy
        of the features is kept)."""
        if self._spk_norm is None:
            ids = [u.id for u in self.utts]
            self._spk_norm = SpeakerNormalizer().fit(
                [self.feats[i] for i in ids], [self._speaker_key(u) for u in self.utts]
            )
        return self._spk_norm

    def text_encoder_macs(self, idx: list[int], clip_s: float) -> int | None:
        """Mean MACs of the text encoder per ``clip_s`` of audio over utterances ``idx`` (their
        real token counts; utterances without a transcript cost nothing)."""
        if self.text is None:
            return None
        rates = [
            (
                self.text_encoder.macs(
                    0
                    if self.text.states[self.utts[i].id] is None
                    else self.text.states[self.utts[i].id].shape[0]
                )
                / max(self.utts[i].duration, 1e-3)
            )
            for i in idx
        ]
        return int(np.mean(rates) * clip_s) if rates else 0

    def augment_bank(self, cfg, seed: int, idx: list[int] | None = None, progress: bool = False):
        """The augmented variants (:func:`serkit.training.augment.build_bank`, ``cfg`` an
        ``AugmentConfig``) of utterances ``idx`` (default all), each standardised as ``feats``
        are, with its clip's CLEAN statistics (its speaker's, or its corpus's): what the
        augmentation changed is kept. Returns ``(bank, stats)``."""
        from serkit.training.augment import build_bank

        utts = self.utts if idx is None else [self.utts[i] for i in sorted(set(idx))]
        bank, st = build_bank(
            utts, self.frontend, cfg, seed=seed, cache=self.cache, progress=progress
        )
        if self.normalizer is not None:
            self.normalizer.transform_bank(
                bank, {u.id: norm_group(u, self.normalize) for u in self.utts}
            )
        return bank, st

    def bank_variants(self, bank, idx: list[int], partners: list[int]):
        """Per utterance of ``idx``: its variants in ``bank`` whose partner is among
        ``partners`` (:func:`serkit.training.augment.usable_variants`; never test audio)."""
        from serkit.training.augment import usable_variants

        return usable_variants(
            bank,
            [self.utts[i].id for i in idx],
            [self.utts[i].id for i in partners],
            {u.id: int(y) for u, y in zip(self.utts, self.y)},
            len(self.labels),
        )

    def speakers(self, idx: list[int]) -> list[str]:
        return sorted({self.utts[i].speaker for i in idx})


def label_distributions(utts: list[Utterance], labels: list[str]) -> np.ndarray | None:
    """``(N, C)`` target distributions when any utterance has ``label_dist`` (others one-hot;
    weights of labels outside ``labels`` dropped, rows renormalised); ``None`` otherwise."""
    if not any(u.label_dist for u in utts):
        return None
    out = np.zeros((len(utts), len(labels)), np.float32)
    for i, u in enumerate(utts):
        d = {k: float(v) for k, v in (u.label_dist or {}).items() if k in labels}
        if any(v < 0 or not np.isfinite(v) for v in d.values()):
            raise ConfigError(
                f"{u.id}: label_dist weights must be finite and >= 0, got {u.label_dist}"
            )
        total = sum(d.values())
        if total > 0:
            for k, v in d.items():
                out[i, labels.index(k)] = v / total
        else:
            out[i, labels.index(u.label)] = 1.0
    return out


def norm_group(u: Utterance, normalize: str):
    """The group whose frame statistics standardise ``u``: its corpus (``normalize: corpus``)
    or its speaker."""
    return u.corpus if normalize == "corpus" else u.speaker


def fit_val_split(
    utts: list[Utterance], train_idx: list[int], seed: int, cfg: ExperimentConfig
) -> tuple[list[int], list[int]]:
    """A training fold -> (fit, validation) indices: validation speakers drawn with ``seed``
    (``cfg.val_fraction``), then each corpus capped at ``cfg.max_per_corpus`` fit clips (a
    quarter of that for validation). The one split of bench, tune and train."""
    fit_idx, val_idx = validation_split(utts, train_idx, seed, cfg.val_fraction)
    return (
        cap_per_corpus(utts, fit_idx, cfg.max_per_corpus, seed),
        cap_per_corpus(utts, val_idx, cfg.max_per_corpus // 4, seed),
    )


def stats_only_utterances(cfg: DataConfig, utts: list[Utterance]) -> list[Utterance]:
    """Clips that enter a training-only corpus's standardisation statistics only.

    A corpus left with ONE class by the label spec (BAVED's ``neutral`` level under the four
    core classes) would otherwise be standardised with that class's own mean, which makes its
    neutral clips look like an average clip of the other corpora; its statistics come instead
    from every clip of that corpus in the manifest (the other arousal levels too, unlabelled
    ones included). A corpus with rule-derived labels (``baved-weak``) is treated alike: the
    clips its rule leaves without a category count in its statistics. Standardisation uses no
    labels, so nothing leaks; these clips are never trained or tested on. Empty with
    ``normalize: none``."""
    if cfg.normalize == "none":
        return []
    single = training_only_corpora(utts)
    if not single:
        return []
    seen = {u.id for u in utts}
    return [
        u
        for u in read_manifests(cfg.manifest)
        if u.corpus in single
        and u.id not in seen
        and (cfg.normalize != "speaker" or u.speaker is not None)
    ]


def read_labelled(cfg: DataConfig) -> list[Utterance]:
    """The labelled utterances of the manifest(s) (comma-separated paths combine), of
    ``cfg.corpora`` when given, restricted and merged by the label spec ``cfg.labels``
    (:mod:`serkit.data.labels`; empty = every label as written)."""
    if not cfg.manifest:
        raise ConfigError("an experiment needs a manifest (--manifest)")
    utts = read_manifests(cfg.manifest)
    if cfg.corpora:
        absent = sorted(set(cfg.corpora) - {u.corpus for u in utts})
        if absent:
            raise ConfigError(
                f"corpora {absent} not in {cfg.manifest} (it has "
                f"{sorted({u.corpus for u in utts})})"
            )
        utts = [u for u in utts if u.corpus in cfg.corpora]
    utts = harmonise(utts, cfg.labels or None)
    if not utts:
        raise ConfigError(
            f"no labelled utterances{f' with labels {cfg.labels}' if cfg.labels else ''} in "
            f"{cfg.manifest}"
        )
    return utts


def load_dataset(
    cfg: DataConfig | ExperimentConfig,
    run: RunConfig,
    log=print,
    skipped_file=None,
    check_protocol: bool = True,
) -> Dataset:
    """Everything an experiment trains and tests on (an :class:`ExperimentConfig` gives its
    ``.data``). The protocol is checked before the (long) feature extraction
    (``check_protocol=False``: a final fit on every clip, ``serkit train``, which tests on no
    fold); ``skipped_file``: where to list unusable files (with their reasons)."""
    if isinstance(cfg, ExperimentConfig):
        cfg = cfg.data
    utts = read_labelled(cfg)
    if cfg.protocol and check_protocol:
        make_folds(utts, cfg.protocol)  # fail fast on a leaking protocol
    if cfg.normalize == "speaker" and any(u.speaker is None for u in utts):
        raise ConfigError(
            "normalize=speaker needs a speaker id for every utterance in the manifest"
        )
    labels = sorted({u.label for u in utts})
    frontend = build_frontend(cfg.frontend)
    cache = FeatureCache(run.cache_dir or None)
    t0 = time.time()
    stats_only = stats_only_utterances(cfg, utts)
    ex = extract_features(frontend, utts + stats_only, cache, progress=run.progress)
    if skipped_file is not None and not ex.failed:
        Path(skipped_file).unlink(missing_ok=True)  # (an earlier run's list would mislead)
    if ex.failed:
        if skipped_file is not None:
            atomic_write_text(skipped_file, "".join(f"{i}\t{r}\n" for i, r in ex.failed))
        log(
            f"skipped {len(ex.failed)} unusable file(s)"
            + (f", listed in {skipped_file}" if skipped_file else "")
            + f"; first: {ex.failed[0][0]}: {ex.failed[0][1]}"
        )
    utts = [u for u in utts if u.id in ex.features]
    if sorted({u.label for u in utts}) != labels:
        raise ProtocolError(
            f"after skipping bad files the label set changed: {labels} -> "
            f"{sorted({u.label for u in utts})}"
        )
    group = {u.id: norm_group(u, cfg.normalize) for u in utts + stats_only}
    feats, normalizer = normalize_features(ex.features, group, cfg.normalize)
    if stats_only:  # their frames are in the statistics; they are never trained or tested on
        log(
            f"statistics of {sorted({u.corpus for u in stats_only})} also from "
            f"{len(stats_only)} clip(s) outside the label set (training-only corpora)"
        )
        for u in stats_only:
            feats.pop(u.id, None)
    text = encoder = None
    if cfg.text is not None:
        encoder = TextEncoder(cfg.text)
        text = encode_texts(encoder, {u.id: u.text for u in utts}, cache.root, run.progress)
        if text.missing == len(utts):
            raise ConfigError(
                f"model {cfg.reader!r} reads transcripts, but no utterance of {cfg.manifest} "
                "has a "
                "text field (serkit transcribe --manifest M --out M2 writes one)"
            )
        log(
            f"transcripts: {len(utts) - text.missing} of {len(utts)} ({text.tokens_mean} tokens "
            "on average, "
            f"{text.truncated} truncated at {cfg.text.max_tokens}, [UNK] share "
            f"{text.unk_frac_mean})"
        )
    return Dataset(
        utts,
        feats,
        labels,
        frontend,
        cache,
        ex.failed,
        ex.extracted,
        ex.cached,
        round(time.time() - t0, 2),
        normalizer,
        text,
        encoder,
        normalize=cfg.normalize,
    )


class _SpeakerMap:
    """Clip ``i`` (corpus-standardised) -> its speaker's standardisation (float16)."""

    def __init__(self, norm: SpeakerNormalizer, keys: list[str]):
        self.norm, self.keys = norm, keys

    def __call__(self, f: np.ndarray, i: int) -> np.ndarray:
        if self.keys[i] is None:  # (a single-class corpus: as its corpus standardised it)
            return f
        return self.norm.transform(f, self.keys[i]).astype(np.float16)


class _AffineMap:
    """Clip ``i`` -> ``a_i * f + b_i`` (float16), ``maps[i] = (a_i, b_i)``."""

    def __init__(self, maps: list[tuple[np.ndarray, np.ndarray]]):
        self.maps = maps

    def __call__(self, f: np.ndarray, i: int) -> np.ndarray:
        a, b = self.maps[i]
        return (f.astype(np.float32) * a + b).astype(np.float16)


class MappedClips(Sequence):
    """``fn(src[i], i)`` for every clip of ``src``, computed when read (a training view of
    clips without a second copy in memory)."""

    def __init__(self, src, fn):
        self.src, self.fn = src, fn

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self.fn(self.src[i], i if i >= 0 else i + len(self))


def mapped_variants(variants, fn) -> MappedClips:
    """The augmented variants ``[(feats, soft), ...]`` of each clip ``i`` mapped as clip ``i``."""
    return MappedClips(variants, lambda vs, i: [(fn(f, i), soft) for f, soft in vs])


class Chained(Sequence):
    """Several sequences read as one (the views of a training split, one after another)."""

    def __init__(self, parts: list):
        self.parts = parts
        self.starts = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = i if i >= 0 else i + len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        k = int(np.searchsorted(self.starts, i, side="right")) - 1
        return self.parts[k][i - self.starts[k]]
