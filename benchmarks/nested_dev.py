"""Nested development check that never touches a test fold.

Takes the *training* speakers of the first LOSO fold of a manifest, runs leave-one-speaker-out
over them (validation speakers carved out of each inner training set, seed 0) and prints the
pooled inner "dev-test" UA. Used to choose model defaults without looking at test folds.

    python benchmarks/nested_dev.py manifests/emodb.jsonl whisper-tiny-layers attnpool [key=value ...]

Overrides are model config keys (``hidden=64``, ``train.refit=true``), except
``frontend.KEY=VALUE`` (frontend config, e.g. ``"frontend.layers=[0,1,2]"``), ``inner=PROTOCOL``
(inner folds, default ``loso``; e.g. ``kfold-speaker:5`` for corpora with many speakers),
``outer=PROTOCOL`` (whose first fold's training speakers are used, default ``loso``) and
``seeds=N`` (seeds 0..N-1; prints each seed's UA and their mean +- std, default 1),
``norm=speaker`` (per-speaker feature z-scoring, as ``serkit bench --set normalize=speaker``)
and ``eam=1`` (train on the EAM bank of each seed, partners from the inner fit speakers only,
as ``serkit bench`` does for ``mll``; the bank is read from the feature cache when built before).
"""

import sys
import time

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score

from serkit.core.config import parse_overrides
from serkit.data.corpora import read_manifest
from serkit.features import FeatureCache, build_frontend, extract_features
from serkit.features.normalize import normalize_features
from serkit.estimators import Split, build_model
from serkit.training.augment import AugmentConfig, build_eam_bank, usable_variants
from serkit.data.protocols import make_folds, validation_split


def main() -> None:
    manifest, frontend, model = sys.argv[1:4]
    overrides = parse_overrides(sys.argv[4:])
    frontend_cfg = overrides.pop("frontend", {})
    inner_protocol = overrides.pop("inner", "loso")
    outer_protocol = overrides.pop("outer", "loso")
    n_seeds = int(overrides.pop("seeds", 1))
    norm_mode = str(overrides.pop("norm", "none"))
    use_eam = bool(int(overrides.pop("eam", 0)))
    torch.set_num_threads(1)
    utts = read_manifest(manifest)
    labels = sorted({u.label for u in utts})
    y = np.array([labels.index(u.label) for u in utts])
    fe, cache = build_frontend(frontend, frontend_cfg), FeatureCache()
    feats = extract_features(fe, utts, cache, progress=False).features
    speaker_of = {u.id: u.speaker for u in utts}
    feats, norm = normalize_features(feats, speaker_of, norm_mode)
    outer = make_folds(utts, outer_protocol)[0]
    inner = [utts[i] for i in outer.train]  # the outer test speaker is dropped entirely
    yi = y[outer.train]

    bank = None

    def split(idx, partners=None):
        ids = [inner[i].id for i in idx]
        variants = None
        if bank is not None and partners is not None:
            variants = usable_variants(bank, ids, [inner[i].id for i in partners], label_of, len(labels))
        return Split([feats[i] for i in ids], yi[idx], [inner[i].speaker for i in idx], ids, variants)

    some, t0, uas = feats[utts[0].id], time.time(), []
    label_of = {u.id: labels.index(u.label) for u in utts}
    for seed in range(n_seeds):
        if use_eam:  # the bank of all utterances; usable_variants keeps inner-fit partners only
            bank = build_eam_bank(utts, fe, AugmentConfig(name="eam"), seed=seed, cache=cache)[0]
            if norm is not None:
                norm.transform_bank(bank, speaker_of)
        pred, truth = [], []
        for fold in make_folds(inner, inner_protocol):
            fit, val = validation_split(inner, fold.train, seed)
            m = build_model(model, overrides, len(labels), some.shape[0], some.shape[2])
            m.fit(split(fit, fit), split(val, fit + val), seed)
            pred += list(m.predict_proba(split(fold.test).feats).argmax(1))
            truth += list(yi[fold.test])
        uas.append(balanced_accuracy_score(truth, pred))
    print(sys.argv[3:], "DEV-TEST UA", [round(u, 4) for u in uas], f"mean {np.mean(uas):.4f} +- {np.std(uas):.4f}",
          "time", round(time.time() - t0), "s")

if __name__ == "__main__":
    main()
