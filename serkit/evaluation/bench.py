"""``serkit bench``: a full cross-validated experiment, resumable fold by fold.

For every seed and fold: carve validation speakers out of the training fold, fit the model
(model selection sees validation speakers only), predict the test fold, save the fold's
predictions atomically. Finished folds are skipped on a re-run with the same resolved config.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from serkit.config import dump_yaml, to_dict
from serkit.corpora.manifest import read_manifest
from serkit.errors import ConfigError, ProtocolError
from serkit.evaluation.energy import E_AC_PJ, E_MAC_PJ, energy_mj
from serkit.evaluation.metrics import classification_metrics, mean_std
from serkit.features import FeatureCache, build_frontend, extract_features
from serkit.features.normalize import NORMALIZE_MODES, normalize_features
from serkit.models import Split, build_model
from serkit.training.splits import make_folds, validation_split
from serkit.utils import atomic_write_json, atomic_write_text, seed_everything, text_digest, worker_threads


@dataclass
class BenchConfig:
    """One experiment.

    Attributes:
        manifest: JSONL manifest path.
        model, frontend: registry names; ``model_cfg`` / ``frontend_cfg`` override their configs.
        protocol: ``loso`` | ``loso-session`` | ``folds:ravdess5`` | ``kfold-speaker:K``.
        seeds: number of seeds (``seed_base`` .. ``seed_base + seeds - 1``).
        val_fraction: share of training speakers held out for model selection.
        labels: restrict to these labels (empty = all in the manifest).
        cache_dir: feature cache folder (empty = ``$SERKIT_CACHE`` or ~/.cache/serkit/features).
        jobs: parallel worker processes for folds (each uses one torch thread).
        augment: training augmentation (:class:`serkit.training.augment.AugmentConfig`
            fields); empty = the model's default (``eam`` for ``mll``, none otherwise).
        normalize: ``none`` or ``speaker``: z-score every speaker's frame features with that
            speaker's own statistics (:mod:`serkit.features.normalize`; transductive for a test
            speaker, unlabelled; only meaningful when every speaker shows several emotions).
    """

    manifest: str = ""
    model: str = "attnpool"
    frontend: str = "whisper-tiny"
    protocol: str = "loso"
    seeds: int = 5
    seed_base: int = 0
    val_fraction: float = 0.2
    labels: list[str] = field(default_factory=list)
    cache_dir: str = ""
    jobs: int = 1
    model_cfg: dict = field(default_factory=dict)
    frontend_cfg: dict = field(default_factory=dict)
    augment: dict = field(default_factory=dict)
    normalize: str = "none"


def resolve_augment(cfg: BenchConfig):
    """The augmentation config of a run: ``cfg.augment`` over the model's default."""
    from serkit.config import from_dict
    from serkit.models import MODELS
    from serkit.training.augment import AugmentConfig

    base = {"name": MODELS[cfg.model].default_augment} if cfg.model in MODELS else {}
    a = from_dict(AugmentConfig, {**base, **(cfg.augment or {})}, "augment")
    if a.name not in ("none", "eam"):
        raise ConfigError(f"augment.name must be 'none' or 'eam', got {a.name!r}")
    if a.name != "none" and cfg.model in MODELS and not MODELS[cfg.model].supports_augment:
        raise ConfigError(f"model {cfg.model!r} does not train on augmented variants; use a torch head "
                          "(attnpool, mlp, linear, mll, pts-snn, reslstm-sa, ...) or augment.name=none")
    return a


def run_fingerprints(resolved: dict) -> tuple[str, set[str]]:
    """``(fingerprint, accepted)`` of a resolved run config: a fold's result depends on
    everything but the number of seeds and of workers (more seeds extend a finished run, fewer
    reuse it); ``accepted`` adds the digest serkit 0.1.0 wrote (seeds and jobs included).
    ``normalize: none`` is left out of both, so runs made before the option stay valid."""
    bench = {k: v for k, v in resolved["bench"].items() if not (k == "normalize" and v == "none")}
    legacy = {**resolved, "bench": bench}
    fp_cfg = {k: v for k, v in bench.items() if k not in ("seeds", "jobs")}
    fingerprint = text_digest(json.dumps({**resolved, "bench": fp_cfg}, sort_keys=True, default=str))
    return fingerprint, {fingerprint, text_digest(json.dumps(legacy, sort_keys=True, default=str))}


# shared with forked workers (copy-on-write), set by run_bench
_CTX: dict = {}


def _fold_task(args):
    seed, fold_i = args
    with worker_threads(_CTX["threads"]):
        return _run_fold(seed, fold_i)


def _run_fold(seed: int, fold_i: int) -> dict:
    c = _CTX
    fold = c["folds"][fold_i]
    utts, feats, y = c["utts"], c["feats"], c["y"]
    seed_everything(seed)
    fit_idx, val_idx = validation_split(utts, fold.train, seed, c["cfg"].val_fraction)

    def split(idx, partners=None):
        ids = [utts[i].id for i in idx]
        variants = None
        if c.get("bank") is not None and partners is not None:
            from serkit.training.augment import usable_variants

            variants = usable_variants(c["bank"], ids, [utts[i].id for i in partners], c["label_of"], len(c["labels"]))
        return Split([feats[utts[i].id] for i in idx], y[idx], [utts[i].speaker for i in idx], ids, variants)

    model = build_model(c["cfg"].model, c["cfg"].model_cfg, len(c["labels"]), c["n_layers"], c["dim"])
    t0 = time.time()
    # augmented variants: partners from the fit speakers only (validation variants, used only
    # by a refit on train + validation, may also take validation partners); never the test fold
    info = model.fit(split(fit_idx, fit_idx), split(val_idx, fit_idx + val_idx) if val_idx else None, seed)
    fit_s = time.time() - t0
    test = split(fold.test)
    proba = model.predict_proba(test.feats)
    cost = model.cost(test.feats, [utts[i].duration for i in fold.test])
    rec = {"seed": seed, "fold": fold.name, "fingerprint": c["fingerprint"], "ids": test.ids,
           "proba": proba.round(6).tolist(), "fit": info, "fit_s": round(fit_s, 3), "cost": cost,
           "n_fit": len(fit_idx), "n_val": len(val_idx),
           "val_speakers": sorted({utts[i].speaker for i in val_idx})}
    atomic_write_json(c["fold_dir"] / f"seed{seed}_{fold.name}.json", rec)
    return rec


def resolve(cfg: BenchConfig):
    """Manifest, frontend and the model's resolved config, validated before any work."""
    if not cfg.manifest:
        raise ConfigError("bench needs --manifest")
    utts = read_manifest(cfg.manifest)
    utts = [u for u in utts if u.label is not None and (not cfg.labels or u.label in cfg.labels)]
    if not utts:
        raise ConfigError(f"no utterances with labels {cfg.labels} in {cfg.manifest}")
    frontend = build_frontend(cfg.frontend, cfg.frontend_cfg)
    labels = sorted({u.label for u in utts})
    probe_model = build_model(cfg.model, cfg.model_cfg, len(labels), len(frontend.layer_names), frontend.dim)
    return utts, frontend, labels, to_dict(probe_model.config)


def run_bench(cfg: BenchConfig, out: str | Path, progress: bool = True, log=print) -> dict:
    out = Path(out)
    t_start = time.time()
    utts, frontend, labels, model_cfg = resolve(cfg)
    make_folds(utts, cfg.protocol)  # fail fast on a leaking protocol, before extraction
    aug = resolve_augment(cfg)
    if cfg.normalize not in NORMALIZE_MODES:
        raise ConfigError(f"normalize must be one of {NORMALIZE_MODES}, got {cfg.normalize!r}")
    if cfg.normalize == "speaker" and any(u.speaker is None for u in utts):
        raise ConfigError("normalize=speaker needs a speaker id for every utterance in the manifest")
    resolved = {"bench": to_dict(cfg), "model_config": model_cfg, "frontend_spec": frontend.spec()}
    if aug.name != "none":  # (absent when off: fingerprints of earlier runs stay valid)
        resolved["augment"] = to_dict(aug)
    fingerprint, accepted = run_fingerprints(resolved)
    out.mkdir(parents=True, exist_ok=True)
    dump_yaml(resolved, out / "config.yaml")

    cache = FeatureCache(cfg.cache_dir or None)
    t0 = time.time()
    ex = extract_features(frontend, utts, cache, progress=progress)
    extract_s = time.time() - t0
    if ex.failed:
        atomic_write_text(out / "skipped.txt", "".join(f"{i}\t{r}\n" for i, r in ex.failed))
        log(f"skipped {len(ex.failed)} unusable file(s), listed in {out / 'skipped.txt'}")
    utts = [u for u in utts if u.id in ex.features]
    labels_present = sorted({u.label for u in utts})
    if labels_present != labels:
        raise ProtocolError(f"after skipping bad files the label set changed: {labels} -> {labels_present}")
    folds = make_folds(utts, cfg.protocol)
    y = np.array([labels.index(u.label) for u in utts])
    speaker_of = {u.id: u.speaker for u in utts}
    feats, norm = normalize_features(ex.features, speaker_of, cfg.normalize)
    ex.features = feats  # (drops the un-normalised table: one copy of the features in memory)
    some = next(iter(feats.values()))
    fold_dir = out / "folds"
    fold_dir.mkdir(exist_ok=True)
    seeds = list(range(cfg.seed_base, cfg.seed_base + cfg.seeds))
    _CTX.update(utts=utts, feats=feats, y=y, folds=folds, labels=labels, cfg=cfg,
                n_layers=some.shape[0], dim=some.shape[2], fold_dir=fold_dir, fingerprint=fingerprint,
                threads=1 if cfg.jobs > 1 else max(1, min(2, os.cpu_count() or 1)))

    records, todo = [], []
    for s in seeds:
        for i, f in enumerate(folds):
            p = fold_dir / f"seed{s}_{f.name}.json"
            rec = None
            if p.exists():
                try:
                    rec = json.loads(p.read_text())
                except json.JSONDecodeError:
                    rec = None
            if rec is not None and rec.get("fingerprint") in accepted:
                records.append(rec)
            else:
                todo.append((s, i))
    if records:
        log(f"resuming: {len(records)} finished fold(s) reused, {len(todo)} to run")
    from tqdm.auto import tqdm

    t1 = time.time()
    bar = tqdm(total=len(todo), desc=f"{cfg.model} {cfg.protocol}", disable=not progress or not todo, unit="fold")
    aug_stats = []
    # with augmentation, one seed's bank at a time (it is large); workers fork after it is built
    groups = [[t for t in todo if t[0] == s] for s in seeds] if aug.name != "none" else [todo]
    for group in groups:
        if not group:
            continue
        if aug.name != "none":
            from serkit.training.augment import build_eam_bank

            bank, st = build_eam_bank(utts, frontend, aug, seed=group[0][0], cache=cache, progress=progress)
            aug_stats.append({"seed": group[0][0], **st})
            if norm is not None:  # a variant is normalised with its target speaker's clean statistics
                norm.transform_bank(bank, speaker_of)
            _CTX.update(bank=bank, label_of={u.id: labels.index(u.label) for u in utts})
        if cfg.jobs > 1 and len(group) > 1:
            import multiprocessing as mp

            with mp.get_context("fork").Pool(cfg.jobs) as pool:
                for rec in pool.imap_unordered(_fold_task, group):
                    records.append(rec)
                    bar.update()
        else:
            for t in group:
                records.append(_fold_task(t))
                bar.update()
        _CTX.pop("bank", None)
    bar.close()
    train_s = time.time() - t1
    results = aggregate(records, utts, labels, seeds, folds, cfg, frontend, out)
    prev_res = {}
    if (out / "results.json").exists():
        try:
            prev_res = json.loads((out / "results.json").read_text())
        except json.JSONDecodeError:
            prev_res = {}
    wall = round(time.time() - t_start, 2)
    # a resumed run reports its own wall time (wall_s) and keeps the history of the invocations
    # whose folds it reuses, so the cost of the whole result is never lost (wall_s_total)
    history = []
    if len(records) > len(todo) and prev_res:
        history = prev_res.get("invocations") or [{"wall_s": prev_res.get("wall_s", 0.0),
                                                   "folds_run": None, "note": "before invocation history"}]
    history = history + [{"wall_s": wall, "folds_run": len(todo), "folds_reused": len(records) - len(todo),
                          "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}]
    results.update(wall_s=wall, wall_s_total=round(sum(h["wall_s"] for h in history), 2), invocations=history,
                   extract_s=round(extract_s, 2), train_s_this_run=round(train_s, 2),
                   fit_s_total=round(sum(r["fit_s"] for r in records), 2),
                   features_extracted=ex.extracted, features_cached=ex.cached, skipped_files=len(ex.failed))
    if aug.name != "none":
        prev = prev_res.get("augment", {})
        banks = {b["seed"]: b for b in prev.get("banks", [])}
        # a re-run that only loaded a seed's cached bank keeps the record of the run that encoded it
        banks.update({b["seed"]: b for b in aug_stats if b.get("encoded", 0) > 0 or b["seed"] not in banks})
        results["augment"] = {**to_dict(aug), "banks": sorted(banks.values(), key=lambda b: b["seed"]),
                              "bank_encoder_s_total": round(sum(b["seconds"] for b in banks.values()), 2),
                              "note": "EAM bank: mixed waveforms re-encoded by the frozen frontend once per seed "
                                      "and cached; partners from the fit speakers of each fold only"}
    results.update(measure_latency(cfg, frontend, labels, records, out))
    atomic_write_json(out / "results.json", results)
    from serkit.evaluation.report import write_report

    write_report(results, out)
    _CTX.clear()
    return results


def aggregate(records, utts, labels, seeds, folds, cfg, frontend, out) -> dict:
    by_id = {u.id: u for u in utts}
    idx = {u.id: labels.index(u.label) for u in utts}
    per_seed, rows = [], []
    conf = np.zeros((len(labels), len(labels)), int)
    for s in seeds:
        recs = [r for r in records if r["seed"] == s]
        ids = [i for r in recs for i in r["ids"]]
        proba = np.array([p for r in recs for p in r["proba"]])
        pred = proba.argmax(1)
        truth = np.array([idx[i] for i in ids])
        m = classification_metrics(truth, pred, len(labels))
        per_seed.append(m)
        conf += np.array(m["confusion"])
        for r in recs:
            for i, p in zip(r["ids"], r["proba"]):
                rows.append((i, r["fold"], s, by_id[i].label, labels[int(np.argmax(p))], p))
    header = "id,fold,seed,truth,prediction," + ",".join(f"p_{lab}" for lab in labels) + "\n"
    body = "".join(f"{i},{f},{s},{t},{p}," + ",".join(f"{x:.6f}" for x in pr) + "\n"
                   for i, f, s, t, p, pr in sorted(rows, key=lambda r: (r[2], r[0])))
    atomic_write_text(out / "predictions.csv", header + body)
    cost = records[0]["cost"]
    # per-3-s-clip costs measured on each fold's test clips, averaged over folds and seeds
    macs, acs, sops = (int(np.mean([r["cost"].get(k, 0) for r in records])) for k in ("macs_head", "acs_head", "sops_head"))
    enc_macs = frontend.encoder_macs(3.0)
    corpora = sorted({u.corpus for u in utts})
    res = {
        "corpus": ",".join(corpora),
        "protocol": cfg.protocol,
        "folds": len(folds),
        "fold_names": [f.name for f in folds],
        "seeds": seeds,
        "n_utterances": len(utts),
        "n_speakers": len({u.speaker for u in utts}),
        "labels": labels,
        "model": cfg.model,
        "frontend": frontend.spec()["name"],
        "normalize": cfg.normalize,
        "metric_definitions": {"ua": "balanced accuracy (mean per-class recall) over pooled out-of-fold "
                               "predictions of one seed", "wa": "accuracy over pooled out-of-fold predictions",
                               "f1": "macro F1 over pooled out-of-fold predictions",
                               "std": "sample standard deviation over seeds (ddof=1)",
                               **({"normalize": "speaker: every speaker's frame features z-scored with that "
                                   "speaker's own mean/std over all of their utterances (no labels; "
                                   "transductive for test speakers)"} if cfg.normalize == "speaker" else {}),
                               "model_selection": f"validation speakers ({cfg.val_fraction:.0%} of each "
                               "training fold's speakers, drawn per seed); test folds never used"},
    }
    for k in ("ua", "wa", "f1"):
        mu, sd = mean_std([m[k] for m in per_seed])
        res[f"{k}_mean"], res[f"{k}_std"] = round(mu, 4), round(sd, 4)
        res[f"{k}_per_seed"] = [round(m[k], 4) for m in per_seed]
    pcr = np.mean([m["per_class_recall"] for m in per_seed], axis=0)
    res["per_class_recall"] = {lab: round(float(v), 4) for lab, v in zip(labels, pcr)}
    res["confusion_matrix"] = conf.tolist()
    res.update({
        "params_trainable": cost["params_trainable"],
        "macs_head": macs, "acs_head": acs, "sops_head": sops,
        "energy_head_mj": round(energy_mj(macs, acs + sops), 6),
        "macs_encoder": enc_macs,
        "energy_encoder_mj": round(energy_mj(enc_macs), 4) if enc_macs is not None else None,
        "energy_convention": f"45 nm: {E_MAC_PJ} pJ/MAC, {E_AC_PJ} pJ/AC; per 3 s clip",
    })
    stats = [r["cost"].get("spike_stats") for r in records if r["cost"].get("spike_stats")]
    if stats:
        res["spike_stats"] = {layer: {k: round(float(np.mean([st[layer][k] for st in stats])), 4)
                                      for k in ("rate", "silent", "saturated")} for layer in stats[0]}
        res["spike_stats_protocol"] = ("per spiking layer: mean firing rate over steps and neurons; silent = share "
                                       "of neurons firing < 1% of steps, saturated > 99%; averaged over folds/seeds "
                                       "(up to 32 test clips per fold)")
    fits = [r["fit"] for r in records]
    if fits and "layer_weights" in fits[0]:
        res["layer_weights_mean"] = np.mean([f["layer_weights"] for f in fits], axis=0).round(4).tolist()
        res["layer_names"] = frontend.layer_names
    if fits and "layer" in fits[0]:
        from collections import Counter

        res["layer_chosen_counts"] = dict(Counter(str(f["layer"]) for f in fits))
        res["layer_names"] = frontend.layer_names
    return res


def measure_latency(cfg, frontend, labels, records, out, n: int = 10) -> dict:
    """CPU latency for one 3 s clip (one torch thread): frontend + head, and head alone (median ms)."""
    import torch

    from serkit.audio.synth import tone_clip

    torch.set_num_threads(1)
    wav = tone_clip(3.0, sr=frontend.sample_rate or 16000)
    sr = frontend.sample_rate or 16000
    feats = frontend.extract(wav, sr)
    model = build_model(cfg.model, cfg.model_cfg, len(labels), feats.shape[0], feats.shape[2])
    # an untrained model of the same shape costs the same time; fit it cheaply on noise if needed
    rng = np.random.default_rng(0)
    toy = [feats + rng.normal(0, 0.1, feats.shape).astype(np.float32) for _ in range(2 * len(labels))]
    toy_y = np.arange(2 * len(labels)) % len(labels)
    if cfg.model == "logreg":
        model.config.layer = "0" if feats.shape[0] > 1 else model.config.layer
        model.fit(Split(toy, toy_y, [None] * len(toy), [str(i) for i in range(len(toy))]), None, 0)
    t_full, t_head = [], []
    for _ in range(n):
        a = time.perf_counter()
        f = frontend.extract(wav, sr)
        b = time.perf_counter()
        model.predict_proba([f])
        c = time.perf_counter()
        t_full.append(c - a)
        t_head.append(c - b)
    return {"latency_ms_per_clip": round(1000 * float(np.median(t_full)), 2),
            "latency_head_ms": round(1000 * float(np.median(t_head)), 3),
            "latency_protocol": "median of 10 runs, 3 s clip, 1 CPU thread, frontend + head (file read excluded)"}
