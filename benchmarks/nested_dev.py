"""Nested development check that never touches a test fold.

Takes the *training* speakers of the first LOSO fold of a manifest, runs leave-one-speaker-out
over them (validation speakers carved out of each inner training set, seed 0) and prints the
pooled inner "dev-test" UA. Used to choose model defaults without looking at test folds.

    python benchmarks/nested_dev.py manifests/emodb.jsonl whisper-tiny-layers attnpool [key=value
    ...]

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
from serkit.data.protocols import make_folds, validation_split
from serkit.estimators import build_model
from serkit.experiment.config import RunConfig, experiment_from_dict
from serkit.experiment.dataset import load_dataset
from serkit.training.augment import AugmentConfig, build_eam_bank, usable_variants


def main() -> None:
    manifest, frontend, model = sys.argv[1:4]
    overrides = parse_overrides(sys.argv[4:])
    frontend_cfg = overrides.pop("frontend", {})
    inner_protocol = overrides.pop("inner", "loso")
    outer_protocol = overrides.pop("outer", "loso")
    n_seeds = int(overrides.pop("seeds", 1))
    use_eam = bool(int(overrides.pop("eam", 0)))
    cfg = experiment_from_dict(
        {
            "manifest": manifest,
            "protocol": outer_protocol,
            "normalize": str(overrides.pop("norm", "none")),
            "frontend": {"name": frontend, **frontend_cfg},
            "model": {"name": model, **overrides},
        }
    )
    torch.set_num_threads(1)
    d = load_dataset(cfg, RunConfig(progress=False))  # the one dataset path of every experiment
    outer = make_folds(d.utts, outer_protocol)[0]
    inner = [d.utts[i] for i in outer.train]  # the outer test speaker is dropped entirely
    pos = outer.train  # inner index -> dataset index
    label_of = {u.id: int(y) for u, y in zip(d.utts, d.y)}
    t0, uas = time.time(), []
    for seed in range(n_seeds):
        bank = None
        if use_eam:  # the bank of all utterances; usable_variants keeps inner-fit partners only
            bank = build_eam_bank(
                d.utts, d.frontend, AugmentConfig(name="eam"), seed=seed, cache=d.cache
            )[0]
            if d.normalizer is not None:
                d.normalizer.transform_bank(bank, {u.id: u.speaker for u in d.utts})

        def split(idx, partners=None, bank=bank):
            ids = [inner[i].id for i in idx]
            v = (
                usable_variants(bank, ids, [inner[i].id for i in partners], label_of, len(d.labels))
                if bank is not None and partners is not None
                else None
            )
            return d.split([pos[i] for i in idx], v)

        pred, truth = [], []
        for fold in make_folds(inner, inner_protocol):
            fit, val = validation_split(inner, fold.train, seed)
            m = build_model(cfg.model, len(d.labels), d.n_layers, d.dim)
            m.fit(split(fit, fit), split(val, fit + val), seed)
            test = split(fold.test)
            pred += list(m.predict_proba(test.feats).argmax(1))
            truth += list(test.labels)
        uas.append(balanced_accuracy_score(truth, pred))
    print(
        sys.argv[3:],
        "DEV-TEST UA",
        [round(u, 4) for u in uas],
        f"mean {np.mean(uas):.4f} +- {np.std(uas):.4f}",
        "time",
        round(time.time() - t0),
        "s",
    )


if __name__ == "__main__":
    main()
