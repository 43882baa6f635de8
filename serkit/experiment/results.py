"""The typed result of a bench run (``results.json``), with a schema version.

:class:`BenchResult` is the only thing reports, tables and the CLI read; ``load`` refuses a
file of another schema (an older serkit's run folder) with a clear message.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from serkit.core.config import from_dict, to_dict
from serkit.core.cost import Cost
from serkit.core.errors import ConfigError, SerkitError
from serkit.core.io import atomic_write_json
from serkit.estimators import FitReport
from serkit.training.augment import AugmentConfig

SCHEMA_VERSION = 2
"""2: every section typed (calibration, probes, robustness, adaptation, text, LDL, per-corpus,
spiking, augmentation); the augmentation record nests its config under ``config``."""


@dataclass
class MetricSummary:
    """One metric over seeds: ``mean``, sample ``std`` (ddof=1) and each seed's value."""

    mean: float
    std: float
    per_seed: list[float]


@dataclass
class Scores:
    """UA, WA and macro-F1 over seeds (a probe, a corrupted condition, a test corpus); for a
    test corpus also the recall of each class it has (``recall``)."""

    ua: MetricSummary
    wa: MetricSummary
    f1: MetricSummary
    recall: dict[str, MetricSummary] | None = None


@dataclass
class Reliability:
    """Equal-width confidence bins (``serkit.core.calibration.reliability``)."""

    count: list[int]
    confidence: list[float | None]
    accuracy: list[float | None]
    ece: float


@dataclass
class SelectiveRow:
    """Answer only the most confident ``coverage`` share: the threshold, accuracy and UA."""

    coverage: float
    threshold: float
    accuracy: float
    ua: float | None


@dataclass
class EcePair:
    ece_before: float
    ece_after: float


@dataclass
class Calibration:
    """ECE before / after each fold's temperature (per seed), reliability bins, selective
    accuracy of the calibrated predictions, ECE per test corpus when there are several."""

    ece_before: MetricSummary
    ece_after: MetricSummary
    temperature_mean: float
    reliability_after: Reliability
    reliability_before: Reliability
    selective: list[SelectiveRow]
    per_corpus: dict[str, EcePair] | None = None


@dataclass
class Adaptation:
    """One ``adaptK`` variant: UA per test corpus and their unweighted mean; ``recall``: per
    test corpus, the recall of each class it has."""

    per_corpus: dict[str, MetricSummary]
    ua_corpus_mean: MetricSummary
    recall: dict[str, dict[str, MetricSummary]] | None = None


@dataclass
class CorruptionStats:
    encoded: int = 0
    cached: int = 0
    failed: int = 0
    seconds: float = 0.0


@dataclass
class Robustness:
    """Scores on each corrupted copy of the test clips; how the copies were made."""

    conditions: dict[str, Scores]
    extraction: dict[str, CorruptionStats] | None = None


@dataclass
class CostPart:
    """Head operations and energy of one part of a multimodal head, per 3 s clip."""

    macs: int
    sops: int
    energy_mj: float


@dataclass
class TextEncoderSpec:
    name: str
    version: int
    layer: int
    max_tokens: int
    weights: str


@dataclass
class TextRecord:
    """What the transcripts were and what encoding them costs (multimodal runs)."""

    read: bool
    encoder: TextEncoderSpec
    with_transcript: int
    missing: int
    truncated: int
    tokens_mean: float
    unk_frac_mean: float
    encoder_macs: int
    encoder_mj: float
    shuffled_test: bool


@dataclass
class Ldl:
    """Label-distribution measures, mean +- std over seeds."""

    kl: MetricSummary
    chebyshev: MetricSummary
    cosine: MetricSummary
    intersection: MetricSummary


@dataclass
class SpikeRates:
    """One spiking layer: mean firing rate, share of silent (< 1 %) and saturated (> 99 %)
    neurons."""

    rate: float
    silent: float
    saturated: float


@dataclass
class BankStats:
    """One seed's augmentation bank."""

    seed: int
    planned: int = 0
    encoded: int = 0
    cached: int = 0
    failed: int = 0
    seconds: float = 0.0


@dataclass
class AugmentRecord:
    """The augmentation setting, its banks per seed and what building them cost."""

    config: AugmentConfig
    banks: list[BankStats]
    bank_encoder_s_total: float
    note: str


@dataclass
class FoldRecord:
    """One (seed, fold) of a bench run, as saved in ``folds/seed{S}_{FOLD}.json``: the test
    clips' ids and probabilities ``(N, C)``, what fitting did and cost, and the fingerprint of the
    experiment that produced it (a record of another experiment is never reused)."""

    seed: int
    fold: str
    fingerprint: str
    ids: list[str]
    proba: list[list[float]]
    fit: FitReport
    fit_s: float
    cost: Cost
    n_fit: int
    n_val: int
    val_speakers: list[str]
    uses: list[str]
    spike_stats: dict[str, SpikeRates] | None = None
    temperature: float | None = None
    adapted: dict[str, list[list[float]]] | None = None
    cost_parts: dict[str, CostPart] | None = None
    probes: dict[str, list[list[float]]] | None = None
    corrupted: dict[str, list[list[float]]] | None = None

    def to_dict(self) -> dict:
        return {**asdict(self), "fit": self.fit.to_dict(), "cost": self.cost.to_dict()}

    def save(self, folder: Path) -> None:
        atomic_write_json(Path(folder) / f"seed{self.seed}_{self.fold}.json", self.to_dict())

    @classmethod
    def from_dict(cls, d: dict) -> FoldRecord:
        d = dict(d)
        if isinstance(d.get("cost"), dict):  # the counts only; energies are derived from them
            d["cost"] = {k: v for k, v in d["cost"].items() if k in Cost.__dataclass_fields__}
        return from_dict(cls, d, "fold record")

    @classmethod
    def load(cls, path: Path) -> FoldRecord | None:
        """The record at ``path``; ``None`` when absent, damaged or of another schema (re-run)."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, TypeError, KeyError, ConfigError):
            return None


@dataclass
class Invocation:
    """One ``serkit bench`` call that contributed folds to a result."""

    wall_s: float
    folds_run: int
    folds_reused: int
    finished: str


@dataclass
class Timing:
    """Wall times in seconds. ``wall_s``: this invocation; ``wall_s_total``: summed over the
    invocations whose folds it reuses (``invocations``); ``fit_s_total``: fitting summed over
    folds and seeds."""

    wall_s: float = 0.0
    wall_s_total: float = 0.0
    invocations: list[Invocation] = field(default_factory=list)
    extract_s: float = 0.0
    train_s_this_run: float = 0.0
    fit_s_total: float = 0.0
    features_extracted: int = 0
    features_cached: int = 0
    skipped_files: int = 0


@dataclass
class BenchResult:
    """Accuracy, cost and protocol of one bench run (see ``metric_definitions``)."""

    corpus: str
    protocol: str
    normalize: str
    fold_names: list[str]
    seeds: list[int]
    n_utterances: int
    n_speakers: int
    labels: list[str]
    model: str
    frontend: str
    ua: MetricSummary
    wa: MetricSummary
    f1: MetricSummary
    per_class_recall: dict[str, float]
    confusion_matrix: list[list[int]]
    cost: Cost
    metric_definitions: dict[str, str]
    timing: Timing = field(default_factory=Timing)
    latency_ms_per_clip: float | None = None
    latency_head_ms: float | None = None
    latency_protocol: str = ""
    layer_names: list[str] | None = None
    layer_weights_mean: list[float] | None = None
    layer_chosen_counts: dict[str, int] | None = None
    spike_stats: dict[str, SpikeRates] | None = None
    augment: AugmentRecord | None = None
    per_corpus: dict[str, Scores] | None = None
    ua_corpus_mean: MetricSummary | None = None
    calibration: Calibration | None = None
    adaptation: dict[str, Adaptation] | None = None
    cost_parts: dict[str, CostPart] | None = None
    text: TextRecord | None = None
    probes: dict[str, Scores] | None = None
    robustness: Robustness | None = None
    ldl: Ldl | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def protocol_label(self) -> str:
        """The protocol as printed: speaker normalisation (transductive) is never left unsaid."""
        return self.protocol + (f" + {self.normalize}-norm" if self.normalize != "none" else "")

    def summary(self) -> str:
        """Two lines: accuracy (mean +- std over seeds) and cost per 3 s clip."""
        c = self.cost
        return (
            f"{self.model} / {self.frontend} on {self.corpus} ({self.protocol_label}, "
            f"{len(self.seeds)} seeds): "
            f"UA {self.ua.mean:.4f} +- {self.ua.std:.4f}, WA {self.wa.mean:.4f} +- "
            f"{self.wa.std:.4f}, "
            f"F1 {self.f1.mean:.4f} +- {self.f1.std:.4f}\nparams {c.params_trainable:,}, head "
            f"{c.macs_head:,} MACs = "
            f"{c.energy_head_mj:.5f} mJ, encoder "
            f"{'n/a' if c.energy_encoder_mj is None else f'{c.energy_encoder_mj:.3f}'} mJ, "
            f"total {'n/a' if c.energy_total_mj is None else f'{c.energy_total_mj:.3f}'} mJ per 3 "
            "s clip, latency "
            f"{self.latency_ms_per_clip} ms; wall {self.timing.wall_s} s"
            + self._corpus_lines()
            + self._calib_line()
        )

    def _calib_line(self) -> str:
        c = self.calibration
        return (
            (
                f"\nECE {c.ece_before.mean:.3f} -> {c.ece_after.mean:.3f} after temperature "
                "scaling "
                f"(T {c.temperature_mean:.2f}, fitted on validation speakers)"
            )
            if c
            else ""
        )

    def _corpus_lines(self) -> str:
        if not self.per_corpus:
            return ""
        parts = ", ".join(
            f"{c} {m.ua.mean:.4f} +- {m.ua.std:.4f}" for c, m in self.per_corpus.items()
        )
        return (
            f"\nUA per test corpus: {parts}; mean over corpora {self.ua_corpus_mean.mean:.4f} "
            f"+- {self.ua_corpus_mean.std:.4f}"
        )

    def benchmark_record(self) -> dict:
        """What a model file's provenance keeps of the benchmark behind it."""
        rec = {
            "corpus": self.corpus,
            "protocol": self.protocol_label,
            "folds": len(self.fold_names),
            "seeds": self.seeds,
            "labels": self.labels,
            "ua": to_dict(self.ua),
            "wa": to_dict(self.wa),
            "f1": to_dict(self.f1),
        }
        if self.per_corpus:
            rec["ua_per_corpus"] = {c: to_dict(m.ua) for c, m in self.per_corpus.items()}
            rec["ua_corpus_mean"] = to_dict(self.ua_corpus_mean)
        unadapted = (self.adaptation or {}).get("adapt_none")
        if self.normalize == "corpus" and unadapted is not None:
            # the bench headline standardises each held-out corpus with ALL its clips
            # (transductive); a deployed model answers before it has seen any: lead with that
            rec["ua_corpus_mean_transductive"] = rec.get("ua_corpus_mean")
            rec["ua_per_corpus"] = {c: to_dict(m) for c, m in unadapted.per_corpus.items()}
            rec["ua_corpus_mean"] = to_dict(unadapted.ua_corpus_mean)
            rec["headline_input"] = "unadapted: the mean of the training corpora's statistics"
        if self.adaptation:
            rec["adapted_ua_corpus_mean"] = {
                k: to_dict(v.ua_corpus_mean) for k, v in self.adaptation.items()
            }
        if self.calibration:
            c = self.calibration
            rec["ece"] = {
                "before": c.ece_before.mean,
                "after": c.ece_after.mean,
                **({"per_corpus": to_dict(c.per_corpus)} if c.per_corpus else {}),
            }
        rec["per_class_recall"] = dict(self.per_class_recall)
        if self.adaptation:  # per held-out corpus and class, for each amount of adaptation
            rec["recall_per_corpus"] = {
                k: {c: {lab: round(m.mean, 4) for lab, m in r.items()} for c, r in a.recall.items()}
                for k, a in self.adaptation.items()
                if a.recall
            }
            rec["adapted_ua_per_corpus"] = {
                k: {c: round(m.mean, 4) for c, m in a.per_corpus.items()}
                for k, a in self.adaptation.items()
            }
        return rec

    def to_dict(self) -> dict:
        return {**to_dict(self), "cost": self.cost.to_dict()}

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: dict, source: str = "results") -> BenchResult:
        if d.get("schema_version") != SCHEMA_VERSION:
            raise SerkitError(
                f"{source}: written by another serkit (results schema {d.get('schema_version')!r}, "
                f"this one reads {SCHEMA_VERSION}); re-run serkit bench into a new --out folder"
            )
        d = dict(d)
        if isinstance(d.get("cost"), dict):  # the counts only; energies are derived from them
            d["cost"] = {k: v for k, v in d["cost"].items() if k in Cost.__dataclass_fields__}
        try:
            return from_dict(cls, d, source)
        except ConfigError as exc:
            raise SerkitError(f"{source}: damaged results file ({exc})") from None

    @classmethod
    def load(cls, path: str | Path) -> BenchResult:
        p = Path(path)
        if p.is_dir():
            p = p / "results.json"
        if not p.exists():
            raise SerkitError(f"{p.parent}: no results.json (run serkit bench first)")
        try:
            return cls.from_dict(json.loads(p.read_text()), str(p))
        except json.JSONDecodeError:
            raise SerkitError(f"{p}: not valid JSON") from None
