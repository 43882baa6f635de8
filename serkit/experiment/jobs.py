"""The jobs behind the CLI's non-experiment commands: prepare, combine, extract, transcribe,
distil, and the registries' listing.

The CLI is a shell over the top layers (``experiment``, ``deploy``, ``analysis``, ``batch``);
what it needs from the layers below goes through here, so ``serkit.cli`` never imports
``data``, ``features``, ``training``, ``estimators``, ``nn`` or ``audio`` (an import-linter
contract checks it). Each job returns what it did; the CLI prints it.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from serkit.core.config import deep_merge, from_dict, load_yaml, parse_overrides
from serkit.core.errors import ConfigError
from serkit.data.manifest import Utterance, read_manifests, write_manifest


def read_clips(manifests: str | Path | list) -> list[Utterance]:
    """The utterances of one manifest or several (comma-separated or a list)."""
    return read_manifests(manifests)


def prepare(corpus: str, root: str | Path, out: str | Path, speaker_regex: str | None) -> list:
    """``serkit prepare``: write the manifest of a corpus folder; returns the report lines."""
    from serkit.data.corpora import prepare_manifest

    return list(prepare_manifest(corpus, root, out, speaker_regex))


def combine(manifests: list[str | Path], out: str | Path) -> tuple[int, dict[str, int]]:
    """``serkit combine``: one manifest from several; returns (utterances written, per corpus)."""
    utts = read_clips(list(manifests))
    n = write_manifest(utts, out)
    return n, dict(sorted(Counter(u.corpus for u in utts).items()))


@dataclass
class ExtractReport:
    """``serkit extract``: what was extracted, read from the cache or skipped (id, reason)."""

    frontend: str
    utterances: int
    audio_min: float
    features: int
    extracted: int
    cached: int
    wall_s: float
    failed: list[tuple[str, str]] = field(default_factory=list)


def extract(
    manifest: str, frontend: str, settings: list[str], cache_dir: str | Path | None
) -> ExtractReport:
    """Extract (or verify cached) features of ``manifest``'s clips with ``frontend``
    (``settings``: ``key=value`` overrides of its config)."""
    from serkit.features import FeatureCache, build_frontend, extract_features

    utts = read_clips(manifest)
    fe = build_frontend(frontend, parse_overrides(settings))
    t0 = time.time()
    r = extract_features(fe, utts, FeatureCache(cache_dir))
    return ExtractReport(
        fe.name,
        len(utts),
        round(sum(u.duration for u in utts) / 60, 1),
        len(r.features),
        r.extracted,
        r.cached,
        round(time.time() - t0, 1),
        list(r.failed),
    )


def transcribe(
    manifest: str,
    out: str | Path,
    cache_dir: str | Path | None,
    keep_existing: bool,
    progress: bool,
    **settings,
) -> dict:
    """``serkit transcribe`` (:func:`serkit.features.asr.transcribe_manifest`; ``settings``:
    fields of its ``TranscribeConfig``)."""
    from serkit.features.asr import TranscribeConfig, transcribe_manifest

    cfg = TranscribeConfig(**settings)
    return transcribe_manifest(manifest, out, cfg, cache_dir, keep_existing, progress=progress)


def distill(
    manifest: str,
    out: str | Path,
    config: str | Path | None,
    settings: list[str],
    cache_dir: str | Path | None,
    exclude_corpora: set[str],
    log=print,
) -> dict:
    """``serkit distill``: the compact student from Whisper on unlabelled audio
    (:func:`serkit.training.distill.distill`), without the corpora in ``exclude_corpora``."""
    from serkit.features import FeatureCache
    from serkit.training.distill import DistillConfig
    from serkit.training.distill import distill as run_distill

    data = deep_merge(load_yaml(config) if config else {}, parse_overrides(settings))
    cfg = from_dict(DistillConfig, data, "distill")
    utts = [u for u in read_clips(manifest) if u.corpus not in exclude_corpora]
    note = f"excluded: {', '.join(sorted(exclude_corpora))}" if exclude_corpora else ""
    head = teacher_head(cfg.head, cfg.teacher) if cfg.head else None
    return run_distill(
        utts, out, cfg, FeatureCache(cache_dir), log=log, corpora_note=note, teacher_head=head
    )


def teacher_head(path: str | Path, teacher: str):
    """A saved ``logreg`` model on ``teacher``'s states as the fixed
    :class:`~serkit.training.distill.TeacherHead` of a task-aware distillation (its domain
    standardisation folded in: it reads RAW states)."""
    from serkit.core.io import file_digest
    from serkit.estimators.io import load_model
    from serkit.training.distill import TeacherHead

    model, fe, labels, _ = load_model(path)
    spec = fe.spec()
    if spec["name"] != teacher:
        raise ConfigError(
            f"distill head {path}: its frontend is {spec['name']}, not the teacher {teacher}"
        )
    if model.name != "logreg" or len(model.states_read()) != 1:
        raise ConfigError(
            f"distill head {path}: needs a logreg model reading one state (got {model.name})"
        )
    h = model.torch_head()
    state = list(spec["config"]["layers"])[model.states_read()[0]]
    return TeacherHead(
        h.weight.numpy().astype(np.float64),
        h.bias.numpy().astype(np.float64),
        int(state),
        list(labels),
        f"{path} (sha1 {file_digest(path)[:12]})",
    )


def registries() -> dict[str, list[str]]:
    """Names of every registered corpus recipe, frontend, model, protocol, bundled split and
    reproduction (``serkit info``)."""
    from serkit.data.corpora import RECIPES
    from serkit.data.protocols import PROTOCOLS, bundled_splits
    from serkit.estimators import MODELS
    from serkit.experiment.reproduce import available
    from serkit.features import FRONTENDS

    return {
        "corpora": sorted(RECIPES),
        "frontends": sorted(FRONTENDS),
        "models": sorted(MODELS),
        "protocols": list(PROTOCOLS),
        "splits": list(bundled_splits()),
        "reproductions": list(available()),
    }
