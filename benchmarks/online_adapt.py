"""Online adaptation against offline ``adapt(50)`` and no adaptation, on a corpus the model
never heard (issue 31, item 3).

    .venv/bin/python benchmarks/online_adapt.py manifests/tess.jsonl manifests/esd.jsonl \
        --pool 600 --seeds 3 --out runs/r31/online_adapt.json

Protocol: per corpus, a fixed label-stratified pool of ``--pool`` clips of the model's classes
(seed 1000); per seed, the pool in a random order. Scored: UA of clips 51+ (the same clips in
every condition):

- ``none``: the model as shipped;
- ``offline50``: ``Recognizer.adapt_signals`` on clips 1-50 (unlabelled), then clips 51+;
- ``online``: ``load(..., adapt="online")`` answers every clip in order (clip k is answered with
  the statistics of clips 1..k-1, then added), scored on 51+.

``--balance B`` sets the model's ``adapt_balance`` (the answer-balancing offsets that ``adapt``
and online adaptation add) for all three conditions; without it, as the model file says.

The encoder runs once per clip; the answers go through the recogniser's own head, speech check
and online update (``Recognizer._observe``), so the numbers are those of ``rec.predict`` in that
order (``tests/test_knowing.py`` checks that equality on a toy model).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def _ua(y: np.ndarray, p: np.ndarray, n_classes: int) -> float:
    return float(np.mean([np.mean(p[y == c] == c) for c in range(n_classes) if (y == c).any()]))


def _recall(y, p, labels) -> dict:
    return {
        lab: round(float(np.mean(p[y == c] == c)), 3)
        for c, lab in enumerate(labels)
        if (y == c).any()
    }


def run_corpus(
    manifest: str, model: str, pool: int, seeds: int, warm: int, balance: float | None = None
) -> dict:
    from serkit.audio.io import AudioConfig, load_audio
    from serkit.data.manifest import read_manifest
    from serkit.deploy.loading import load as load_model

    def load(m, adapt=None):
        rec = load_model(m)
        if balance is not None:  # the answer balancing of adapt, as --balance says (before
            rec.model.adapt_balance = balance  # online adaptation snapshots the state)
        return rec.adapt_online() if adapt == "online" else rec

    base = load(model)
    labels = base.labels
    utts = [u for u in read_manifest(manifest) if u.label in labels]
    rng = np.random.default_rng(1000)
    per = max(1, pool // len({u.label for u in utts}))
    chosen = []
    for lab in labels:
        group = [u for u in utts if u.label == lab]
        chosen += [group[i] for i in rng.permutation(len(group))[:per]]
    y = np.array([labels.index(u.label) for u in chosen])
    cfg = AudioConfig(sample_rate=base.sample_rate)
    signals = [(load_audio(u.audio, cfg), base.sample_rate, u.id) for u in chosen]
    feats = base.features(signals)
    speech = [base._speech(x, r) for x, r, _ in signals]
    dur = [x.size / r for x, r, _ in signals]
    out: dict = {"corpus": chosen[0].corpus, "clips_in_pool": len(chosen), "per_seed": []}
    for s in range(seeds):
        order = np.random.default_rng(s).permutation(len(chosen))
        scored = order[warm:]
        none = base.model.predict_proba([feats[i] for i in scored]).argmax(1)
        off = load(model)
        info = off.adapt_signals([signals[i] for i in order[:warm]], "first clips")
        offp = off.model.predict_proba([feats[i] for i in scored]).argmax(1)
        on = load(model, adapt="online")
        onp = []
        for i in order:
            on._pending = [feats[i]]  # what Recognizer.probabilities keeps for the update
            p = on.model.predict_proba([feats[i]])[0]
            on._observe([dur[i]], [speech[i]])
            onp.append(p.argmax())
        onp = np.array(onp)[warm:]
        yy = y[scored]
        rec = {
            "seed": s,
            "ua_none": round(_ua(yy, none, len(labels)), 4),
            "ua_offline50": round(_ua(yy, offp, len(labels)), 4),
            "ua_online": round(_ua(yy, onp, len(labels)), 4),
            "offline50_weight": info["weight"],
            "online_weight_end": on.online.weight,
            "recall_none": _recall(yy, none, labels),
            "recall_online": _recall(yy, onp, labels),
        }
        print(json.dumps(rec))
        out["per_seed"].append(rec)
    for k in ("ua_none", "ua_offline50", "ua_online"):
        v = np.array([r[k] for r in out["per_seed"]])
        out[k] = {"mean": round(float(v.mean()), 4), "std": round(float(v.std(ddof=1)), 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifests", nargs="+")
    ap.add_argument("--model", default="default")
    ap.add_argument("--pool", type=int, default=600)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--warm", type=int, default=50)
    ap.add_argument(
        "--balance",
        type=float,
        default=None,
        help="override the model's adapt_balance (share of the answer-balancing offsets that "
        "adapt adds; default: as the model file says)",
    )
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    res = {
        "protocol": f"pool {a.pool} clips per corpus (stratified, seed 1000), {a.seeds} random "
        f"orders, UA of clips {a.warm + 1}+; model {a.model}"
        + ("" if a.balance is None else f", adapt_balance {a.balance:g}"),
        "corpora": [
            run_corpus(m, a.model, a.pool, a.seeds, a.warm, a.balance) for m in a.manifests
        ],
    }
    for c in res["corpora"]:
        print(
            c["corpus"],
            *(
                f"{k} {c[k]['mean']:.3f} +- {c[k]['std']:.3f}"
                for k in ("ua_none", "ua_offline50", "ua_online")
            ),
        )
    if a.out:
        from serkit.core.io import atomic_write_json

        a.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(a.out, res)


if __name__ == "__main__":
    main()
