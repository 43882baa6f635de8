"""From fold records to a :class:`~serkit.experiment.results.BenchResult`: each function takes
the records (and the data they were scored on) and RETURNS one typed section, or ``None`` when
the run has no such section. :func:`aggregate` composes them; nothing here fits a model, reads
a file or writes one.

Every metric pools one seed's out-of-fold predictions, then summarises over seeds (mean,
sample std, each seed's value).
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from serkit.core.cost import CLIP_S, Cost
from serkit.data.protocols import Fold
from serkit.estimators import FitReport
from serkit.experiment.config import ExperimentConfig, describe_train_norm
from serkit.experiment.dataset import Dataset
from serkit.experiment.metrics import classification_metrics, mean_std
from serkit.experiment.results import (
    Adaptation,
    AugmentRecord,
    BankStats,
    BenchResult,
    Calibration,
    CostPart,
    EcePair,
    FoldRecord,
    Invocation,
    Ldl,
    MetricSummary,
    Reliability,
    Robustness,
    Scores,
    SelectiveRow,
    SpikeRates,
    TextEncoderSpec,
    TextRecord,
    Timing,
)

METRIC_DEFINITIONS = {
    "ua": "balanced accuracy (mean per-class recall) over pooled out-of-fold predictions of one "
    "seed",
    "wa": "accuracy over pooled out-of-fold predictions",
    "f1": "macro F1 over pooled out-of-fold predictions",
    "std": "sample standard deviation over seeds (ddof=1)",
    "cost": "per 3 s clip; head operations counted on up to 32 test clips per fold (forward "
    "hooks, spikes), "
    "averaged over folds and seeds; encoder MACs analytic",
}

PROBES = {
    "no_text": "the test transcripts removed (audio alone)",
    "no_audio": "the test audio removed (transcripts alone)",
    "text_shuffled": "the test transcripts permuted among the fold's test clips",
}


def summary(vals: list[float]) -> MetricSummary:
    return MetricSummary(*(round(v, 4) for v in mean_std(vals)), [round(v, 4) for v in vals])


def seed_metrics(
    records: list[FoldRecord], d: Dataset, seeds: list[int], proba_of=lambda r: r.proba
) -> list[dict]:
    """Per seed, the classification metrics of its pooled out-of-fold predictions
    (``proba_of(record)``: which probabilities of a record to score)."""
    idx = {u.id: int(y) for u, y in zip(d.utts, d.y)}
    out = []
    for s in seeds:
        recs = [r for r in records if r.seed == s]
        ids = [i for r in recs for i in r.ids]
        pred = np.array([p for r in recs for p in proba_of(r)]).argmax(1)
        out.append(classification_metrics(np.array([idx[i] for i in ids]), pred, len(d.labels)))
    return out


def scores(per_seed: list[dict]) -> Scores:
    return Scores(*(summary([m[k] for m in per_seed]) for k in ("ua", "wa", "f1")))


def aggregate(
    records: list[FoldRecord], cfg: ExperimentConfig, d: Dataset, folds: list[Fold]
) -> BenchResult:
    """The result of ``records``: headline metrics, cost, and every section the run has."""
    per_seed = seed_metrics(records, d, cfg.seed_list)
    uses = tuple(records[0].uses) if records else ("audio",)
    costs = [r.cost for r in records]
    cost = Cost(
        costs[0].params_trainable,
        *(
            int(np.mean([getattr(c, k) for c in costs]))
            for k in ("macs_head", "acs_head", "sops_head")
        ),
        d.encoder_macs(CLIP_S) if "audio" in uses else 0,
        CLIP_S,
        d.dsp_macs(CLIP_S) if "audio" in uses else None,
    )
    head = scores(per_seed)
    res = BenchResult(
        corpus=",".join(sorted({u.corpus for u in d.utts})),
        protocol=cfg.protocol
        + (
            " [LEAKY: frame statistics of all clips, test folds included]" if cfg.leaky_norm else ""
        ),
        normalize=cfg.normalize,
        fold_names=[f.name for f in folds],
        seeds=cfg.seed_list,
        n_utterances=len(d.utts),
        n_speakers=len({u.speaker for u in d.utts}),
        labels=d.labels,
        model=cfg.model.name,
        frontend=cfg.frontend.name,
        ua=head.ua,
        wa=head.wa,
        f1=head.f1,
        per_class_recall={
            lab: round(float(v), 4)
            for lab, v in zip(d.labels, np.mean([m["per_class_recall"] for m in per_seed], axis=0))
        },
        confusion_matrix=np.sum([m["confusion"] for m in per_seed], axis=0).astype(int).tolist(),
        cost=cost,
        metric_definitions=definitions(cfg),
    )
    res.per_corpus, res.ua_corpus_mean = per_corpus(records, d, cfg.seed_list)
    res.calibration = calibration(records, d, cfg.seed_list)
    res.adaptation = adaptation(records, d, cfg)
    res.layer_weights_mean, res.layer_chosen_counts = layers([r.fit for r in records])
    if res.layer_weights_mean is not None or res.layer_chosen_counts is not None:
        res.layer_names = d.frontend.layer_names
    res.spike_stats = spike_rates([r.spike_stats for r in records if r.spike_stats])
    res.cost_parts = cost_parts(records)
    res.text = text_record(d, cfg, uses)
    res.probes = probes(records, d, cfg.seed_list) if len(uses) > 1 else None
    res.robustness = robustness(records, d, cfg) if cfg.test_corruptions else None
    res.ldl = ldl(records, d, cfg.seed_list) if d.soft is not None else None
    res.metric_definitions.update(section_definitions(res, cfg, d, uses))
    return res


def definitions(cfg: ExperimentConfig) -> dict[str, str]:
    defs = dict(
        METRIC_DEFINITIONS,
        model_selection=f"validation speakers ({cfg.val_fraction:.0%} of each training "
        "fold's speakers, drawn per seed); test folds never used",
    )
    if cfg.normalize == "corpus":
        defs["normalize"] = (
            "corpus: every corpus's frame features z-scored with that corpus's own mean/std over "
            "all of "
            "its utterances (no labels; transductive for the test corpus)"
        )
    if cfg.train_norm != "same":
        defs["train_norm"] = (
            f"{cfg.train_norm}: the training clips {describe_train_norm(cfg.train_norm)} "
            "(validation speakers too); test clips as normalize says"
        )
    if cfg.normalize == "speaker":
        defs["normalize"] = (
            "speaker: every speaker's frame features z-scored with that speaker's own mean/std "
            "over "
            "all of their utterances (no labels; transductive for test speakers)"
        )
    return defs


def section_definitions(
    res: BenchResult, cfg: ExperimentConfig, d: Dataset, uses: tuple[str, ...]
) -> dict[str, str]:
    """How each section present in ``res`` was computed."""
    out = {}
    if res.per_corpus:
        out["per_corpus"] = (
            "UA/WA/F1 of each seed's predictions on one test corpus (UA over the classes that "
            "corpus "
            "has); ua_corpus_mean = their unweighted mean"
        )
    if res.calibration:
        out["calibration"] = (
            "ECE: 10 equal-width bins of top-1 confidence, sum of |accuracy - confidence| "
            "weighted by bin share; "
            "'after': each fold's test probabilities with the temperature fitted (NLL) on that "
            "fold's validation "
            "speakers; selective: accuracy/UA of the most confident share of clips (calibrated, "
            "all seeds pooled)"
        )
    if res.adaptation:
        out["adaptation"] = (
            (
                "normalize=corpus: adaptK = each test corpus z-scored with the frame statistics "
                "of K of its unlabelled clips (drawn per seed; all = every clip, the headline), "
                "adapt_none = with the mean of the training corpora's statistics (no test audio "
                "used); the model unchanged"
            )
            if cfg.normalize == "corpus"
            else (
                "adaptK: the fold's model with its input standardisation re-estimated from K "
                "unlabelled clips of each test corpus (drawn per seed; all = every clip), then "
                "scored on all of that corpus's test clips (transductive, no labels)"
            )
        )
    if res.spike_stats:
        out["spike_stats"] = (
            "per spiking layer: mean firing rate over steps and neurons; silent = share of "
            "neurons firing < 1% of "
            "steps, saturated > 99%; averaged over folds/seeds (up to 32 test clips per fold)"
        )
    if res.text is not None:
        out["text"] = (
            f"transcripts from the manifest's text field, token states of "
            f"{res.text.encoder.weights} layer {cfg.text.layer}"
            + (
                "; test transcripts permuted among each fold's test utterances (reliance "
                "diagnostic)"
                if cfg.text_shuffle_test
                else ""
            )
        )
    if res.probes:
        out["probes"] = (
            "; ".join(f"{k}: {v}" for k, v in PROBES.items())
            + " (the same fitted models, scored like the headline)"
        )
    if res.robustness:
        out["robustness"] = (
            "each fold's model, trained on clean clips, scored on corrupted copies of its test "
            "clips "
            "(serkit.audio.corrupt; one fixed corruption seed per clip and condition, the same "
            "for every model and "
            "seed; babble from other corpora's speakers only)"
        )
    if res.ldl:
        out["ldl"] = (
            "label-distribution learning: predicted probabilities against the manifest's "
            "label_dist "
            "(one-hot where absent); kl and chebyshev lower is better, cosine and intersection "
            "higher"
        )
    if "audio" not in uses:
        out["encoder"] = "this variant reads no audio: the speech encoder is not counted"
    return out


def per_corpus_seeds(
    records: list[FoldRecord], d: Dataset, seeds: list[int], proba_of=lambda r: r.proba
) -> dict[str, dict[str, list[float]]]:
    """``{corpus: {ua|wa|f1: [one value per seed]}}`` over the test clips of each corpus, each
    seed's predictions pooled (``proba_of(record)``: which probabilities of a record to score)."""
    corpus = {u.id: u.corpus for u in d.utts}
    idx = {u.id: int(y) for u, y in zip(d.utts, d.y)}
    names = sorted({corpus[i] for r in records for i in r.ids})
    per: dict[str, dict[str, list[float]]] = {c: {"ua": [], "wa": [], "f1": []} for c in names}
    for s in seeds:
        pairs = [(i, p) for r in records if r.seed == s for i, p in zip(r.ids, proba_of(r))]
        for c in names:
            sub = [(idx[i], int(np.argmax(p))) for i, p in pairs if corpus[i] == c]
            m = classification_metrics(
                np.array([a for a, _ in sub]), np.array([b for _, b in sub]), len(d.labels)
            )
            for k in ("ua", "wa", "f1"):
                per[c][k].append(m[k])
            for k in sorted({a for a, _ in sub}):
                per[c].setdefault(f"recall:{d.labels[k]}", []).append(m["per_class_recall"][k])
    return per


def _recall(m: dict[str, list[float]]) -> dict[str, MetricSummary]:
    """The ``recall:<label>`` entries of :func:`per_corpus_seeds` as summaries."""
    return {k.split(":", 1)[1]: summary(v) for k, v in m.items() if k.startswith("recall:")}


def corpus_mean(per: dict[str, dict[str, list[float]]], n_seeds: int) -> MetricSummary:
    """Per seed, the unweighted mean of the corpora's UA; over seeds, its summary."""
    return summary([float(np.mean([m["ua"][j] for m in per.values()])) for j in range(n_seeds)])


def per_corpus(
    records: list[FoldRecord], d: Dataset, seeds: list[int]
) -> tuple[dict[str, Scores] | None, MetricSummary | None]:
    """With test clips from several corpora: scores per test corpus and the unweighted mean UA
    over corpora, the cross-corpus headline (a large corpus cannot dominate it)."""
    per = per_corpus_seeds(records, d, seeds)
    if len(per) < 2:
        return None, None
    return (
        {
            c: Scores(*(summary(m[k]) for k in ("ua", "wa", "f1")), _recall(m))
            for c, m in per.items()
        },
        corpus_mean(per, len(seeds)),
    )


def calibration(records: list[FoldRecord], d: Dataset, seeds: list[int]) -> Calibration | None:
    """ECE of the test predictions as given and after each fold's temperature (fitted on that
    fold's validation speakers), per seed; reliability bins and the selective curve of the
    calibrated predictions (all seeds pooled); ECE per test corpus when there are several."""
    from serkit.core.calibration import apply_temperature, reliability, selective_curve

    if not records or any(r.temperature is None for r in records):
        return None
    idx = {u.id: int(y) for u, y in zip(d.utts, d.y)}
    corpus = {u.id: u.corpus for u in d.utts}
    raw, cal, ys, cs, before, after = [], [], [], [], [], []
    for s in seeds:
        recs = [r for r in records if r.seed == s]
        p = np.concatenate([np.asarray(r.proba) for r in recs])
        q = np.concatenate([apply_temperature(np.asarray(r.proba), r.temperature) for r in recs])
        y = np.array([idx[i] for r in recs for i in r.ids])
        before.append(reliability(p, y)["ece"])
        after.append(reliability(q, y)["ece"])
        raw.append(p)
        cal.append(q)
        ys.append(y)
        cs += [corpus[i] for r in recs for i in r.ids]
    q, p, y, cs = np.concatenate(cal), np.concatenate(raw), np.concatenate(ys), np.array(cs)
    out = Calibration(
        summary(before),
        summary(after),
        round(float(np.mean([r.temperature for r in records])), 4),
        Reliability(**reliability(q, y)),
        Reliability(**reliability(p, y)),
        [SelectiveRow(**row) for row in selective_curve(q, y)],
    )
    if len(set(cs)) > 1:
        out.per_corpus = {
            c: EcePair(
                reliability(p[cs == c], y[cs == c])["ece"],
                reliability(q[cs == c], y[cs == c])["ece"],
            )
            for c in sorted(set(cs))
        }
    return out


def adaptation(
    records: list[FoldRecord], d: Dataset, cfg: ExperimentConfig
) -> dict[str, Adaptation] | None:
    """UA per test corpus (and their mean) of the adapted predictions, per ``adaptK`` variant."""
    if not cfg.adapt_clips or not records or any(not r.adapted for r in records):
        return None
    out = {}
    for key in records[0].adapted:
        per = per_corpus_seeds(records, d, cfg.seed_list, lambda r, key=key: r.adapted[key])
        out[key] = Adaptation(
            {c: summary(m["ua"]) for c, m in per.items()},
            corpus_mean(per, len(cfg.seed_list)),
            {c: _recall(m) for c, m in per.items()},
        )
    return out


def layers(fits: list[FitReport]) -> tuple[list[float] | None, dict[str, int] | None]:
    """Mean learned layer weights, and how often each layer was chosen on training speakers."""
    weights = (
        np.mean([f.layer_weights for f in fits], axis=0).round(4).tolist()
        if fits and fits[0].layer_weights is not None
        else None
    )
    chosen = (
        dict(Counter(str(f.layer) for f in fits)) if fits and fits[0].layer is not None else None
    )
    return weights, chosen


def spike_rates(stats: list[dict[str, SpikeRates]]) -> dict[str, SpikeRates] | None:
    """Per spiking layer, firing rate / silent / saturated averaged over folds and seeds."""
    if not stats:
        return None
    return {
        layer: SpikeRates(
            *(
                round(float(np.mean([getattr(st[layer], k) for st in stats])), 4)
                for k in ("rate", "silent", "saturated")
            )
        )
        for layer in stats[0]
    }


def cost_parts(records: list[FoldRecord]) -> dict[str, CostPart] | None:
    """Multimodal heads: operations and energy per part, mean over folds."""
    parts = [r.cost_parts for r in records if r.cost_parts]
    if not parts:
        return None
    return {
        k: CostPart(
            int(np.mean([p[k].macs for p in parts])),
            int(np.mean([p[k].sops for p in parts])),
            round(float(np.mean([p[k].energy_mj for p in parts])), 6),
        )
        for k in parts[0]
    }


def text_record(d: Dataset, cfg: ExperimentConfig, uses: tuple[str, ...]) -> TextRecord | None:
    """What the transcripts were and what encoding them costs per 3 s clip (real token counts)."""
    from serkit.core.cost import energy_mj

    if d.text is None:
        return None
    macs = d.text_encoder_macs(list(range(len(d.utts))), CLIP_S) if "text" in uses else 0
    return TextRecord(
        "text" in uses,
        TextEncoderSpec(**d.text_encoder.spec()),
        len(d.utts) - d.text.missing,
        d.text.missing,
        d.text.truncated,
        d.text.tokens_mean,
        d.text.unk_frac_mean,
        macs,
        round(energy_mj(macs), 4),
        cfg.text_shuffle_test,
    )


def probes(records: list[FoldRecord], d: Dataset, seeds: list[int]) -> dict[str, Scores] | None:
    """Scores of each modality probe, beside the intact test."""
    if not records or any(not r.probes for r in records):
        return None
    return {
        key: scores(seed_metrics(records, d, seeds, lambda r, key=key: r.probes[key]))
        for key in records[0].probes
    }


def robustness(records: list[FoldRecord], d: Dataset, cfg: ExperimentConfig) -> Robustness | None:
    """Scores on each corrupted copy of the test clips."""
    if not records or any(not r.corrupted for r in records):
        return None
    return Robustness(
        {
            key: scores(
                seed_metrics(records, d, cfg.seed_list, lambda r, key=key: r.corrupted[key])
            )
            for key in cfg.test_corruptions
        }
    )


def ldl(records: list[FoldRecord], d: Dataset, seeds: list[int]) -> Ldl:
    """Label-distribution measures of each seed's pooled probabilities against the manifest's
    distributions, mean +- std over seeds."""
    from serkit.experiment.metrics import ldl_metrics

    row = {u.id: i for i, u in enumerate(d.utts)}
    per_seed = []
    for s in seeds:
        recs = [r for r in records if r.seed == s]
        ids = [i for r in recs for i in r.ids]
        per_seed.append(
            ldl_metrics(np.array([p for r in recs for p in r.proba]), d.soft[[row[i] for i in ids]])
        )
    return Ldl(
        *(summary([m[k] for m in per_seed]) for k in ("kl", "chebyshev", "cosine", "intersection"))
    )


def timing(
    records: list[FoldRecord],
    todo: list,
    prev: BenchResult | None,
    d: Dataset,
    wall: float,
    train_s: float,
) -> Timing:
    """A resumed run reports its own wall time and keeps the history of the invocations whose
    folds it reuses, so the cost of the whole result is never lost (``wall_s_total``)."""
    history = prev.timing.invocations if (prev is not None and len(records) > len(todo)) else []
    history = history + [
        Invocation(wall, len(todo), len(records) - len(todo), time.strftime("%Y-%m-%dT%H:%M:%S"))
    ]
    return Timing(
        wall,
        round(sum(h.wall_s for h in history), 2),
        history,
        d.extract_s,
        train_s,
        round(sum(r.fit_s for r in records), 2),
        d.extracted,
        d.cached,
        len(d.failed),
    )


AUGMENT_NOTES = {
    "eam": "EAM bank: mixed waveforms re-encoded by the frozen frontend once per seed and cached; "
    "partners from the "
    "fit speakers of each fold only",
    "covada": "CO-VADA-style: voice-altered copies (Praat Change gender across the median-F0 "
    "split, direction from the "
    "speaker's median F0; no demographic labels) of the training clips a first model got right "
    "most "
    "confidently; a second model trains with them",
    "noise": "white / pink noise copies of the training clips at SNR ~ U[snr_low, snr_high] dB",
    "domain": "copies of the training clips with what differs between corpora changed (speed "
    "0.9-1.1, pitch +-2 semitones, gain +-6 dB, each p 0.5; one of none / telephone / reverb "
    "RT60 0.2-0.7 s / shelf EQ +-6 dB / noise SNR 10-30 dB), standardised with their clip's "
    "clean statistics; the same copies for every seed",
}


def augment_record(
    cfg: ExperimentConfig, bank_stats: list[BankStats], prev: BenchResult | None
) -> AugmentRecord:
    """Bank statistics per seed; a re-run that only loaded a seed's cached bank keeps the record
    of the run that encoded it."""
    banks = {
        b.seed: b
        for b in (prev.augment.banks if prev is not None and prev.augment is not None else [])
    }
    banks.update({b.seed: b for b in bank_stats if b.encoded > 0 or b.seed not in banks})
    note = AUGMENT_NOTES.get(cfg.augment.name, "")
    if cfg.augment.name == "covada":
        note = note.replace(
            "confidently;", f"confidently (augment.select_frac = {cfg.augment.select_frac});"
        )
    return AugmentRecord(
        cfg.augment,
        sorted(banks.values(), key=lambda b: b.seed),
        round(sum(b.seconds for b in banks.values()), 2),
        note,
    )
