"""A fast LOCO probe of training standardisations for the pooled-state logreg (issue 31).

    .venv/bin/python benchmarks/loco_probe.py --views corpus --views speaker \
        --views corpus+speaker --weights class --out runs/r31/loco_probe.json

Not ``serkit bench``: a numpy re-implementation that works on per-clip pooled statistics, so
one recipe takes about 30 s instead of 20 minutes. It is for choosing what to run in the bench,
never a headline. Protocol, as the bench's LOCO: EmoDB, URDU, RAVDESS, EmoSpeech (4 classes,
EmoSpeech on its 3), Whisper base state ``--state`` (3: the default's), mean+std pooling of
frames standardised per group, at most 800 training clips per corpus (label-stratified, drawn
per seed), one logistic regression with a FIXED C (``--C``, default 0.001: the value the bench's
inner folds chose for the default; no inner selection here), UA per held-out corpus and their
unweighted mean, seeds 0..``--seeds``-1. Held-out corpus standardised with: ``none`` = the mean
of the training corpora's statistics; ``k50`` = 50 random clips' statistics shrunk toward that
mean by w = s / (s + 60 s) (s: their seconds); ``all`` = its own statistics.

Training views (each training clip once per view): ``corpus`` (its corpus's statistics),
``speaker`` (its speaker's), ``loco`` (the mean of the OTHER training corpora's: the unadapted
condition, simulated), ``crossK`` (training corpus i with the statistics of training corpus
i+K, in sorted order: one other corpus's statistics per copy). Weights: ``class`` (balanced
classes, as serkit's logreg) or ``corpus-class`` (every corpus x class cell weighted equally).

``--train-only baved``: BAVED's neutral level (61 Arabic speakers) joins every training set as
``neutral`` and is never held out, standardised with the statistics of its neutral clips
(``--train-only-stats labelled``: what the bench does after the label spec) or of all three
levels (``all``); its statistics join the mean a held-out corpus gets before adaptation.

``--balance B`` (eighth session): after adaptation (``k50``, ``all``), add ``B`` x the
shrinkage weight x the per-class logit offsets under which the answers on the adaptation clips
(standardised as adapted) are balanced (:func:`serkit.core.calibration.balancing_offsets`):
what serkit's ``adapt_balance`` does.

Frame statistics come from per-clip frame means/stds and frame counts, so group statistics are
exact (float64) without holding frames.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

CORPORA = ["emodb", "urdu", "ravdess", "emospeech"]
LABELS = "anger,happiness,neutral=neutral+calm,sadness"


def pooled_table(state: int, cache_file: Path, corpora=None, labels=LABELS) -> dict:
    """Per clip: frame mean and std of ``state`` (raw), frame count, corpus, speaker, label
    (``labels``: a label spec, "" = every label as written)."""
    if cache_file.exists():
        t = dict(np.load(cache_file))
        if "id" in t:
            return t
    from serkit.experiment.config import DataConfig
    from serkit.experiment.dataset import read_labelled
    from serkit.features import FeatureCache, build_frontend

    man = ",".join(f"manifests/{c}.jsonl" for c in corpora or CORPORA)
    utts = read_labelled(
        DataConfig(
            manifest=man,
            labels=labels.split(",") if labels else [],
            frontend="whisper-base-layers",
        )
    )
    fe, cache = build_frontend("whisper-base-layers"), FeatureCache()
    rows = []
    for u in utts:
        f = cache.get(fe, u)
        if f is None:
            continue
        x = np.asarray(f[state], np.float64)
        rows.append(
            (
                x.mean(0),
                x.std(0),
                x.shape[0],
                u.corpus,
                f"{u.corpus}/{u.speaker}",
                u.label,
                u.text,
                u.id,
            )
        )
    if not rows:
        raise SystemExit("no cached whisper-base-layers features: run serkit extract first")
    t = {
        "mu": np.stack([r[0] for r in rows]),
        "sd": np.stack([r[1] for r in rows]),
        "n": np.array([r[2] for r in rows], float),
        "corpus": np.array([r[3] for r in rows]),
        "spk": np.array([r[4] for r in rows]),
        "label": np.array([r[5] for r in rows]),
        "text": np.array([r[6] or "" for r in rows]),
        "id": np.array([r[7] for r in rows]),
    }
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache_file, **t)
    return t


def domain_table(t: dict, manifests: str, state: int, variants: int, cache_file: Path) -> dict:
    """Per clip of table ``t`` (same order): frame mean / std ``(N, V, D)`` and frame counts
    ``(N, V)`` of ``state`` for its ``variants`` domain copies (``augment.name=domain``: the
    bench's own copies, from the feature cache; the missing ones are encoded and cached)."""
    if cache_file.exists():
        d = dict(np.load(cache_file))
        if d["mu"].shape[:2] == (len(t["id"]), variants) and np.array_equal(d["id"], t["id"]):
            return d
    from serkit.data.manifest import read_manifests
    from serkit.features import FeatureCache, build_frontend
    from serkit.training.augment import AugmentConfig, build_bank

    by_id = {u.id: u for u in read_manifests(manifests)}
    utts = [by_id[i] for i in t["id"]]
    bank, _ = build_bank(
        utts,
        build_frontend("whisper-base-layers"),
        AugmentConfig(name="domain", variants=variants),
        0,
        FeatureCache(),
        progress=True,
    )
    d = len(t["mu"][0])
    mu, sd = np.zeros((len(utts), variants, d)), np.ones((len(utts), variants, d))
    n = np.zeros((len(utts), variants))
    for i, u in enumerate(utts):
        for k, v in enumerate(bank.get(u.id, [])[:variants]):
            x = np.asarray(v.feats[state], np.float64)
            mu[i, k], sd[i, k], n[i, k] = x.mean(0), x.std(0), x.shape[0]
    out = {"mu": mu, "sd": sd, "n": n, "id": t["id"]}
    np.savez(cache_file, **out)
    return out


def frame_stats(mu, sd, n):
    """Exact frame mean and std of a group from its clips' frame means ``mu``, stds ``sd``
    (each ``(N, D)``) and frame counts ``n`` ``(N,)``."""
    w = n / n.sum()
    m = (w[:, None] * mu).sum(0)
    v = (w[:, None] * (sd**2 + mu**2)).sum(0) - m**2
    return m, np.sqrt(np.maximum(v, 1e-8))


POSITIVE, NEGATIVE = ("I liked it", "awesome"), ("I did not like it", "bad")
"""BAVED's words by valence (the dataset's README glosses); the other three are neither."""


def baved_labels(t: dict, scheme: str) -> np.ndarray:
    """BAVED clips as categories (``""`` = not used as a training row), fixed before any probe:
    ``neutral``: level 1 only; ``weak-high``: also level 2 (high arousal) said on a positive
    word as ``happiness`` and on a negative word as ``anger``; ``weak``: also level 0 (tired,
    down) as ``sadness``."""
    lab = t["label"]
    out = np.where(lab == "neutral", "neutral", "").astype(object)
    if scheme in ("weak-high", "weak"):
        out[(lab == "high-arousal") & np.isin(t["text"], POSITIVE)] = "happiness"
        out[(lab == "high-arousal") & np.isin(t["text"], NEGATIVE)] = "anger"
    if scheme == "weak":
        out[lab == "low-arousal"] = "sadness"
    return out


class Probe:
    def __init__(
        self,
        t: dict,
        extras=(),
        extra_stats: str = "labelled",
        cap_extra: int = 0,
        var: dict | None = None,
    ):
        """``extras``: training-only corpora, each ``(table, labels)`` with ``labels`` the
        category of every clip (``""``: statistics only). Their labelled clips join every
        training set, standardised with the statistics of their labelled clips
        (``extra_stats='labelled'``, what the bench does after the label spec) or of all their
        clips (``'all'``); they are never held out, and their statistics join the mean a
        held-out corpus gets before adaptation. ``cap_extra``: at most this many labelled clips
        of each (label-stratified, one draw for every seed; 0: all). ``var``: the domain
        copies of ``t``'s clips (:func:`domain_table`); an extra's are its third element (or
        ``None``). Every copy of a training clip is one more training row, standardised with its
        clip's CLEAN statistics, as the bench's ``augment.name=domain``."""
        self.var = var
        self.mu, self.sd, self.n = t["mu"], t["sd"], t["n"]
        self.corp, self.spk = t["corpus"], t["spk"]
        self.labels = sorted(set(t["label"]))
        self.y = np.array([self.labels.index(v) for v in t["label"]])
        self.extra = None
        xs, ys, sts = [], [], []
        for ex, lab, exv in extras:
            keep = lab != ""
            if cap_extra and keep.sum() > cap_extra:  # label-stratified, as the bench's cap
                rng, idx = np.random.default_rng(0), np.where(keep)[0]
                keep = np.zeros(len(lab), bool)
                for v in np.unique(lab[idx]):
                    jj = idx[lab[idx] == v]
                    keep[rng.permutation(jj)[: int(round(cap_extra * len(jj) / len(idx)))]] = True
            src = keep if extra_stats == "labelled" else np.ones(len(keep), bool)
            m, sd = frame_stats(ex["mu"][src], ex["sd"][src], ex["n"][src])
            xs.append(np.hstack([(ex["mu"][keep] - m) / sd, ex["sd"][keep] / sd]))
            ys.append(np.array([self.labels.index(v) for v in lab[keep]]))
            sts.append((m, sd))
            if exv is not None:
                for k in range(exv["n"].shape[1]):
                    ok = keep & (exv["n"][:, k] > 0)
                    xs.append(np.hstack([(exv["mu"][ok, k] - m) / sd, exv["sd"][ok, k] / sd]))
                    ys.append(np.array([self.labels.index(v) for v in lab[ok]]))
        if xs:
            self.extra = (np.vstack(xs), np.concatenate(ys), sts)

    def stats(self, idx):
        return frame_stats(self.mu[idx], self.sd[idx], self.n[idx])

    def pooled(self, idx, m, s):
        return np.hstack([(self.mu[idx] - m) / s, self.sd[idx] / s])

    def cap(self, idx, seed, k=800):
        rng, out = np.random.default_rng(seed), []
        for c in np.unique(self.corp[idx]):
            ii = idx[self.corp[idx] == c]
            if len(ii) > k:
                sel = []
                for lab in np.unique(self.y[ii]):
                    jj = ii[self.y[ii] == lab]
                    sel += list(rng.permutation(jj)[: int(round(k * len(jj) / len(ii)))])
                ii = np.array(sel)
            out += list(ii)
        return np.array(out)

    def view(self, tr, name):
        x = np.zeros((len(tr), 2 * self.mu.shape[1]))
        if name in ("corpus", "speaker"):
            groups = self.corp[tr] if name == "corpus" else self.spk[tr]
            for g in np.unique(groups):
                ii = np.where(groups == g)[0]
                x[ii] = self.pooled(tr[ii], *self.stats(tr[ii]))
            return x
        cs = {c: self.stats(np.where(self.corp == c)[0]) for c in sorted(set(self.corp[tr]))}
        if name.startswith("cross"):  # crossK: corpus i with the statistics of corpus i+K
            order, k = list(cs), int(name[5:])
            for i, c in enumerate(order):
                ii = np.where(self.corp[tr] == c)[0]
                x[ii] = self.pooled(tr[ii], *cs[order[(i + k) % len(order)]])
            return x
        for c in cs:  # "loco": each training corpus with the mean of the others' statistics
            ii = np.where(self.corp[tr] == c)[0]
            others = [cs[o] for o in cs if o != c]
            x[ii] = self.pooled(
                tr[ii], np.mean([o[0] for o in others], 0), np.mean([o[1] for o in others], 0)
            )
        return x

    def run(self, views, C, weights, seeds, k=50, half_s=60.0, balance=0.0, shrink_offsets=True):
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        from serkit.core.calibration import balancing_offsets

        res = {t: [] for t in ("none", "k50", "all")}
        for seed in range(seeds):
            rows = {t: {} for t in res}
            for held in CORPORA:
                tr = self.cap(np.where(self.corp != held)[0], seed)
                te = np.where(self.corp == held)[0]
                xtr = np.vstack([self.view(tr, v) for v in views])
                ytr, ctr = np.tile(self.y[tr], len(views)), np.tile(self.corp[tr], len(views))
                if self.var is not None:  # domain copies, each with its clip's corpus statistics
                    xv, yv, cv = [], [], []
                    for c in np.unique(self.corp[tr]):
                        ii = tr[self.corp[tr] == c]
                        m, sd = self.stats(ii)
                        for k in range(self.var["n"].shape[1]):
                            jj = ii[self.var["n"][ii, k] > 0]
                            xv.append(
                                np.hstack(
                                    [(self.var["mu"][jj, k] - m) / sd, self.var["sd"][jj, k] / sd]
                                )
                            )
                            yv.append(self.y[jj])
                            cv.append(self.corp[jj])
                    xtr = np.vstack([xtr, *xv])
                    ytr = np.concatenate([ytr, *yv])
                    ctr = np.concatenate([ctr, *cv])
                cs = [self.stats(np.where(self.corp == c)[0]) for c in set(self.corp[tr])]
                if self.extra is not None:  # training-only rows, and their statistics
                    xtr = np.vstack([xtr, self.extra[0]])
                    ytr = np.concatenate([ytr, self.extra[1]])
                    ctr = np.concatenate([ctr, np.full(len(self.extra[1]), "extra")])
                    cs += self.extra[2]
                mm, ss = np.mean([c[0] for c in cs], 0), np.mean([c[1] for c in cs], 0)
                kk = np.random.default_rng(seed).permutation(te)[:k]
                s = self.n[kk].sum() / 50.0  # Whisper frames: 50 per second
                w = s / (s + half_s)
                mk, sk = self.stats(kk)
                tests = {
                    "none": self.pooled(te, mm, ss),
                    "k50": self.pooled(te, w * mk + (1 - w) * mm, w * sk + (1 - w) * ss),
                    "all": self.pooled(te, *self.stats(te)),
                }
                keys = ytr.astype(str) if weights == "class" else np.char.add(ctr, ytr.astype(str))
                _, inv, cnt = np.unique(keys, return_inverse=True, return_counts=True)
                sw = 1.0 / cnt[inv]
                sw *= len(sw) / sw.sum()
                sc = StandardScaler().fit(xtr)
                clf = LogisticRegression(C=C, max_iter=3000).fit(sc.transform(xtr), ytr, sw)
                offsets = {}
                if balance:  # logit offsets that balance the adaptation clips' answers, as
                    # serkit's adapt: estimated under the adapted standardisation, shrunk by w
                    ww = w if shrink_offsets else 1.0
                    zk = clf.decision_function(sc.transform(tests["k50"][np.searchsorted(te, kk)]))
                    offsets["k50"] = balance * ww * balancing_offsets(zk)
                    offsets["all"] = balance * balancing_offsets(
                        clf.decision_function(sc.transform(tests["all"]))
                    )
                for t, x in tests.items():
                    z = clf.decision_function(sc.transform(x)) + offsets.get(t, 0)
                    p, yt = z.argmax(1), self.y[te]
                    rec = {self.labels[c]: float(np.mean(p[yt == c] == c)) for c in np.unique(yt)}
                    rows[t][held] = (float(np.mean(list(rec.values()))), rec)
            for t in res:
                res[t].append(rows[t])
        out = {}
        for t, r in res.items():
            means = [np.mean([v[0] for v in x.values()]) for x in r]
            out[t] = {
                "mean": round(float(np.mean(means)), 4),
                "std": round(float(np.std(means)), 4),
                "per_corpus": {c: round(float(np.mean([x[c][0] for x in r])), 4) for c in CORPORA},
                "recall": {
                    c: {k: round(float(np.mean([x[c][1][k] for x in r])), 3) for k in r[0][c][1]}
                    for c in CORPORA
                },
            }
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--views", action="append", help="corpus | speaker | loco | crossK, '+'-joined")
    ap.add_argument("--weights", choices=["class", "corpus-class"], default="class")
    ap.add_argument("--C", type=float, default=0.001)
    ap.add_argument("--state", default="3", help="a state, or several comma-joined (concatenated)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument(
        "--train-only",
        action="append",
        choices=["baved", "tess", "esd"],
        default=[],
        help="a training-only corpus that joins every training set and is never held out "
        "(repeatable); BAVED as --baved-labels says",
    )
    ap.add_argument(
        "--cap-extra",
        type=int,
        default=0,
        help="at most this many labelled clips of each training-only corpus (the bench's "
        "max_per_corpus applies to them too); 0: all",
    )
    ap.add_argument(
        "--domain",
        type=int,
        default=0,
        help="add this many domain copies of every training clip (augment.name=domain, the "
        "bench's copies from the feature cache; missing ones are encoded); corpus view only",
    )
    ap.add_argument("--baved-labels", choices=["neutral", "weak-high", "weak"], default="neutral")
    ap.add_argument("--train-only-stats", choices=["labelled", "all"], default="labelled")
    ap.add_argument(
        "--balance",
        type=float,
        default=0.0,
        help="after adaptation, add this share of the logit offsets that make the adaptation "
        "clips' mean posterior uniform (times the shrinkage weight)",
    )
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    tables = [
        pooled_table(int(s), Path(f"runs/r31/probe_pooled_state{int(s)}.npz"))
        for s in a.state.split(",")
    ]
    t = dict(tables[0])
    t["mu"] = np.hstack([x["mu"] for x in tables])  # per-dimension statistics: states side by side
    t["sd"] = np.hstack([x["sd"] for x in tables])
    if a.domain and (a.state.count(",") or (a.views or ["corpus"]) != ["corpus"]):
        raise SystemExit("--domain: one state and the corpus view only")
    extras = []
    for name in a.train_only:
        ex = [
            pooled_table(
                int(s),
                Path(f"runs/r31/probe_pooled_{name}_state{int(s)}.npz"),
                [name],
                "" if name == "baved" else LABELS,
            )
            for s in a.state.split(",")
        ]
        e = dict(ex[0])
        e["mu"] = np.hstack([x["mu"] for x in ex])
        e["sd"] = np.hstack([x["sd"] for x in ex])
        ev = None
        if a.domain:
            ev = domain_table(
                e,
                f"manifests/{name}.jsonl",
                int(a.state),
                a.domain,
                Path(f"runs/r31/probe_domain{a.domain}_{name}_state{a.state}.npz"),
            )
        labs = baved_labels(e, a.baved_labels) if name == "baved" else e["label"].astype(object)
        extras.append((e, labs, ev))
    var = None
    if a.domain:
        var = domain_table(
            t,
            ",".join(f"manifests/{c}.jsonl" for c in CORPORA),
            int(a.state),
            a.domain,
            Path(f"runs/r31/probe_domain{a.domain}_state{a.state}.npz"),
        )
    probe = Probe(t, extras, a.train_only_stats, a.cap_extra, var)
    report = {
        "protocol": __doc__.split("\n\n")[2].strip(),
        "C": a.C,
        "weights": a.weights,
        "state": a.state,
        "train_only": a.train_only,
        "baved_labels": a.baved_labels,
        "cap_extra": a.cap_extra,
        "domain": a.domain,
        "train_only_stats": a.train_only_stats,
        "balance": a.balance,
    }
    for v in a.views or ["corpus"]:
        r = probe.run(v.split("+"), a.C, a.weights, a.seeds, balance=a.balance)
        report[v] = r
        print(
            f"{v:20s} "
            + "  ".join(
                f"{t} {x['mean']:.3f}+-{x['std']:.3f} "
                + "/".join(f"{x['per_corpus'][c]:.2f}" for c in CORPORA)
                for t, x in r.items()
            ),
            flush=True,
        )
        print(
            f"{'':20s} recall after 50 clips: "
            + "  ".join(
                f"{c} " + "/".join(f"{k[:3]} {v:.2f}" for k, v in r["k50"]["recall"][c].items())
                for c in CORPORA
            ),
            flush=True,
        )
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
