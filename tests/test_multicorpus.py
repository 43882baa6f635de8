"""Multi-corpus pieces: new recipes, label harmonisation, cross-corpus protocols, the matrix."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from serkit.core.errors import ConfigError, ManifestError, ProtocolError
from serkit.data.corpora import prepare
from serkit.data.labels import FOUR_CLASS, VOCABULARY, LabelSpec, harmonise
from serkit.data.manifest import Utterance, read_manifests, write_manifest
from serkit.data.protocols import check_protocol, make_folds


def _u(i, label, corpus, spk):
    return Utterance(
        id=f"{corpus}{i}",
        audio="x.wav",
        duration=1.0,
        label=label,
        speaker=f"{corpus}_{spk}",
        corpus=corpus,
    )


def test_baved_levels_words_and_duplicates(tmp_path, tone_writer):
    root = tmp_path / "baved"
    tone_writer(root / "3" / "0-m-21-3-1-921.wav", seed=1)
    tone_writer(root / "3" / "0-m-21-3-2-922.wav", seed=2)
    tone_writer(root / "4" / "12-f-19-4-0-100.wav", seed=3)
    (root / "4" / "12-f-19-4-0-101.wav").write_bytes(
        (root / "4" / "12-f-19-4-0-100.wav").read_bytes()
    )
    tone_writer(root / "5" / "1-m-20-4-0-7.wav", seed=4)  # word disagrees with folder
    tone_writer(root / "6" / "2-m-22-6-2-50.wav", seed=5)
    res = prepare("baved", root)
    got = sorted((u.label, u.speaker, u.gender, u.arousal, u.text) for u in res.utterances)
    assert got == [
        ("high-arousal", "baved_0", "m", 2.0, "the film"),
        ("high-arousal", "baved_2", "m", 2.0, "bad"),  # word 6 is سيئ, "bad" (README)
        ("low-arousal", "baved_12", "f", 0.0, "awesome"),
        ("neutral", "baved_0", "m", 1.0, "the film"),
    ]
    reasons = " ".join(r for _, r in res.skipped)
    assert "byte-identical" in reasons and "disagrees with folder" in reasons
    assert all(u.label in VOCABULARY for u in res.utterances)


def test_emospeech_keyword_user_groups_and_background(tmp_path, tone_writer):
    root = tmp_path / "emospeech"
    unk = "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f"
    tone_writer(root / "Metro" / f"help-safe-fearful-20190710134657-{unk}.wav", seed=1)
    tone_writer(root / "Near Lake" / f"go-gunshots-angry-20190710134658-{'ab' * 28}.wav", seed=2)
    tone_writer(root / "Roads" / f"background-safe-calm-20190710134659-{unk}.wav", seed=3)
    tone_writer(root / "Roads" / f"unknown-safe-calm-20190710134660 copy-{unk}.wav", seed=4)
    tone_writer(root / "Roads" / "readme.wav", seed=5)
    res = prepare("emospeech", root)
    by = {u.text: u for u in res.utterances}
    assert by["help"].label == "fear" and by["help"].speaker == "emospeech_unknown-user"
    assert (
        by["go"].label == "anger"
        and by["go"].speaker == "emospeech_" + "ab" * 6
        and by["go"].session == "Near Lake"
    )
    unlabelled = [u for u in res.utterances if u.label is None]
    assert len(unlabelled) == 1 and unlabelled[0].text is None  # background: noise only
    assert any(u.label == "calm" and u.text is None for u in res.utterances)  # keyword "unknown"
    assert len(res.skipped) == 1 and "scheme" in res.skipped[0][1]


def test_ravdess_text_from_statement(tmp_path, tone_writer):
    tone_writer(tmp_path / "r" / "Actor_01" / "03-01-05-01-02-01-01.wav")
    (u,) = prepare("ravdess", tmp_path / "r").utterances
    assert u.text == "Dogs are sitting by the door"


def test_label_spec_restricts_merges_and_refuses_unknown_labels():
    spec = LabelSpec.parse(FOUR_CLASS)
    assert spec.names == ["anger", "happiness", "neutral", "sadness"]
    assert spec.map("calm") == "neutral" and spec.map("boredom") is None
    assert LabelSpec.parse(["angry", "Neutral=neutral+calm"]).to_list() == [
        "anger",
        "neutral=neutral+calm",
    ]
    utts = [
        _u(0, "calm", "a", 0),
        _u(1, "boredom", "a", 0),
        _u(2, "angry", "a", 1),
        _u(3, None, "a", 1),
    ]
    out = harmonise(utts, ["anger", "neutral=neutral+calm"])
    assert [(u.id, u.label) for u in out] == [("a0", "neutral"), ("a2", "anger")]
    with pytest.raises(ManifestError, match=r"label 'joyful' of corpus 'b'"):
        harmonise([_u(0, "joyful", "b", 0), _u(1, "anger", "b", 0)], ["anger"])
    assert [
        u.label for u in harmonise([_u(0, "joyful", "b", 0)], ["happiness=happiness+joyful"])
    ] == ["happiness"]
    with pytest.raises(ManifestError, match="merged into both"):
        LabelSpec.parse("neutral=neutral+calm,calm")
    with pytest.raises(ManifestError, match="occur nowhere"):
        harmonise([_u(0, "anger", "a", 0)], ["anger", "fear"])


def test_loco_and_cross_folds_and_unseen_test_labels():
    utts = [
        _u(i, lab, c, i % 3)
        for c in ("a", "b", "c")
        for i, lab in enumerate(["anger", "sadness"] * 2)
    ]
    folds = make_folds(utts, "loco")
    assert [f.name for f in folds] == ["a", "b", "c"]
    assert all(
        {utts[i].corpus for i in f.test} == {f.name}
        and f.name not in {utts[i].corpus for i in f.train}
        for f in folds
    )
    # a corpus of one or two speakers (TESS, ESD) trains in every fold and is never tested alone
    few = utts + [_u(10 + i, lab, "t", i % 2) for i, lab in enumerate(["anger", "sadness"])]
    folds = make_folds(few, "loco")
    assert [f.name for f in folds] == ["a", "b", "c"] and all(
        "t" in {few[i].corpus for i in f.train} for f in folds
    )
    # a corpus with one class after the label spec (BAVED's neutral level) trains in every
    # fold and is never a test fold: its UA would be one class's recall
    one = utts + [_u(30 + i, "neutral", "n", i) for i in range(4)]
    one += [_u(40 + i, "neutral", c, 9) for i, c in enumerate("abc")]
    folds = make_folds(one, "loco")
    assert [f.name for f in folds] == ["a", "b", "c"] and all(
        "n" in {one[i].corpus for i in f.train} for f in folds
    )
    with pytest.raises(ProtocolError, match="no corpus has 3"):
        make_folds(
            [u for u in few if u.corpus == "t"]
            + [_u(20, "anger", "s", 0), _u(21, "sadness", "s", 0)],
            "loco",
        )
    (f,) = make_folds(utts, "cross:a->b+c")
    assert f.name == "a_to_b+c" and {utts[i].corpus for i in f.train} == {"a"} and len(f.test) == 8
    utts.append(_u(9, "fear", "b", 5))
    with pytest.raises(
        ProtocolError, match=r"label\(s\) \['fear'\] that the training corpora a lack"
    ):
        make_folds(utts, "cross:a->b")
    for bad in ("cross:a->a", "cross:->b", "cross:ab"):
        with pytest.raises(ProtocolError):
            check_protocol(bad)
    with pytest.raises(ProtocolError, match="not in the manifest"):
        make_folds(utts, "cross:a->zz")


def test_combined_manifests_refuse_shared_ids(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_manifest([_u(0, "anger", "a", 0)], a)
    write_manifest([_u(0, "anger", "b", 0), _u(1, "sadness", "b", 1)], b)
    assert len(read_manifests(f"{a},{b}")) == 3
    with pytest.raises(ManifestError, match="in both"):
        read_manifests([a, a])


def test_corpus_normalisation_with_test_statistics_from_k_clips(tmp_path):
    """Issue 31 groundwork: with normalize=corpus, adapt_clips evaluates the test corpus
    standardised with K of its clips' statistics, and with none (the training corpora's mean);
    all clips reproduce the (transductive) headline."""
    from serkit.experiment.bench import run_bench
    from serkit.experiment.config import RunConfig, load_experiment
    from serkit.testing.dummies import toy_multicorpus

    m = toy_multicorpus(tmp_path, corpora=("ca", "cb", "cc"))
    run = RunConfig(progress=False, cache_dir=str(tmp_path / "cache"))

    def bench(half, out, extra=()):
        cfg = load_experiment(
            None,
            ["frontend=logmel", "normalize=corpus", "adapt_clips=[2,0]", f"adapt_half_s={half}"]
            + list(extra),
            manifest=str(m),
            model="logreg",
            protocol="loco",
            seeds=1,
        )
        return run_bench(cfg, tmp_path / out, run, log=lambda *a: None)

    r = bench(0, "o")  # the clips' statistics in full
    assert set(r.adaptation) == {"adapt_none", "adapt2", "adaptall"}
    for c in ("ca", "cb", "cc"):
        assert r.adaptation["adaptall"].per_corpus[c].mean == pytest.approx(
            r.per_corpus[c].ua.mean, abs=0.02
        )
    assert "mean of the training corpora" in r.metric_definitions["adaptation"]
    # shrinkage as `serkit adapt` does it: with a huge half-weight the clips barely move the
    # training corpora's statistics, so every K scores as no adaptation
    stiff = bench(1e9, "stiff")
    for k in ("adapt2", "adaptall"):
        assert stiff.adaptation[k].per_corpus == pytest.approx(
            stiff.adaptation["adapt_none"].per_corpus
        )
    # answer balancing: adaptK balanced, adaptK_unbalanced = the same run without it; with
    # every clip at weight 1 the mean answer on each held-out corpus is uniform
    bal = bench(0, "bal", ["adapt_balance=1.0"])
    assert set(bal.adaptation) == {
        "adapt_none",
        "adapt2",
        "adaptall",
        "adapt2_unbalanced",
        "adaptall_unbalanced",
    }
    for k in ("adapt2", "adaptall"):
        assert bal.adaptation[f"{k}_unbalanced"].per_corpus == pytest.approx(
            r.adaptation[k].per_corpus
        )
    assert bal.adaptation["adapt_none"].per_corpus == pytest.approx(
        r.adaptation["adapt_none"].per_corpus
    )
    with pytest.raises(ConfigError, match="needs normalize=corpus"):
        load_experiment(None, ["adapt_balance=1.0"], manifest=str(m), model="logreg")
    with pytest.raises(ConfigError, match=r"in \[0, 1\]"):
        load_experiment(
            None, ["normalize=corpus", "adapt_balance=2"], manifest=str(m), model="logreg"
        )
    folds = sorted((tmp_path / "bal").rglob("seed0_*.json"))
    assert len(folds) == 3
    for f in folds:
        p = np.array(json.loads(f.read_text())["adapted"]["adaptall"])
        assert p.mean(0) == pytest.approx([0.5, 0.5], abs=1e-3)


def test_loco_bench_reports_per_corpus_and_matrix_files(tmp_path):
    from serkit.experiment.bench import run_bench
    from serkit.experiment.config import RunConfig, load_experiment
    from serkit.experiment.matrix import run_matrix
    from serkit.testing.dummies import toy_multicorpus

    m = toy_multicorpus(tmp_path, corpora=("ca", "cb"))
    run = RunConfig(progress=False, cache_dir=str(tmp_path / "cache"))
    cfg = load_experiment(
        None, ["frontend=logmel"], manifest=str(m), model="logreg", protocol="loco", seeds=1
    )
    r = run_bench(cfg, tmp_path / "o", run, log=lambda *a: None)
    assert set(r.per_corpus) == {"ca", "cb"} and r.ua_corpus_mean.mean == pytest.approx(
        (r.per_corpus["ca"].ua.mean + r.per_corpus["cb"].ua.mean) / 2, abs=1e-4
    )
    assert "UA per test corpus" in r.summary()
    for sc in r.per_corpus.values():  # per-class recall per held-out corpus; UA is its mean
        assert sc.recall and sc.ua.mean == pytest.approx(
            np.mean([m.mean for m in sc.recall.values()]), abs=1e-4
        )
    assert "Recall per class and test corpus" in (tmp_path / "o" / "report.md").read_text()
    doc = run_matrix(
        load_experiment(None, ["frontend=logmel"], manifest=str(m), model="logreg", seeds=1),
        tmp_path / "mx",
        within="kfold-speaker:3",
        run=run,
        log=lambda *a: None,
    )
    assert set(doc["cells"]) == {"ca", "cb"} and set(doc["cells"]["ca"]) == {"ca", "cb"}
    assert doc["cells"]["ca"]["cb"]["run"] == "cells/from_ca"
    assert (
        json.loads((tmp_path / "mx" / "matrix.json").read_text())["within_protocol"]
        == "kfold-speaker:3"
    )
    assert (tmp_path / "mx" / "matrix.png").stat().st_size > 1000 and "| ca |" in (
        tmp_path / "mx" / "matrix.md"
    ).read_text()


def test_matrix_row_of_a_corpus_lacking_a_class_is_scored_on_its_classes(tmp_path):
    from serkit.experiment.config import RunConfig, load_experiment
    from serkit.experiment.matrix import run_matrix
    from serkit.testing.dummies import toy_multicorpus

    a = toy_multicorpus(tmp_path / "a", corpora=("ca",), labels={"high": "anger", "low": "sadness"})
    b = toy_multicorpus(tmp_path / "b", corpora=("cb",), labels={"high": "anger", "low": "calm"})
    cfg = load_experiment(
        None,
        ["frontend=logmel"],
        manifest=f"{a},{b}",
        model="logreg",
        seeds=1,
        labels=["anger", "neutral=neutral+calm", "sadness"],
    )
    doc = run_matrix(
        cfg,
        tmp_path / "mx",
        within="kfold-speaker:3",
        run=RunConfig(progress=False, cache_dir=str(tmp_path / "cache")),
        log=lambda *x: None,
    )
    assert doc["cells"]["ca"]["ca"]["labels"] == ["anger", "sadness"]
    assert (
        doc["cells"]["cb"]["cb"]["labels"] == ["anger", "neutral"]
        and doc["cells"]["cb"]["ca"]["chance"] == 0.5
    )


def test_loso_within_one_corpus_of_a_combined_manifest():
    utts = [
        _u(i, lab, c, i % 3) for c in ("a", "b") for i, lab in enumerate(["anger", "sadness"] * 3)
    ]
    folds = make_folds(utts, "loso:a")
    assert [f.name for f in folds] == ["a_0", "a_1", "a_2"]
    assert all({utts[i].corpus for i in f.test} == {"a"} and len(f.train) == 10 for f in folds)
    with pytest.raises(ProtocolError, match="no corpus"):
        make_folds(utts, "loso:zz")


def test_logreg_chooses_c_and_layer_leaving_one_training_corpus_out(tmp_path, monkeypatch):
    """Issue 31 item 1: `C: auto` picks C (and the layer) by inner folds that leave one
    TRAINING corpus out (`inner_groups: corpus`); the outer test corpus is never involved."""
    import serkit.estimators.logreg as lr_mod
    from serkit.experiment.bench import run_bench
    from serkit.experiment.config import RunConfig, load_experiment
    from serkit.testing.dummies import toy_multicorpus

    seen = []
    real = lr_mod.select_layer

    def spy(p, y, groups, folds, make_pipe, *a, **k):
        seen.append((sorted(set(groups)), folds))
        return real(p, y, groups, folds, make_pipe, *a, **k)

    monkeypatch.setattr(lr_mod, "select_layer", spy)
    m = toy_multicorpus(tmp_path, corpora=("ca", "cb", "cc"))
    cfg = load_experiment(
        None,
        ["frontend=logmel", "model.C=auto", "model.inner_groups=corpus", "model.C_grid=[0.01,1.0]"],
        manifest=str(m),
        model="logreg",
        protocol="loco",
        seeds=1,
    )
    r = run_bench(
        cfg,
        tmp_path / "o",
        RunConfig(progress=False, cache_dir=str(tmp_path / "c")),
        log=lambda *a: None,
    )
    records = [
        __import__("json").loads(p.read_text())
        for p in sorted((tmp_path / "o" / "folds").glob("*.json"))
    ]
    for rec in records:
        held_out = rec["fold"]
        assert rec["fit"]["chosen_C"] in (0.01, 1.0)
        assert any(k.startswith("C=0.01/layer=") for k in rec["fit"]["inner_val_ua"])
    # every inner split grouped by the two TRAINING corpora of its fold, never the held-out one
    # (the latency measurement's toy fit has no corpora: it groups by its toy speakers)
    folds_seen = [(g, f) for g, f in seen if set(g) <= {"ca", "cb", "cc"}]
    assert len(folds_seen) == 2 * 3 and all(len(g) == 2 and f == 2 for g, f in folds_seen)
    assert {tuple(g) for g, _ in folds_seen} == {
        ("cb", "cc"),
        ("ca", "cc"),
        ("ca", "cb"),
    } and held_out
    assert r.ua_corpus_mean is not None


def _two_corpora(n: int):
    """Two toy corpora of ``n`` clips ``(2, 30, 6)`` each, 3 classes; the second shifted by 3
    and scaled by 2 (a corpus offset a per-corpus standardisation removes)."""
    rng = np.random.default_rng(0)

    def corpus(offset, scale):
        y = np.arange(n) % 3
        return [(rng.normal(0, 1, (2, 30, 6)) + 0.8 * lab) * scale + offset for lab in y], y

    return corpus(0.0, 1.0), corpus(3.0, 2.0)


def test_logreg_carries_a_per_corpus_standardisation_exactly(tmp_path):
    """Issue 31: a logreg fitted on per-corpus standardised frames takes raw frames once
    ``set_domain`` gives it a domain's statistics (folded into its scaler exactly), ``adapt``
    re-estimates them from frames (shrunk by ``weight``), and the state round-trips."""
    from serkit.estimators import build_model
    from serkit.estimators.base import Split
    from serkit.features.normalize import SpeakerNormalizer

    (xa, ya), (xb, yb) = _two_corpora(40)
    norm = SpeakerNormalizer().fit(xa + xb, ["a"] * 40 + ["b"] * 40)
    za = [norm.transform(x, "a") for x in xa]
    zb = [norm.transform(x, "b") for x in xb]
    m = build_model({"name": "logreg", "C": 0.1, "layer": 1}, 3, 2, 6)
    m.fit(
        Split(za + zb, np.concatenate([ya, yb]), ["s"] * 80, [str(i) for i in range(80)]), None, 0
    )
    want_b = m.predict_proba(zb)
    st = norm.stats["a"]
    m.set_domain(st.mean, st.std)
    assert np.abs(m.predict_proba(xa) - _plain(m, za)).max() < 1e-5
    m.adapt(xb)  # weight 1: corpus b's own statistics
    assert np.abs(m.predict_proba(xb) - want_b).max() < 1e-5
    back = build_model({"name": "logreg", "C": 0.1, "layer": 1}, 3, 2, 6)
    back.load_state(m.state())
    assert back.domain is not None and np.abs(back.predict_proba(xb) - want_b).max() < 1e-5
    half = build_model({"name": "logreg", "C": 0.1, "layer": 1}, 3, 2, 6)
    half.load_state(m.state())
    half.set_domain(st.mean, st.std)
    half.adapt(xb, weight=0.5)  # halfway from corpus a's statistics to corpus b's
    mid = 0.5 * (st.mean + norm.stats["b"].mean).reshape(2, 6)
    assert half.domain[0] == pytest.approx(mid, abs=1e-5)


def _plain(m, z):
    """``m``'s predictions of already-standardised frames (its inner scaler, no domain)."""
    from serkit.estimators.layer_choice import pooled_stats

    mean, scale = m.inner
    x = (pooled_stats(z)[:, m.layer] - mean) / scale
    lr = m.pipe[-1]
    logits = x @ lr.coef_.T + lr.intercept_
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_training_clips_standardised_per_speaker_exactly():
    """Issue 31: ``train_norm=speaker`` gives the training split each clip standardised with
    its own speaker's raw frame statistics (derived exactly from the corpus-standardised
    table), ``corpus+speaker`` both copies; the test side is untouched; the option needs
    ``normalize=corpus`` and a speaker on every training clip, and changes the fingerprint."""
    from serkit.core.errors import ConfigError
    from serkit.experiment.config import load_experiment
    from serkit.experiment.dataset import Dataset
    from serkit.features.normalize import SpeakerNormalizer, normalize_features

    rng = np.random.default_rng(1)
    utts, raw = [], {}
    for c, off in (("ca", 0.0), ("cb", 4.0)):
        for s in range(2):
            for i in range(6):
                u = _u(len(utts), "anger" if i % 2 else "sadness", c, s)
                utts.append(u)
                raw[u.id] = (rng.normal(0, 1 + s, (2, 20 + i, 3)) + off + 2 * s).astype(np.float32)
    feats, norm = normalize_features(raw, {u.id: u.corpus for u in utts}, "corpus")
    d = Dataset(utts, feats, ["anger", "sadness"], None, None, normalizer=norm)
    idx = [0, 3, 7, 13, 20]
    direct = SpeakerNormalizer().fit(
        [raw[u.id] for u in utts], [f"{u.corpus}/{u.speaker}" for u in utts]
    )
    spk = d.fit_split(idx, "speaker")
    for j, i in enumerate(idx):
        want = direct.transform(raw[utts[i].id], f"{utts[i].corpus}/{utts[i].speaker}")
        assert np.abs(spk.feats[j].astype(np.float32) - want).max() < 0.02  # float16 table
        assert abs(float(want.mean())) < 3  # the speaker's offset is gone
    same = d.fit_split(idx)
    assert all(a is b for a, b in zip(same.feats, d.split(idx).feats))
    both = d.fit_split(idx, "corpus+speaker")
    assert len(both) == 2 * len(idx) and list(both.labels) == list(same.labels) * 2
    assert both.ids[len(idx) :] == [f"{i}#speaker" for i in same.ids]
    assert both.corpora == same.corpora * 2
    assert np.array_equal(both.feats[len(idx) + 1], spk.feats[1])
    # augmented variants (standardised as their clip) get their clip's map in every view
    variants = [[(same.feats[j], np.array([1.0, 0.0]))] for j in range(len(idx))]
    sv = d.fit_split(idx, "corpus+speaker", variants=variants)
    assert len(sv.variants) == 2 * len(idx)
    assert sv.variants[1][0][0] is same.feats[1]
    assert np.array_equal(sv.variants[len(idx) + 1][0][0], spk.feats[1])
    assert np.array_equal(sv.variants[-1][0][1], [1.0, 0.0])
    utts[0].speaker = None
    d2 = Dataset(utts, feats, ["anger", "sadness"], None, None, normalizer=norm)
    with pytest.raises(ConfigError, match="speaker id"):
        d2.fit_split(idx, "speaker")
    with pytest.raises(ConfigError, match="needs normalize=corpus"):
        load_experiment(None, ["train_norm=speaker"], manifest="m.jsonl", model="logreg")
    a = load_experiment(None, ["normalize=corpus"], manifest="m.jsonl", model="logreg")
    b = load_experiment(
        None, ["normalize=corpus", "train_norm=speaker"], manifest="m.jsonl", model="logreg"
    )
    assert a.fingerprint({}) != b.fingerprint({})


def test_loco_view_is_each_corpus_with_the_other_corpora_statistics():
    """Issue 31: ``train_norm=corpus+speaker+loco`` adds a third copy of every training clip,
    standardised with the mean statistics of the OTHER training corpora (exactly what an unseen
    corpus gets unadapted: ``mean_stats``); corpora outside the training pool (a held-out test
    corpus) never enter; bad view strings and a single training corpus are refused."""
    from serkit.core.errors import ConfigError
    from serkit.experiment.config import describe_train_norm, load_experiment
    from serkit.experiment.dataset import Dataset
    from serkit.features.normalize import SpeakerNormalizer, normalize_features

    rng = np.random.default_rng(2)
    utts, raw = [], {}
    for c, off, sc in (("ca", 0.0, 1.0), ("cb", 4.0, 2.0), ("cc", -3.0, 0.5)):
        for s in range(2):
            for i in range(4):
                u = _u(len(utts), "anger" if i % 2 else "sadness", c, s)
                utts.append(u)
                raw[u.id] = (rng.normal(off, sc, (2, 15 + i, 3)) + s).astype(np.float32)
    feats, norm = normalize_features(raw, {u.id: u.corpus for u in utts}, "corpus")
    d = Dataset(utts, feats, ["anger", "sadness"], None, None, normalizer=norm)
    train = [i for i, u in enumerate(utts) if u.corpus != "cc"]  # cc: the held-out corpus
    idx = train[::3]
    direct = SpeakerNormalizer().fit([raw[u.id] for u in utts], [u.corpus for u in utts])
    got = d.fit_split(idx, "corpus+speaker+loco", pool=train)
    n = len(idx)
    assert len(got) == 3 * n and got.ids[2 * n :] == [f"{utts[i].id}#loco" for i in idx]
    assert np.array_equal(got.feats[0], d.split(idx).feats[0])
    for j, i in enumerate(idx):
        other = "cb" if utts[i].corpus == "ca" else "ca"  # never cc, the held-out corpus
        st = direct.stats[other]
        want = (raw[utts[i].id] - st.mean) / st.std
        assert np.abs(got.feats[2 * n + j].astype(np.float32) - want).max() < 0.02
    only = d.fit_split(idx, "loco", pool=train)
    assert only.ids == d.split(idx).ids and np.array_equal(only.feats[1], got.feats[2 * n + 1])
    with pytest.raises(ConfigError, match="two training corpora"):
        d.fit_split([i for i in idx if utts[i].corpus == "ca"], "loco")
    for bad in ("loco+corpus", "corpus", "corpus+corpus", "accent"):
        with pytest.raises(ConfigError, match="train_norm must be"):
            load_experiment(
                None, ["normalize=corpus", f"train_norm={bad}"], manifest="m.jsonl", model="logreg"
            )
    assert "other training corpora" in describe_train_norm("corpus+loco")


def test_domain_perturbation_is_deterministic_bounded_and_varied():
    """Issue 31's augmentation between corpora: one copy per seed, the same copy for the same
    seed, finite and within [-1, 1]; the channels and speed changes all occur."""
    from serkit.audio.corrupt import DOMAIN_CHANNELS, perturb_domain

    sr = 16000
    t = np.arange(sr) / sr
    x = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(
        np.float32
    )
    seen, lengths = set(), set()
    for s in range(40):
        y, what = perturb_domain(x, sr, s)
        y2, what2 = perturb_domain(x, sr, s)
        assert np.array_equal(y, y2) and what == what2
        assert y.dtype == np.float32 and np.isfinite(y).all() and np.abs(y).max() <= 1.0
        assert 0.89 * x.size <= y.size <= 1.12 * x.size
        assert ("speed" in what) == (y.size != x.size)
        seen.add(what["channel"])
        lengths.add(y.size)
    assert seen == set(DOMAIN_CHANNELS) and len(lengths) > 5


def test_logreg_trains_on_label_preserving_variants_only(rng):
    from serkit.core.errors import ConfigError
    from serkit.estimators import build_model
    from serkit.estimators.base import Split
    from serkit.experiment.config import experiment_from_dict, model_component

    n, y = 24, np.arange(24) % 2
    feats = [rng.standard_normal((2, 5, 3)).astype(np.float32) + yi for yi in y]
    spk = [f"s{i % 4}" for i in range(n)]
    eye = np.eye(2, dtype=np.float32)
    variants = [[(f * 1.5 + 0.3, eye[yi])] for f, yi in zip(feats, y)]
    cfg = model_component({"name": "logreg", "layer": 0})

    def fit(v):
        m = build_model(cfg, 2, 2, 3)
        m.fit(Split(feats, y, spk, [str(i) for i in range(n)], v), None, 0)
        return m

    plain, aug = fit(None), fit(variants)
    assert plain.pipe[0].n_samples_seen_ == n and aug.pipe[0].n_samples_seen_ == 2 * n
    assert not np.allclose(plain.pipe[-1].coef_, aug.pipe[-1].coef_)
    mixed = [[(f, np.array([0.7, 0.3], np.float32))] for f in feats]
    with pytest.raises(ConfigError, match="label-preserving"):
        fit(mixed)
    assert experiment_from_dict({"model": "logreg", "augment": {"name": "domain"}})
    with pytest.raises(ConfigError, match="only noise, domain"):
        experiment_from_dict({"model": "logreg", "augment": {"name": "eam"}})


def test_inner_selection_trains_on_extra_rows_of_its_training_groups_only(rng):
    """Augmented rows join an inner training part only when their clip's group is in it, and
    are never scored: label-flipped copies under a group no fold has change nothing; under
    the clips' own groups they train and spoil the choice."""
    from serkit.estimators.layer_choice import select_layer

    n = 60
    y = np.arange(n) % 2
    pooled = rng.standard_normal((n, 2, 4)) + y[:, None, None] * np.array([1.5, 0.0])[:, None]
    groups = [f"g{i % 3}" for i in range(n)]
    base = select_layer(pooled, y, groups, 3)
    # flipped-label copies of group "nowhere": never in any inner training part
    stray = (pooled.copy(), 1 - y, ["nowhere"] * n)
    assert select_layer(pooled, y, groups, 3, extra=stray) == base
    # the same flipped copies under the clips' own groups do train (and hurt layer 0)
    poison = (pooled.copy(), 1 - y, groups)
    _, sc = select_layer(pooled, y, groups, 3, extra=poison)
    assert sc[0] < base[1][0] - 0.2


def test_loco_bench_with_domain_variants_of_the_fit_clips(tmp_path):
    """bench with augment.name=domain on per-corpus standardised features: variants only of
    the clips the folds train on, standardised with their corpus's clean statistics."""
    from serkit.experiment.bench import run_bench
    from serkit.experiment.config import RunConfig, load_experiment
    from serkit.testing.dummies import toy_multicorpus

    m = toy_multicorpus(tmp_path, corpora=("ca", "cb", "cc"))
    run = RunConfig(progress=False, cache_dir=str(tmp_path / "cache"))
    over = ["frontend=logmel", "normalize=corpus", "augment.name=domain", "augment.variants=1"]
    cfg = load_experiment(
        None, over + ["val_fraction=0"], manifest=str(m), model="logreg", protocol="loco", seeds=1
    )
    r = run_bench(cfg, tmp_path / "o", run, log=lambda *a: None)
    n = sum(1 for _ in open(m))
    assert r.augment.config.name == "domain" and "corpora" in r.augment.note
    assert r.augment.banks[0].planned == n and r.augment.banks[0].encoded == n
    capped = load_experiment(
        None,
        over + ["max_per_corpus=4"],
        manifest=str(m),
        model="logreg",
        protocol="loco",
        seeds=1,
    )
    r2 = run_bench(capped, tmp_path / "o2", run, log=lambda *a: None)
    assert r2.augment.banks[0].planned < n  # only the clips some fold trains on
    assert r2.augment.banks[0].encoded == 0  # the same copies as the first run: cached
    # with per-speaker training views too: each variant in its clip's views (cached bank)
    views = load_experiment(
        None,
        over + ["val_fraction=0", "train_norm=corpus+speaker"],
        manifest=str(m),
        model="logreg",
        protocol="loco",
        seeds=1,
    )
    r3 = run_bench(views, tmp_path / "o3", run, log=lambda *a: None)
    assert r3.augment.banks[0].encoded == 0 and set(r3.per_corpus) == {"ca", "cb", "cc"}


def test_a_single_class_corpus_trains_with_statistics_of_all_its_clips(tmp_path):
    """Issue 31, BAVED's neutral level: a corpus left with one class by the label spec trains in
    every LOCO fold, is never a test fold, and is standardised with the statistics of ALL its
    manifest clips (the other levels too), never with its one class's own mean; those extra
    clips are never trained or tested on. A logreg LOCO bench with leave-one-training-corpus-out
    selection runs over it."""
    from serkit.data.manifest import read_manifest
    from serkit.experiment.bench import run_bench
    from serkit.experiment.config import RunConfig, load_experiment
    from serkit.experiment.dataset import load_dataset
    from serkit.features import FeatureCache, build_frontend
    from serkit.features.normalize import SpeakerNormalizer
    from serkit.testing.dummies import toy_multicorpus

    m = toy_multicorpus(tmp_path, corpora=("ca", "cb", "cc", "cn"))
    utts = [
        dataclasses.replace(u, label="high-arousal")
        if u.corpus == "cn" and u.label == "anger"
        else u
        for u in read_manifest(m)
    ]
    write_manifest(utts, m)
    run = RunConfig(progress=False, cache_dir=str(tmp_path / "cache"))
    sets = ["frontend=logmel", "normalize=corpus", "labels=[anger,sadness]"]
    cfg = load_experiment(None, sets, manifest=str(m), model="logreg", protocol="loco", seeds=1)
    d = load_dataset(cfg, run, log=lambda *a: None)
    assert {u.label for u in d.utts if u.corpus == "cn"} == {"sadness"}
    assert not any(u.label == "high-arousal" for u in d.utts) and set(d.feats) == {
        u.id for u in d.utts
    }
    fe, cache = build_frontend(cfg.data.frontend), FeatureCache(run.cache_dir)
    cn = [u for u in utts if u.corpus == "cn"]
    direct = SpeakerNormalizer().fit([cache.get(fe, u) for u in cn], ["cn"] * len(cn))
    np.testing.assert_allclose(d.normalizer.stats["cn"].mean, direct.stats["cn"].mean, atol=1e-5)
    only = SpeakerNormalizer().fit(
        [cache.get(fe, u) for u in cn if u.label == "sadness"], ["cn"] * (len(cn) // 2)
    )
    assert np.abs(d.normalizer.stats["cn"].mean - only.stats["cn"].mean).max() > 1e-3
    # per-speaker training views: its clips keep the corpus view (their speakers' statistics
    # would come from one class), every other corpus's clips move
    idx = list(range(len(d.utts)))
    spk = d.fit_split(idx, "speaker")
    for j, u in enumerate(d.utts):
        same = np.array_equal(spk.feats[j], d.feats[u.id])
        assert same == (u.corpus == "cn"), u.id
    sets += ["model.C=auto", "model.inner_groups=corpus", "model.C_grid=[0.1]"]
    cfg = load_experiment(None, sets, manifest=str(m), model="logreg", protocol="loco", seeds=1)
    r = run_bench(cfg, tmp_path / "run", run, log=lambda *a: None)
    assert sorted(r.per_corpus) == ["ca", "cb", "cc"]


def test_balancing_offsets_make_the_mean_answer_uniform():
    """Issue 31: the offsets that balance answers on unlabelled clips: mean posterior uniform,
    zero mean, classes a model never saw (-inf) left at 0, and shifting every logit of one
    class by c moves its offset by -c (known value)."""
    from serkit.core.calibration import balanced_proba, balancing_offsets

    rng = np.random.default_rng(1)
    z = rng.normal(0, 1, (60, 4)) + np.array([2.0, 0.0, -1.0, 0.0])
    z[:, 3] = -np.inf
    b = balancing_offsets(z)
    assert b[3] == 0 and abs(b[:3].sum()) < 1e-9
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    q = balanced_proba(p, b)
    assert q[:, :3].mean(0) == pytest.approx([1 / 3] * 3, abs=1e-5) and (q[:, 3] == 0).all()
    shifted = z.copy()
    shifted[:, 0] += 1.5
    b2 = balancing_offsets(shifted)
    assert (b2 - b)[:3] == pytest.approx(np.array([-1.5, 0, 0]) + 0.5, abs=1e-5)
    assert np.all(balancing_offsets(z[:0]) == 0)  # no clips: nothing moves


def test_logreg_adapt_balances_its_answers_shrunk_and_persisted():
    """Issue 31: a per-corpus logreg with ``adapt_balance`` adds, after the standardisation,
    ``share x weight x`` the offsets that balance its answers on the adaptation clips: with
    weight 1 the mean answer on those clips is uniform; weight 0.5 adds half the offsets
    (estimated under the half-way standardisation); coefficients never change; share 0 is the
    standardisation alone; the share survives a state round trip."""
    from serkit.estimators import build_model
    from serkit.estimators.base import Split
    from serkit.features.normalize import SpeakerNormalizer

    (xa, ya), (xb, yb) = _two_corpora(45)
    norm = SpeakerNormalizer().fit(xa + xb, ["a"] * 45 + ["b"] * 45)
    z = [norm.transform(x, "a") for x in xa] + [norm.transform(x, "b") for x in xb]
    spec = {"name": "logreg", "C": 0.1, "layer": 1}
    m = build_model(spec, 3, 2, 6)
    m.fit(Split(z, np.concatenate([ya, yb]), ["s"] * 90, [str(i) for i in range(90)]), None, 0)
    st = norm.stats["a"]
    m.set_domain(st.mean, st.std)
    plain = build_model(spec, 3, 2, 6)
    plain.load_state(m.state())
    m.adapt_balance = 1.0
    trained = m.state()
    # a skewed domain: mostly class-0-like clips, shifted
    new = [x * 1.5 + 1.0 for x, y in zip(xb, yb) if y == 0] + [xb[1] * 1.5 + 1.0]
    info = m.adapt(new)
    plain.adapt(new)
    assert np.array_equal(m.state()["coef"], trained["coef"])
    assert m.predict_proba(new).mean(0) == pytest.approx([1 / 3] * 3, abs=1e-4)
    assert not np.allclose(plain.predict_proba(new).mean(0), [1 / 3] * 3, atol=0.05)
    assert set(info["balance"]["offsets"]) == {"0", "1", "2"}
    assert np.array_equal(plain.state()["intercept"], trained["intercept"])
    half = build_model(spec, 3, 2, 6)
    half.load_state(trained)
    assert half.adapt_balance == 1.0
    half_plain = build_model(spec, 3, 2, 6)
    half_plain.load_state(trained)
    half_plain.adapt_balance = 0.0
    half.adapt(new, weight=0.5)
    half_plain.adapt(new, weight=0.5)
    from serkit.core.calibration import balancing_offsets

    zz = np.log(half_plain.predict_proba(new))
    want = half_plain.state()["intercept"] + 0.5 * balancing_offsets(zz)
    assert half.state()["intercept"] == pytest.approx(want, abs=1e-6)
    assert np.allclose(half.state()["scaler_mean"], half_plain.state()["scaler_mean"])


def test_moments_keep_the_most_recent_clip_summaries_and_round_trip():
    """Online adaptation's running moments stay bounded: a sum keeps the most recent
    ``MAX_CLIPS`` clip summaries (one call's moments keep all), and JSON round-trips them
    exactly."""
    from serkit.estimators.base import Moments

    one = [
        Moments(1.0, np.zeros(3), np.zeros(3), np.full((1, 4), i, np.float32)) for i in range(200)
    ]
    total = one[0]
    for m in one[1:]:
        total = total + m
    assert total.n == 200 and total.clips.shape == (Moments.MAX_CLIPS, 4)
    assert total.clips[0, 0] == 200 - Moments.MAX_CLIPS and total.clips[-1, 0] == 199
    back = Moments.from_dict(json.loads(json.dumps(total.to_dict())))
    assert np.array_equal(back.clips, total.clips) and back.n == total.n
    assert Moments.from_dict(Moments(1.0, np.zeros(2), np.ones(2)).to_dict()).clips is None


def test_rule_labelled_corpus_only_trains(tmp_path, tone_writer, monkeypatch):
    """Issue 31, ninth session: ``baved-weak`` reads categories off BAVED's level and word
    (level 0 sadness, 2 on a positive word happiness, on a negative word anger, on another word
    no category) and marks them ``label_rule``; such a corpus is never a LOCO test fold, never
    a validation speaker or an inner validation part, a speaker protocol that would test on it
    is refused, and the clips without a category count in its statistics."""
    import serkit.estimators.logreg as logreg_mod
    from serkit.data.manifest import read_manifest
    from serkit.data.protocols import make_folds, training_only_corpora, validation_split
    from serkit.experiment.bench import run_bench
    from serkit.experiment.config import RunConfig, load_experiment
    from serkit.experiment.dataset import load_dataset
    from serkit.features import FeatureCache, build_frontend
    from serkit.features.normalize import SpeakerNormalizer
    from serkit.testing.dummies import toy_multicorpus

    root = tmp_path / "baved"
    for k, name in enumerate(
        ["0-m-21-0-0-1", "0-m-21-0-1-2", "0-m-21-4-2-3", "0-m-21-6-2-4", "0-m-21-2-2-5"]
    ):
        tone_writer(root / name.split("-")[3] / f"{name}.wav", seed=k)
    got = {
        u.id.split("_", 2)[2]: (u.label, u.label_rule is not None)
        for u in prepare("baved-weak", root).utterances
    }
    assert got == {
        "0-m-21-0-0-1": ("sadness", True),
        "0-m-21-0-1-2": ("neutral", True),
        "0-m-21-4-2-3": ("happiness", True),  # "awesome"
        "0-m-21-6-2-4": ("anger", True),  # "bad"
        "0-m-21-2-2-5": ("high-arousal", True),  # "this": no category
    }
    write_manifest(prepare("baved-weak", root).utterances, tmp_path / "w.jsonl")
    assert all(u.label_rule for u in read_manifest(tmp_path / "w.jsonl"))  # round trip

    # a toy 'cw' with both classes, labels from a rule, one clip per speaker left uncategorised
    m = toy_multicorpus(tmp_path, corpora=("ca", "cb", "cc", "cw"))
    utts, seen = [], set()
    for u in read_manifest(m):
        if u.corpus == "cw":
            u = dataclasses.replace(u, label_rule="toy rule")
            if u.speaker not in seen:
                seen.add(u.speaker)
                u = dataclasses.replace(u, label="high-arousal")
        utts.append(u)
    write_manifest(utts, m)
    lab = [u for u in utts if u.label != "high-arousal"]
    assert training_only_corpora(lab) == {"cw"}
    assert [f.name for f in make_folds(lab, "loco")] == ["ca", "cb", "cc"]
    with pytest.raises(ProtocolError, match="derived by a rule"):
        make_folds(lab, "kfold-speaker:3")
    for seed in range(5):
        _, val = validation_split(lab, list(range(len(lab))), seed, 0.5)
        assert val and not any(lab[i].corpus == "cw" for i in val)

    run = RunConfig(progress=False, cache_dir=str(tmp_path / "cache"))
    sets = ["frontend=logmel", "normalize=corpus", "labels=[anger,sadness]"]
    cfg = load_experiment(None, sets, manifest=str(m), model="logreg", protocol="loco", seeds=1)
    d = load_dataset(cfg, run, log=lambda *a: None)
    assert d.train_only == {"cw"} and not any(u.label == "high-arousal" for u in d.utts)
    fe, cache = build_frontend(cfg.data.frontend), FeatureCache(run.cache_dir)
    cw = [u for u in utts if u.corpus == "cw"]
    direct = SpeakerNormalizer().fit([cache.get(fe, u) for u in cw], ["cw"] * len(cw))
    np.testing.assert_allclose(d.normalizer.stats["cw"].mean, direct.stats["cw"].mean, atol=1e-5)

    seen_train_only = []
    real = logreg_mod.select_layer

    def spy(*a, train_only=frozenset(), **k):
        if "cw" in set(a[2]):  # the corpus-grouped inner folds of a LOCO fold
            seen_train_only.append(set(train_only))
        return real(*a, train_only=train_only, **k)

    monkeypatch.setattr(logreg_mod, "select_layer", spy)
    sets += ["model.C=auto", "model.inner_groups=corpus", "model.C_grid=[0.1]"]
    cfg = load_experiment(None, sets, manifest=str(m), model="logreg", protocol="loco", seeds=1)
    r = run_bench(cfg, tmp_path / "run", run, log=lambda *a: None)
    assert sorted(r.per_corpus) == ["ca", "cb", "cc"]
    assert seen_train_only == [{"cw"}] * 3
    # a final fit (serkit train) tests on no fold, so it trains on the corpus under any protocol
    from serkit.experiment.train import train_model

    cfg = load_experiment(None, sets, manifest=str(m), model="logreg", seeds=1)
    assert cfg.data.protocol  # the default protocol, which would refuse to test on 'cw'
    train_model(cfg, tmp_path / "m.pt", run=run, log=lambda *a: None)
    assert (tmp_path / "m.pt").exists()
