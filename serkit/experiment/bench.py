"""``serkit bench``: a full cross-validated experiment, resumable fold by fold.

For every seed and fold: carve validation speakers out of the training fold, fit the model
(model selection sees validation speakers only), predict the test fold, save the fold's
record atomically. Finished folds are skipped on a re-run with the same experiment config.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serkit.core.config import dump_yaml, to_dict
from serkit.core.cost import CLIP_S, Cost
from serkit.core.errors import SerkitError
from serkit.core.io import seed_everything
from serkit.data.protocols import Fold, make_folds
from serkit.estimators import FitReport, build_model
from serkit.experiment.config import ExperimentConfig, RunConfig
from serkit.experiment.dataset import Dataset, fit_val_split, load_dataset
from serkit.experiment.executor import run_tasks
from serkit.experiment.metrics import classification_metrics, mean_std
from serkit.nn.multimodal import Bimodal
from serkit.experiment.results import SCHEMA_VERSION, BenchResult, FoldRecord, MetricSummary, Timing


@dataclass
class FoldContext:
    """What every fold worker shares (forked: read, never pickled)."""

    cfg: ExperimentConfig
    data: Dataset
    folds: list[Fold]
    fold_dir: Path
    fingerprint: str
    bank: dict | None = None
    pools: object | None = None  # serkit.features.corrupted.Pools when test_corruptions are scored


def _variants(ctx: FoldContext, idx: list[int], partners: list[int]):
    """EAM variants of utterances ``idx`` whose partner is among ``partners`` (never test audio)."""
    if ctx.bank is None:
        return None
    from serkit.training.augment import usable_variants

    d = ctx.data
    return usable_variants(ctx.bank, [d.utts[i].id for i in idx], [d.utts[i].id for i in partners],
                           {u.id: int(y) for u, y in zip(d.utts, d.y)}, len(d.labels))


def run_fold(ctx: FoldContext, task: tuple[int, int]) -> FoldRecord:
    """Fit and test one (seed, fold); the record is written to ``fold_dir`` atomically."""
    seed, fold_i = task
    fold, d = ctx.folds[fold_i], ctx.data
    seed_everything(seed)
    fit_idx, val_idx = fit_val_split(d.utts, fold.train, seed, ctx.cfg)
    model = build_model(ctx.cfg.model, len(d.labels), d.n_layers, d.dim)
    t0 = time.time()
    if ctx.cfg.augment.name == "covada":
        model, report = _fit_covada(ctx, model, fit_idx, val_idx, seed)
    else:
        # augmented variants: partners from the fit speakers only (validation variants, used only
        # by a refit on train + validation, may also take validation partners); never the test fold
        report = model.fit(d.split(fit_idx, _variants(ctx, fit_idx, fit_idx)),
                           d.split(val_idx, _variants(ctx, val_idx, fit_idx + val_idx)) if val_idx else None, seed)
    fit_s = time.time() - t0
    temperature = None
    if val_idx:  # calibration: temperature fitted on the validation speakers' predictions only
        from serkit.core.calibration import fit_temperature

        temperature = fit_temperature(model.validation_proba(d.split(val_idx)), d.y[val_idx])
    test = d.split(fold.test, shuffle_text_seed=seed if ctx.cfg.text_shuffle_test else None)
    proba = model.predict_proba(test.feats)
    adapted = _adapted(ctx, model, fold.test, test.ids, seed) if ctx.cfg.adapt_clips else None
    probes = _modality_probes(model, test, seed) if d.text is not None and len(model.uses) > 1 else None
    corrupted = _corrupted_proba(ctx, model, fold.test) if ctx.cfg.test_corruptions else None
    durations = [d.utts[i].duration for i in fold.test]
    rec = FoldRecord(seed, fold.name, ctx.fingerprint, test.ids, proba.round(6).tolist(), report.to_dict(),
                     round(fit_s, 3), model.cost(test.feats, durations).to_dict(), len(fit_idx), len(val_idx),
                     d.speakers(val_idx), model.spike_stats(test.feats), temperature, adapted,
                     model.cost_parts(test.feats, durations), probes, corrupted)
    rec.save(ctx.fold_dir)
    return rec


def _fit_covada(ctx: FoldContext, model, fit_idx: list[int], val_idx: list[int], seed: int):
    """CO-VADA-style debiasing inside one training fold: a first model is fitted on the clean
    clips; the ``augment.select_frac`` share of training clips (fit + validation) it gets right
    with the highest confidence (the bias-aligned ones, whose cues it learned most easily) get
    their voice-altered copies (bank variants of their own audio); a second model, from the
    same seed, trains with them. No demographic label is read; test clips are never altered."""
    d, cfg = ctx.data, ctx.cfg.augment
    first = model.fit(d.split(fit_idx), d.split(val_idx) if val_idx else None, seed)
    train_idx = fit_idx + val_idx
    p = model.predict_proba(d.split(train_idx).feats)
    y = d.y[train_idx]
    conf = p[np.arange(len(y)), y]
    right = np.flatnonzero(p.argmax(1) == y)
    k = int(round(cfg.select_frac * len(train_idx)))
    chosen = {train_idx[j] for j in right[np.argsort(-conf[right], kind="stable")][:k]}

    def variants(idx):
        vs = _variants(ctx, idx, idx)
        return [v if i in chosen else [] for i, v in zip(idx, vs)]

    second = build_model(ctx.cfg.model, len(d.labels), d.n_layers, d.dim)
    report = second.fit(d.split(fit_idx, variants(fit_idx)), d.split(val_idx, variants(val_idx)) if val_idx else None, seed)
    report.debias = {"method": "covada", "selected": len(chosen), "of": len(train_idx),
                     "selected_speakers": len({d.utts[i].speaker for i in chosen}),
                     "first_model_best_epoch": first.train.best_epoch if first.train else None}
    return second, report


def _corrupted_proba(ctx: FoldContext, model, test_idx: list[int]) -> dict[str, list[list[float]]]:
    """Test probabilities of the fold's model (trained on clean clips) on each corrupted copy
    of its test clips (features from the cache, see :func:`serkit.features.corrupted.extract_corrupted`)."""
    from serkit.features.corrupted import load_corrupted

    d = ctx.data
    return {spec: model.predict_proba([load_corrupted(d.frontend, d.cache, d.utts[i], spec, ctx.pools)
                                       for i in test_idx]).round(6).tolist()
            for spec in ctx.cfg.test_corruptions}


PROBES = {
    "text_shuffled": "the test transcripts permuted among the fold's test utterances (permutation drawn with the "
                     "seed): how much the model leans on the words",
    "no_text": "every test transcript removed: the audio alone at inference",
    "no_audio": "every test clip's audio removed (the text-only placeholder): the words alone at inference",
}


def _modality_probes(model, test, seed: int) -> dict[str, list[list[float]]]:
    """Test probabilities of the same fitted multimodal model with one modality altered
    (:data:`PROBES`); costs nothing to train, so every multimodal fold records them."""
    items = test.feats
    perm = np.random.default_rng(seed).permutation(len(items))
    variants = {
        "text_shuffled": [Bimodal(b.audio, items[j].text, b.has_audio, b.text_dim) for b, j in zip(items, perm)],
        "no_text": [Bimodal(b.audio, None, b.has_audio, b.text_dim) for b in items],
        "no_audio": [Bimodal(np.zeros((b.audio.shape[0], 1, b.audio.shape[2]), np.float32), b.text, False, b.text_dim)
                     for b in items],
    }
    return {k: model.predict_proba(v).round(6).tolist() for k, v in variants.items()}


def _adapted(ctx: FoldContext, model, test_idx: list[int], test_ids: list[str], seed: int) -> dict:
    """Test probabilities after unsupervised adaptation (:meth:`Model.adapt`) to each test
    corpus, with ``k`` of its clips (drawn with ``seed``; 0 = all), per ``cfg.adapt_clips``."""
    import copy

    d = ctx.data
    by_corpus: dict[str, list[int]] = {}
    for j, i in enumerate(test_idx):
        by_corpus.setdefault(d.utts[i].corpus, []).append(j)
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {}
    for k in ctx.cfg.adapt_clips:
        proba = np.zeros((len(test_idx), len(d.labels)))
        for _c, js in sorted(by_corpus.items()):
            pick = js if k == 0 or k >= len(js) else sorted(rng.choice(js, size=k, replace=False).tolist())
            m = copy.deepcopy(model)
            m.adapt([d.feats[d.utts[test_idx[j]].id] for j in pick])
            proba[js] = m.predict_proba([d.feats[d.utts[test_idx[j]].id] for j in js])
        out[f"adapt{k or 'all'}"] = proba.round(6).tolist()
    return out


def _finished(fold_dir: Path, seeds, folds, fingerprint: str) -> tuple[list[FoldRecord], list[tuple[int, int]]]:
    """Records of finished folds with this fingerprint, and the (seed, fold index) still to run
    (absent, damaged or another experiment's)."""
    records, todo = [], []
    for s in seeds:
        for i, f in enumerate(folds):
            rec = FoldRecord.load(fold_dir / f"seed{s}_{f.name}.json")
            if rec is not None and rec.fingerprint == fingerprint:
                records.append(rec)
            else:
                todo.append((s, i))
    return records, todo


def _check_folder(out: Path) -> None:
    p = out / "results.json"
    if p.exists():
        try:
            version = json.loads(p.read_text()).get("schema_version")
        except (json.JSONDecodeError, AttributeError):
            version = "unreadable"
        if version != SCHEMA_VERSION:
            raise SerkitError(f"{out}: holds results of another serkit (schema {version!r}); "
                              "use a new --out folder (or delete this one) to run again")


def _run_folds(ctx: FoldContext, todo, run: RunConfig) -> tuple[list[FoldRecord], list[dict]]:
    """Run the folds still to do; with augmentation one seed's bank at a time (it is large;
    workers fork after it is built). Returns (records, bank statistics)."""
    from tqdm.auto import tqdm

    records, bank_stats = [], []
    bar = tqdm(total=len(todo), desc=f"{ctx.cfg.model.name} {ctx.cfg.protocol}", disable=not run.progress or not todo,
               unit="fold")
    aug = ctx.cfg.augment
    groups = [[t for t in todo if t[0] == s] for s in ctx.cfg.seed_list] if aug.name != "none" else [todo]
    for group in (g for g in groups if g):
        if aug.name != "none":
            from serkit.training.augment import build_bank

            d = ctx.data
            ctx.bank, st = build_bank(d.utts, d.frontend, aug, seed=group[0][0], cache=d.cache,
                                      progress=run.progress)
            bank_stats.append({"seed": group[0][0], **st})
            if d.normalizer is not None:  # a variant is normalised with its target speaker's clean statistics
                d.normalizer.transform_bank(ctx.bank, {u.id: u.speaker for u in d.utts})
        for rec in run_tasks(run_fold, ctx, group, run.jobs):
            records.append(rec)
            bar.update()
        ctx.bank = None
    bar.close()
    return records, bank_stats


def run_bench(cfg: ExperimentConfig, out: str | Path, run: RunConfig | None = None, log=print) -> BenchResult:
    """Run (or resume) ``cfg`` into ``out``: results.json, predictions.csv, config.yaml,
    report.md, confusion.png and one record per (seed, fold) under ``folds/``."""
    run = run or RunConfig()
    out = Path(out)
    t_start = time.time()
    _check_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset(cfg, run, log, skipped_file=out / "skipped.txt")
    fingerprint = cfg.fingerprint(data.frontend.spec())
    dump_yaml({**cfg.to_dict(), "frontend_spec": data.frontend.spec(), "fingerprint": fingerprint}, out / "config.yaml")
    ctx = FoldContext(cfg, data, make_folds(data.utts, cfg.protocol), out / "folds", fingerprint)
    ctx.fold_dir.mkdir(exist_ok=True)
    records, todo = _finished(ctx.fold_dir, cfg.seed_list, ctx.folds, fingerprint)
    corruption_stats = _prepare_corruptions(ctx, run, log) if cfg.test_corruptions else None
    if records:
        log(f"resuming: {len(records)} finished fold(s) reused, {len(todo)} to run")
    t1 = time.time()
    new, bank_stats = _run_folds(ctx, todo, run)
    records += new
    res = aggregate(records, ctx, out)
    prev = BenchResult.load(out) if (out / "results.json").exists() else None
    res.timing = _timing(records, todo, prev, data, round(time.time() - t_start, 2), round(time.time() - t1, 2))
    if cfg.augment.name != "none":
        res.augment = _augment_record(cfg, bank_stats, prev)
    if res.robustness is not None and corruption_stats is not None:
        res.robustness["extraction"] = corruption_stats
    res.latency_ms_per_clip, res.latency_head_ms, res.latency_protocol = measure_latency(cfg, data)
    res.save(out / "results.json")
    from serkit.experiment.report import write_report

    write_report(res, out)
    return res


def _prepare_corruptions(ctx: FoldContext, run: RunConfig, log) -> dict:
    """Build the babble / noise pools (babble speakers never among this experiment's) and
    encode every clip's corrupted copies once (cached)."""
    from serkit.data.manifest import read_manifests
    from serkit.features.corrupted import Pools, extract_corrupted

    d, cfg = ctx.data, ctx.cfg
    if cfg.normalize != "none" or d.text is not None:
        raise SerkitError("test_corruptions: only for audio-only models without speaker/corpus normalisation")
    own = {u.speaker for u in d.utts}
    ctx.pools = Pools.from_sources(read_manifests(cfg.babble) if cfg.babble else [], cfg.noise_dir,
                                   d.frontend.sample_rate or 16000, own)
    log(f"corruptions: {len(cfg.test_corruptions)} condition(s); babble pool {len(ctx.pools.babble)} clips of other "
        f"speakers, noise pool {len(ctx.pools.noise)} recordings")
    return extract_corrupted(d.frontend, d.utts, cfg.test_corruptions, d.cache, ctx.pools, run.progress)


def _timing(records, todo, prev: BenchResult | None, data: Dataset, wall: float, train_s: float) -> Timing:
    """A resumed run reports its own wall time and keeps the history of the invocations whose
    folds it reuses, so the cost of the whole result is never lost (``wall_s_total``)."""
    history = prev.timing.invocations if (prev is not None and len(records) > len(todo)) else []
    history = history + [{"wall_s": wall, "folds_run": len(todo), "folds_reused": len(records) - len(todo),
                          "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}]
    return Timing(wall, round(sum(h["wall_s"] for h in history), 2), history, data.extract_s, train_s,
                  round(sum(r.fit_s for r in records), 2), data.extracted, data.cached, len(data.failed))


def _augment_record(cfg: ExperimentConfig, bank_stats: list[dict], prev: BenchResult | None) -> dict:
    """Bank statistics per seed; a re-run that only loaded a seed's cached bank keeps the record
    of the run that encoded it."""
    from serkit.core.config import to_dict

    banks = {b["seed"]: b for b in ((prev.augment or {}).get("banks", []) if prev else [])}
    banks.update({b["seed"]: b for b in bank_stats if b.get("encoded", 0) > 0 or b["seed"] not in banks})
    return {**to_dict(cfg.augment), "banks": sorted(banks.values(), key=lambda b: b["seed"]),
            "bank_encoder_s_total": round(sum(b["seconds"] for b in banks.values()), 2),
            "note": {"eam": "EAM bank: mixed waveforms re-encoded by the frozen frontend once per seed "
                             "and cached; partners from the fit speakers of each fold only",
                     "covada": "CO-VADA-style: voice-altered copies (Praat Change gender across the median-F0 split, "
                               "direction from the speaker's median F0; no demographic labels) of the training clips a first model got right most confidently "
                               f"(augment.select_frac = {cfg.augment.select_frac}); a second model trains with them",
                     "noise": "white / pink noise copies of the training clips at SNR ~ U[snr_low, snr_high] dB"
                     }.get(cfg.augment.name, "")}


def _write_predictions(records, ctx: FoldContext, out: Path) -> None:
    from serkit.core.io import atomic_write_text

    labels, by_id = ctx.data.labels, {u.id: u for u in ctx.data.utts}
    rows = [(i, r.fold, r.seed, by_id[i].label, labels[int(np.argmax(p))], p)
            for r in records for i, p in zip(r.ids, r.proba)]
    header = "id,fold,seed,truth,prediction," + ",".join(f"p_{lab}" for lab in labels) + "\n"
    body = "".join(f"{i},{f},{s},{t},{p}," + ",".join(f"{x:.6f}" for x in pr) + "\n"
                   for i, f, s, t, p, pr in sorted(rows, key=lambda r: (r[2], r[0])))
    atomic_write_text(out / "predictions.csv", header + body)


METRIC_DEFINITIONS = {
    "ua": "balanced accuracy (mean per-class recall) over pooled out-of-fold predictions of one seed",
    "wa": "accuracy over pooled out-of-fold predictions",
    "f1": "macro F1 over pooled out-of-fold predictions",
    "std": "sample standard deviation over seeds (ddof=1)",
    "cost": "per 3 s clip; head operations counted on up to 32 test clips per fold (forward hooks, spikes), "
            "averaged over folds and seeds; encoder MACs analytic",
}


def _seed_metrics(records: list[FoldRecord], d: Dataset, cfg: ExperimentConfig, proba_of=lambda r: r.proba) -> list[dict]:
    """Per seed, the classification metrics of its pooled out-of-fold predictions
    (``proba_of(record)``: which probabilities of a record to score)."""
    idx = {u.id: int(y) for u, y in zip(d.utts, d.y)}
    out = []
    for s in cfg.seed_list:
        recs = [r for r in records if r.seed == s]
        ids = [i for r in recs for i in r.ids]
        pred = np.array([p for r in recs for p in proba_of(r)]).argmax(1)
        out.append(classification_metrics(np.array([idx[i] for i in ids]), pred, len(d.labels)))
    return out


def aggregate(records: list[FoldRecord], ctx: FoldContext, out: Path) -> BenchResult:
    """Pool each seed's out-of-fold predictions into metrics; average costs over folds."""
    d, cfg = ctx.data, ctx.cfg
    per_seed = _seed_metrics(records, d, cfg)
    _write_predictions(records, ctx, out)
    costs = [Cost.from_dict(r.cost) for r in records]
    uses = build_model(cfg.model, len(d.labels), d.n_layers, d.dim).uses
    cost = Cost(costs[0].params_trainable, *(int(np.mean([getattr(c, k) for c in costs]))
                                             for k in ("macs_head", "acs_head", "sops_head")),
                d.encoder_macs(CLIP_S) if "audio" in uses else 0, CLIP_S,
                d.dsp_macs(CLIP_S) if "audio" in uses else None)
    summary = {k: _summary([m[k] for m in per_seed]) for k in ("ua", "wa", "f1")}
    defs = dict(METRIC_DEFINITIONS, model_selection=f"validation speakers ({cfg.val_fraction:.0%} of each training "
                "fold's speakers, drawn per seed); test folds never used")
    if cfg.normalize == "corpus":
        defs["normalize"] = ("corpus: every corpus's frame features z-scored with that corpus's own mean/std over all of "
                             "its utterances (no labels; transductive for the test corpus)")
    if cfg.normalize == "speaker":
        defs["normalize"] = ("speaker: every speaker's frame features z-scored with that speaker's own mean/std over "
                             "all of their utterances (no labels; transductive for test speakers)")
    res = BenchResult(
        corpus=",".join(sorted({u.corpus for u in d.utts})), protocol=cfg.protocol, normalize=cfg.normalize,
        fold_names=[f.name for f in ctx.folds], seeds=cfg.seed_list, n_utterances=len(d.utts),
        n_speakers=len({u.speaker for u in d.utts}), labels=d.labels, model=cfg.model.name,
        frontend=cfg.frontend.name, **summary,
        per_class_recall={lab: round(float(v), 4) for lab, v in
                          zip(d.labels, np.mean([m["per_class_recall"] for m in per_seed], axis=0))},
        confusion_matrix=np.sum([m["confusion"] for m in per_seed], axis=0).astype(int).tolist(),
        cost=cost, metric_definitions=defs)
    _corpus_summary(res, records, d, cfg)
    _calibration_summary(res, records, d, cfg)
    _adaptation_summary(res, records, d, cfg)
    _layer_summary(res, [r.fit_report for r in records], d.frontend.layer_names)
    _spike_summary(res, [r.spike_stats for r in records if r.spike_stats])
    _text_summary(res, records, d, cfg, uses)
    if len(uses) > 1:
        _probe_summary(res, records, d, cfg)
    if cfg.test_corruptions:
        _robustness_summary(res, records, d, cfg)
    if d.soft is not None:
        _ldl_summary(res, records, d, cfg)
    if "audio" not in uses:
        res.metric_definitions["encoder"] = "this variant reads no audio: the speech encoder is not counted"
    return res


def _probe_summary(res: BenchResult, records: list[FoldRecord], d: Dataset, cfg: ExperimentConfig) -> None:
    """UA / WA / F1 (mean +- std over seeds) of each modality probe, beside the intact test."""
    if not records or any(not r.probes for r in records):
        return
    res.probes = {}
    for key in records[0].probes:
        per_seed = _seed_metrics(records, d, cfg, lambda r, key=key: r.probes[key])
        res.probes[key] = {k: to_dict(_summary([m[k] for m in per_seed])) for k in ("ua", "wa", "f1")}
    res.metric_definitions["probes"] = "; ".join(f"{k}: {v}" for k, v in PROBES.items()) + \
        " (the same fitted models, scored like the headline)"


def _ldl_summary(res: BenchResult, records: list[FoldRecord], d: Dataset, cfg: ExperimentConfig) -> None:
    """Label-distribution measures (KL, Chebyshev, cosine, intersection) of each seed's pooled
    out-of-fold probabilities against the manifest's distributions, mean +- std over seeds."""
    from serkit.experiment.metrics import ldl_metrics

    row = {u.id: i for i, u in enumerate(d.utts)}
    per_seed = []
    for s in cfg.seed_list:
        recs = [r for r in records if r.seed == s]
        ids = [i for r in recs for i in r.ids]
        per_seed.append(ldl_metrics(np.array([p for r in recs for p in r.proba]), d.soft[[row[i] for i in ids]]))
    res.ldl = {k: to_dict(_summary([m[k] for m in per_seed])) for k in per_seed[0]}
    res.metric_definitions["ldl"] = ("label-distribution learning: predicted probabilities against the manifest's "
                                     "label_dist (one-hot where absent); kl and chebyshev lower is better, cosine and "
                                     "intersection higher")


def _robustness_summary(res: BenchResult, records: list[FoldRecord], d: Dataset, cfg: ExperimentConfig) -> None:
    """UA / WA / F1 (mean +- std over seeds) on each corrupted copy of the test clips."""
    if not records or any(not r.corrupted for r in records):
        return
    res.robustness = {"conditions": {}}
    for key in cfg.test_corruptions:
        per_seed = _seed_metrics(records, d, cfg, lambda r, key=key: r.corrupted[key])
        res.robustness["conditions"][key] = {k: to_dict(_summary([m[k] for m in per_seed])) for k in ("ua", "wa", "f1")}
    res.metric_definitions["robustness"] = (
        "each fold's model, trained on clean clips, scored on corrupted copies of its test clips "
        "(serkit.audio.corrupt; one fixed corruption seed per clip and condition, the same for every model and seed; "
        "babble from other corpora's speakers only)")


def _text_summary(res: BenchResult, records: list[FoldRecord], d: Dataset, cfg: ExperimentConfig,
                  uses: tuple[str, ...] = ("audio", "text")) -> None:
    """Multimodal runs: head operations and energy per part (mean over folds), the text
    encoder's cost per 3 s clip from the real token counts, and what the transcripts were."""
    from serkit.core.cost import energy_mj

    parts = [r.cost_parts for r in records if r.cost_parts]
    if parts:
        res.cost_parts = {k: {m: (round(float(np.mean([p[k][m] for p in parts])), 6) if m == "energy_mj"
                                  else int(np.mean([p[k][m] for p in parts]))) for m in parts[0][k]}
                          for k in parts[0]}
    if d.text is None:
        return
    macs = d.text_encoder_macs(list(range(len(d.utts))), CLIP_S) if "text" in uses else 0
    res.text = {"read": "text" in uses, "encoder": d.text_encoder.spec(), "with_transcript": len(d.utts) - d.text.missing,
                "missing": d.text.missing, "truncated": d.text.truncated, "tokens_mean": d.text.tokens_mean,
                "unk_frac_mean": d.text.unk_frac_mean, "encoder_macs": macs, "encoder_mj": round(energy_mj(macs), 4),
                "shuffled_test": cfg.text_shuffle_test}
    res.metric_definitions["text"] = (f"transcripts from the manifest's text field, token states of "
                                      f"{d.text_encoder.spec()['weights']} layer {cfg.text.layer}"
                                      + ("; test transcripts permuted among each fold's test utterances "
                                         "(reliance diagnostic)" if cfg.text_shuffle_test else ""))


def _calibration_summary(res: BenchResult, records: list[FoldRecord], d: Dataset, cfg: ExperimentConfig) -> None:
    """ECE of the test predictions as the model gives them and after each fold's temperature
    (fitted on that fold's validation speakers), per seed; reliability bins and the selective
    accuracy-versus-coverage curve of the calibrated predictions (all seeds pooled); per test
    corpus when there are several."""
    from serkit.core.calibration import apply_temperature, reliability, selective_curve

    if not records or any(r.temperature is None for r in records):
        return
    idx = {u.id: int(y) for u, y in zip(d.utts, d.y)}
    corpus = {u.id: u.corpus for u in d.utts}
    raw, cal, ys, cs = [], [], [], []
    before, after = [], []
    for s in cfg.seed_list:
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
    q, y, cs = np.concatenate(cal), np.concatenate(ys), np.array(cs)
    res.calibration = {
        "ece_before": to_dict(_summary(before)), "ece_after": to_dict(_summary(after)),
        "temperature_mean": round(float(np.mean([r.temperature for r in records])), 4),
        "reliability_after": reliability(q, y), "reliability_before": reliability(np.concatenate(raw), y),
        "selective": selective_curve(q, y)}
    if len(set(cs)) > 1:
        res.calibration["per_corpus"] = {c: {"ece_before": reliability(np.concatenate(raw)[cs == c], y[cs == c])["ece"],
                                             "ece_after": reliability(q[cs == c], y[cs == c])["ece"]}
                                         for c in sorted(set(cs))}
    res.metric_definitions["calibration"] = (
        "ECE: 10 equal-width bins of top-1 confidence, sum of |accuracy - confidence| weighted by bin share; "
        "'after': each fold's test probabilities with the temperature fitted (NLL) on that fold's validation "
        "speakers; selective: accuracy/UA of the most confident share of clips (calibrated, all seeds pooled)")


def _per_corpus(records: list[FoldRecord], d: Dataset, cfg: ExperimentConfig, proba_of=lambda r: r.proba
                ) -> dict[str, dict[str, list[float]]]:
    """``{corpus: {ua|wa|f1: [one value per seed]}}`` over the test clips of each corpus, each
    seed's predictions pooled (``proba_of(record)``: which probabilities of a record to score)."""
    corpus = {u.id: u.corpus for u in d.utts}
    idx = {u.id: int(y) for u, y in zip(d.utts, d.y)}
    names = sorted({corpus[i] for r in records for i in r.ids})
    per: dict[str, dict[str, list[float]]] = {c: {"ua": [], "wa": [], "f1": []} for c in names}
    for s in cfg.seed_list:
        pairs = [(i, p) for r in records if r.seed == s for i, p in zip(r.ids, proba_of(r))]
        for c in names:
            sub = [(idx[i], int(np.argmax(p))) for i, p in pairs if corpus[i] == c]
            m = classification_metrics(np.array([a for a, _ in sub]), np.array([b for _, b in sub]), len(d.labels))
            for k in ("ua", "wa", "f1"):
                per[c][k].append(m[k])
    return per


def _summary(vals: list[float]) -> MetricSummary:
    return MetricSummary(*(round(v, 4) for v in mean_std(vals)), [round(v, 4) for v in vals])


def _corpus_mean(per: dict[str, dict[str, list[float]]], n_seeds: int) -> MetricSummary:
    """Per seed, the unweighted mean of the corpora's UA; over seeds, its summary."""
    return _summary([float(np.mean([m["ua"][j] for m in per.values()])) for j in range(n_seeds)])


def _adaptation_summary(res: BenchResult, records: list[FoldRecord], d: Dataset, cfg: ExperimentConfig) -> None:
    """UA per test corpus (and the mean over corpora) of the adapted predictions, per variant."""
    if not cfg.adapt_clips or any(not r.adapted for r in records):
        return
    res.adaptation = {}
    for key in records[0].adapted:
        per = _per_corpus(records, d, cfg, lambda r, key=key: r.adapted[key])
        res.adaptation[key] = {"per_corpus": {c: to_dict(_summary(m["ua"])) for c, m in per.items()},
                               "ua_corpus_mean": to_dict(_corpus_mean(per, len(cfg.seed_list)))}
    res.metric_definitions["adaptation"] = (
        "adaptK: the fold's model with its input standardisation re-estimated from K unlabelled clips of each test "
        "corpus (drawn per seed; all = every clip), then scored on all of that corpus's test clips (transductive, "
        "no labels)")


def _corpus_summary(res: BenchResult, records: list[FoldRecord], d: Dataset, cfg: ExperimentConfig) -> None:
    """With test clips from several corpora: UA / WA / F1 per test corpus (each seed's pooled
    predictions on that corpus; classes absent from a corpus do not enter its UA) and their
    unweighted mean over corpora, the cross-corpus headline (a large corpus cannot dominate it)."""
    per = _per_corpus(records, d, cfg)
    if len(per) < 2:
        return
    res.per_corpus = {c: {k: _summary(vals) for k, vals in m.items()} for c, m in per.items()}
    res.ua_corpus_mean = _corpus_mean(per, len(cfg.seed_list))
    res.metric_definitions["per_corpus"] = ("UA/WA/F1 of each seed's predictions on one test corpus (UA over the "
                                            "classes that corpus has); ua_corpus_mean = their unweighted mean")


def _layer_summary(res: BenchResult, fits: list[FitReport], names: list[str]) -> None:
    if fits and fits[0].layer_weights is not None:
        res.layer_weights_mean = np.mean([f.layer_weights for f in fits], axis=0).round(4).tolist()
        res.layer_names = names
    if fits and fits[0].layer is not None:
        res.layer_chosen_counts = dict(Counter(str(f.layer) for f in fits))
        res.layer_names = names


def _spike_summary(res: BenchResult, stats: list[dict]) -> None:
    if stats:
        res.spike_stats = {layer: {k: round(float(np.mean([st[layer][k] for st in stats])), 4)
                                   for k in ("rate", "silent", "saturated")} for layer in stats[0]}
        res.metric_definitions["spike_stats"] = (
            "per spiking layer: mean firing rate over steps and neurons; silent = share of neurons firing < 1% of "
            "steps, saturated > 99%; averaged over folds/seeds (up to 32 test clips per fold)")


def measure_latency(cfg: ExperimentConfig, data: Dataset, n: int = 10) -> tuple[float, float, str]:
    """CPU latency for one 3 s clip (one torch thread): frontend + head, and head alone (median
    ms). The model is fitted on a few noisy copies of the clip's features: an untrained model
    of the same shape costs the same time."""
    import torch

    from serkit.audio.synth import tone_clip
    from serkit.estimators import Split

    torch.set_num_threads(1)
    sr = data.frontend.sample_rate or 16000
    wav = tone_clip(3.0, sr=sr)
    feats = data.frontend.extract(wav, sr)
    model = build_model(cfg.model, len(data.labels), feats.shape[0], feats.shape[2])
    rng = np.random.default_rng(0)
    toy = [feats + rng.normal(0, 0.1, feats.shape).astype(np.float32) for _ in range(2 * len(data.labels))]
    text = next((u.text for u in data.utts if u.text), None) if data.text is not None else None

    def item(f, t=None):  # a multimodal model reads the clip's transcript too
        if data.text is None:
            return f
        return Bimodal(f, t if t is not None else data.text_encoder.encode(text).states, True, data.text_encoder.dim)

    states = data.text_encoder.encode(text).states if data.text is not None else None
    toy = [item(f, states) for f in toy]
    toy_y = np.arange(len(toy)) % len(data.labels)
    model.fit(Split(toy, toy_y, [f"s{i % 2}" for i in range(len(toy))], [str(i) for i in range(len(toy))]), None, 0)
    t_full, t_head = [], []
    for _ in range(n):
        a = time.perf_counter()
        f = item(data.frontend.extract(wav, sr))  # (the text encoder runs here for a multimodal model)
        b = time.perf_counter()
        model.predict_proba([item(f.audio, states) if data.text is not None else f])
        c = time.perf_counter()
        t_full.append(c - a)
        t_head.append(c - b)
    return (round(1000 * float(np.median(t_full)), 2), round(1000 * float(np.median(t_head)), 3),
            "median of 10 runs, 3 s clip, 1 CPU thread, frontend + head (file read excluded)")
