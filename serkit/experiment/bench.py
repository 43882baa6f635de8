"""``serkit bench``: a full cross-validated experiment, resumable fold by fold.

For every seed and fold: carve validation speakers out of the training fold, fit the model
(model selection sees validation speakers only), predict the test fold, save the fold's
record atomically. Finished folds are skipped on a re-run with the same experiment config.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serkit.core.config import dump_yaml
from serkit.core.errors import ConfigError, SerkitError
from serkit.core.io import seed_everything
from serkit.data.protocols import Fold, make_folds
from serkit.estimators import build_model
from serkit.experiment.aggregate import aggregate, augment_record, timing
from serkit.experiment.config import ExperimentConfig, RunConfig
from serkit.experiment.dataset import Dataset, fit_val_split, load_dataset
from serkit.experiment.executor import run_tasks
from serkit.experiment.latency import measure_latency
from serkit.experiment.results import (
    SCHEMA_VERSION,
    BankStats,
    BenchResult,
    CorruptionStats,
    CostPart,
    FoldRecord,
    SpikeRates,
)
from serkit.nn.multimodal import Bimodal


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
    """Augmented variants of utterances ``idx`` whose partner is among ``partners``."""
    return None if ctx.bank is None else ctx.data.bank_variants(ctx.bank, idx, partners)


def run_fold(ctx: FoldContext, task: tuple[int, int]) -> FoldRecord:
    """Fit and test one (seed, fold); the record is written to ``fold_dir`` atomically."""
    seed, fold_i = task
    fold, d = ctx.folds[fold_i], ctx.data
    seed_everything(seed)
    fit_idx, val_idx = fit_val_split(d.utts, fold.train, seed, ctx.cfg)
    model = build_model(ctx.cfg.model, len(d.labels), d.n_layers, d.dim)
    if ctx.cfg.leaky_norm:  # LEAKY (issue 33): statistics of every clip, test folds included
        from serkit.estimators.torch_head import TorchHeadModel

        if not isinstance(model, TorchHeadModel):
            raise ConfigError(
                f"leaky_norm is for torch heads over frames (model {ctx.cfg.model.name!r} "
                "standardises otherwise)"
            )
        model.norm_source = [d.feats[u.id] for u in d.utts]
    t0 = time.time()
    val = None
    if ctx.cfg.augment.name == "covada":
        model, report = _fit_covada(ctx, model, fit_idx, val_idx, seed)
    else:
        # augmented variants: partners from the fit speakers only (validation variants, used only
        # by a refit on train + validation, may also take validation partners); never the test fold
        # (validation speakers are training speakers: standardised as the fit clips are)
        tn = ctx.cfg.train_norm
        val = (
            d.fit_split(val_idx, tn, _variants(ctx, val_idx, fit_idx + val_idx), fit_idx + val_idx)
            if val_idx
            else None
        )
        report = model.fit(
            d.fit_split(fit_idx, tn, _variants(ctx, fit_idx, fit_idx), fit_idx + val_idx), val, seed
        )
    fit_s = time.time() - t0
    temperature = None
    if val_idx:  # calibration: temperature fitted on the validation speakers' predictions only
        from serkit.core.calibration import fit_temperature

        vs = (  # (covada)
            val
            if val is not None
            else d.fit_split(val_idx, ctx.cfg.train_norm, pool=fit_idx + val_idx)
        )
        temperature = fit_temperature(model.validation_proba(vs), vs.labels)
    test = d.split(fold.test, shuffle_text_seed=seed if ctx.cfg.text_shuffle_test else None)
    proba = model.predict_proba(test.feats)
    adapted = _adapted(ctx, model, fold.test, test.ids, seed) if ctx.cfg.adapt_clips else None
    probes = (
        _modality_probes(model, test, seed) if d.text is not None and len(model.uses) > 1 else None
    )
    corrupted = _corrupted_proba(ctx, model, fold.test) if ctx.cfg.test_corruptions else None
    durations = [d.utts[i].duration for i in fold.test]
    spikes, parts = model.spike_stats(test.feats), model.cost_parts(test.feats, durations)
    rec = FoldRecord(
        seed=seed,
        fold=fold.name,
        fingerprint=ctx.fingerprint,
        ids=test.ids,
        proba=proba.round(6).tolist(),
        fit=report,
        fit_s=round(fit_s, 3),
        cost=model.cost(test.feats, durations),
        n_fit=len(fit_idx),
        n_val=len(val_idx),
        val_speakers=d.speakers(val_idx),
        uses=list(model.uses),
        spike_stats=None
        if spikes is None
        else {k: SpikeRates(v["rate"], v["silent"], v["saturated"]) for k, v in spikes.items()},
        temperature=temperature,
        adapted=adapted,
        cost_parts=None
        if parts is None
        else {k: CostPart(v["macs"], v["sops"], v["energy_mj"]) for k, v in parts.items()},
        probes=probes,
        corrupted=corrupted,
    )
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
    report = second.fit(
        d.split(fit_idx, variants(fit_idx)),
        d.split(val_idx, variants(val_idx)) if val_idx else None,
        seed,
    )
    report.debias = {
        "method": "covada",
        "selected": len(chosen),
        "of": len(train_idx),
        "selected_speakers": len({d.utts[i].speaker for i in chosen}),
        "first_model_best_epoch": first.train.best_epoch if first.train else None,
    }
    return second, report


def _corrupted_proba(ctx: FoldContext, model, test_idx: list[int]) -> dict[str, list[list[float]]]:
    """Test probabilities of the fold's model (trained on clean clips) on each corrupted copy
    of its test clips (features from the cache, see
    :func:`serkit.features.corrupted.extract_corrupted`)."""
    from serkit.features.corrupted import load_corrupted

    d = ctx.data
    return {
        spec: model.predict_proba(
            [load_corrupted(d.frontend, d.cache, d.utts[i], spec, ctx.pools) for i in test_idx]
        )
        .round(6)
        .tolist()
        for spec in ctx.cfg.test_corruptions
    }


def _modality_probes(model, test, seed: int) -> dict[str, list[list[float]]]:
    """Test probabilities of the same fitted multimodal model with one modality altered
    (:data:`PROBES`); costs nothing to train, so every multimodal fold records them."""
    items = test.feats
    perm = np.random.default_rng(seed).permutation(len(items))
    variants = {
        "text_shuffled": [
            Bimodal(b.audio, items[j].text, b.has_audio, b.text_dim) for b, j in zip(items, perm)
        ],
        "no_text": [Bimodal(b.audio, None, b.has_audio, b.text_dim) for b in items],
        "no_audio": [
            Bimodal(
                np.zeros((b.audio.shape[0], 1, b.audio.shape[2]), np.float32),
                b.text,
                False,
                b.text_dim,
            )
            for b in items
        ],
    }
    return {k: model.predict_proba(v).round(6).tolist() for k, v in variants.items()}


def _adapted(ctx: FoldContext, model, test_idx: list[int], test_ids: list[str], seed: int) -> dict:
    """Test probabilities after unsupervised adaptation (:meth:`Model.adapt`) to each test
    corpus, with ``k`` of its clips (drawn with ``seed``; 0 = all), per ``cfg.adapt_clips``.
    With ``normalize: corpus`` the adaptation is the corpus standardisation itself: see
    :func:`_corpus_norm_adapted`."""
    import copy

    d = ctx.data
    if ctx.cfg.normalize == "corpus":
        return _corpus_norm_adapted(ctx, model, test_idx, seed)
    by_corpus: dict[str, list[int]] = {}
    for j, i in enumerate(test_idx):
        by_corpus.setdefault(d.utts[i].corpus, []).append(j)
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {}
    for k in ctx.cfg.adapt_clips:
        proba = np.zeros((len(test_idx), len(d.labels)))
        for _c, js in sorted(by_corpus.items()):
            pick = (
                js
                if k == 0 or k >= len(js)
                else sorted(rng.choice(js, size=k, replace=False).tolist())
            )
            m = copy.deepcopy(model)
            m.adapt(
                [d.feats[d.utts[test_idx[j]].id] for j in pick],
                weight=_shrink(ctx.cfg, [d.utts[test_idx[j]] for j in pick]),
            )
            proba[js] = m.predict_proba([d.feats[d.utts[test_idx[j]].id] for j in js])
        out[f"adapt{k or 'all'}"] = proba.round(6).tolist()
    return out


def _balance(cfg, proba: np.ndarray, pick: list[int], w: float) -> np.ndarray:
    """``proba`` (one test corpus, adapted) with ``cfg.adapt_balance`` x ``w`` x the logit
    offsets that balance the answers on the adaptation clips (rows ``pick``)."""
    if not cfg.adapt_balance:
        return proba
    from serkit.core.calibration import balanced_proba, balancing_offsets

    with np.errstate(divide="ignore"):
        off = balancing_offsets(np.log(proba[pick]))
    return balanced_proba(proba, cfg.adapt_balance * w * off)


def _store(out: dict, cfg, key: str, proba: np.ndarray, plain: np.ndarray) -> None:
    """``out[key]``, and with ``adapt_balance`` the same adaptation without the offsets."""
    out[key] = proba.round(6).tolist()
    if cfg.adapt_balance:
        out[f"{key}_unbalanced"] = plain.round(6).tolist()


def _shrink(cfg, utts) -> float:
    """The weight of ``utts``' statistics in an adaptation: ``s / (s + cfg.adapt_half_s)``
    with ``s`` their seconds of audio (1 when ``adapt_half_s`` is 0)."""
    if cfg.adapt_half_s <= 0:
        return 1.0
    s = float(sum(u.duration or 0.0 for u in utts))
    return s / (s + cfg.adapt_half_s)


def _corpus_norm_adapted(ctx: FoldContext, model, test_idx: list[int], seed: int) -> dict:
    """``normalize: corpus`` (each corpus z-scored with its own frame statistics): the test
    corpus standardised NOT with all of its clips (the transductive headline) but with the
    statistics of ``k`` of its unlabelled clips (drawn with ``seed``; 0 = all), and with none
    of them (``adapt_none``: the mean of the training corpora's statistics), the model
    unchanged. Raw features come from the feature cache."""
    from serkit.features import SpeakerNormalizer, extract_features

    d, cfg = ctx.data, ctx.cfg
    by_corpus: dict[str, list[int]] = {}
    for j, i in enumerate(test_idx):
        by_corpus.setdefault(d.utts[i].corpus, []).append(j)
    raw = extract_features(d.frontend, [d.utts[i] for i in test_idx], d.cache).features
    # (no other corpus, e.g. a within-corpus protocol: None, no adapt_none)
    mean_stats = d.normalizer.mean_stats(exclude=set(by_corpus))
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {}
    for k in ([None] if mean_stats is not None else []) + list(cfg.adapt_clips):
        proba = np.zeros((len(test_idx), len(d.labels)))
        plain = proba.copy()
        for _c, js in sorted(by_corpus.items()):
            ids = [d.utts[test_idx[j]].id for j in js]
            norm, w, chosen = SpeakerNormalizer(), 0.0, set()
            if k is None:
                norm.stats["c"] = mean_stats
            else:
                pick = ids if k == 0 or k >= len(ids) else rng.choice(ids, size=k, replace=False)
                norm.fit([raw[i] for i in pick], ["c"] * len(pick))
                chosen = set(pick)
                w = _shrink(cfg, [d.utts[test_idx[j]] for j, i in zip(js, ids) if i in chosen])
                if mean_stats is not None and w < 1:  # toward the training corpora's, as adapt does
                    st = norm.stats["c"]
                    st.mean = w * st.mean + (1 - w) * mean_stats.mean
                    st.std = w * st.std + (1 - w) * mean_stats.std
            # float16, as the cache stores the headline's normalised features
            feats = [norm.transform(raw[i], "c").astype(np.float16) for i in ids]
            plain[js] = model.predict_proba(feats)
            rows = [n for n, i in enumerate(ids) if i in chosen]
            proba[js] = plain[js] if k is None else _balance(cfg, plain[js], rows, w)
        if k is None:
            out["adapt_none"] = proba.round(6).tolist()
        else:
            _store(out, cfg, f"adapt{k or 'all'}", proba, plain)
    return out


def _finished(
    fold_dir: Path, seeds, folds, fingerprint: str
) -> tuple[list[FoldRecord], list[tuple[int, int]]]:
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
            raise SerkitError(
                f"{out}: holds results of another serkit (schema {version!r}); "
                "use a new --out folder (or delete this one) to run again"
            )


def _bank_utts(ctx: FoldContext, group) -> list[int] | None:
    """The utterances (indices; ``None`` = all) whose augmented variants the folds of
    ``group`` can use. Per-clip transforms (``noise``, ``domain``) need only the fit and
    validation clips of these folds (with ``max_per_corpus`` a small share of the corpus);
    ``eam`` and ``covada`` plan over every utterance (partners, a speaker's F0), as always."""
    from serkit.training.augment import PER_CLIP

    d = ctx.data
    if ctx.cfg.augment.name not in PER_CLIP:
        return None
    need: set[int] = set()
    for seed, fold_i in group:
        fit_idx, val_idx = fit_val_split(d.utts, ctx.folds[fold_i].train, seed, ctx.cfg)
        need.update(fit_idx, val_idx)
    return sorted(need)


def _run_folds(ctx: FoldContext, todo, run: RunConfig) -> tuple[list[FoldRecord], list[BankStats]]:
    """Run the folds still to do; with augmentation one seed's bank at a time (it is large;
    workers fork after it is built). Returns (records, bank statistics)."""
    from tqdm.auto import tqdm

    records, bank_stats = [], []
    bar = tqdm(
        total=len(todo),
        desc=f"{ctx.cfg.model.name} {ctx.cfg.protocol}",
        disable=not run.progress or not todo,
        unit="fold",
    )
    aug = ctx.cfg.augment
    groups = (
        [[t for t in todo if t[0] == s] for s in ctx.cfg.seed_list]
        if aug.name != "none"
        else [todo]
    )
    for group in (g for g in groups if g):
        if aug.name != "none":
            ctx.bank, st = ctx.data.augment_bank(
                aug, group[0][0], _bank_utts(ctx, group), progress=run.progress
            )
            bank_stats.append(BankStats(seed=group[0][0], **st))
        for rec in run_tasks(run_fold, ctx, group, run.jobs):
            records.append(rec)
            bar.update()
        ctx.bank = None
    bar.close()
    return records, bank_stats


def run_bench(
    cfg: ExperimentConfig, out: str | Path, run: RunConfig | None = None, log=print
) -> BenchResult:
    """Run (or resume) ``cfg`` into ``out``: results.json, predictions.csv, config.yaml,
    report.md, confusion.png and one record per (seed, fold) under ``folds/``."""
    run = run or RunConfig()
    out = Path(out)
    t_start = time.time()
    _check_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset(cfg, run, log, skipped_file=out / "skipped.txt")
    fingerprint = cfg.fingerprint(data.frontend.spec())
    dump_yaml(
        {**cfg.to_dict(), "frontend_spec": data.frontend.spec(), "fingerprint": fingerprint},
        out / "config.yaml",
    )
    if cfg.train_norm != "same":  # per-speaker statistics once, before fold workers fork
        data.speaker_view()
    ctx = FoldContext(cfg, data, make_folds(data.utts, cfg.protocol), out / "folds", fingerprint)
    ctx.fold_dir.mkdir(exist_ok=True)
    records, todo = _finished(ctx.fold_dir, cfg.seed_list, ctx.folds, fingerprint)
    corruption_stats = _prepare_corruptions(ctx, run, log) if cfg.test_corruptions else None
    if records:
        log(f"resuming: {len(records)} finished fold(s) reused, {len(todo)} to run")
    t1 = time.time()
    new, bank_stats = _run_folds(ctx, todo, run)
    records += new
    _write_predictions(records, ctx, out)
    res = aggregate(records, cfg, data, ctx.folds)
    prev = BenchResult.load(out) if (out / "results.json").exists() else None
    res.timing = timing(
        records, todo, prev, data, round(time.time() - t_start, 2), round(time.time() - t1, 2)
    )
    if cfg.augment.name != "none":
        res.augment = augment_record(cfg, bank_stats, prev)
    if res.robustness is not None and corruption_stats is not None:
        res.robustness.extraction = {k: CorruptionStats(**v) for k, v in corruption_stats.items()}
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
        raise SerkitError(
            "test_corruptions: only for audio-only models without speaker/corpus normalisation"
        )
    own = {u.speaker for u in d.utts}
    ctx.pools = Pools.from_sources(
        read_manifests(cfg.babble) if cfg.babble else [],
        cfg.noise_dir,
        d.frontend.sample_rate or 16000,
        own,
    )
    log(
        f"corruptions: {len(cfg.test_corruptions)} condition(s); babble pool "
        f"{len(ctx.pools.babble)} clips of other "
        f"speakers, noise pool {len(ctx.pools.noise)} recordings"
    )
    return extract_corrupted(
        d.frontend, d.utts, cfg.test_corruptions, d.cache, ctx.pools, run.progress
    )


def _write_predictions(records, ctx: FoldContext, out: Path) -> None:
    from serkit.core.io import atomic_write_text

    labels, by_id = ctx.data.labels, {u.id: u for u in ctx.data.utts}
    rows = [
        (i, r.fold, r.seed, by_id[i].label, labels[int(np.argmax(p))], p)
        for r in records
        for i, p in zip(r.ids, r.proba)
    ]
    header = "id,fold,seed,truth,prediction," + ",".join(f"p_{lab}" for lab in labels) + "\n"
    body = "".join(
        f"{i},{f},{s},{t},{p}," + ",".join(f"{x:.6f}" for x in pr) + "\n"
        for i, f, s, t, p, pr in sorted(rows, key=lambda r: (r[2], r[0]))
    )
    atomic_write_text(out / "predictions.csv", header + body)
