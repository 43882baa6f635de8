import json

import pytest

from serkit.core.errors import ProtocolError
from serkit.data.corpora import Utterance
from serkit.data.protocols import (
    Fold,
    bundled_splits,
    check_folds,
    check_protocol,
    fixed_split,
    make_folds,
    validation_split,
)


def _utts(spk_counts, label_cycle=("a", "b", "c"), session=None):
    out, k = [], 0
    for s, n in spk_counts.items():
        for i in range(n):
            out.append(
                Utterance(
                    id=f"{s}_{i}",
                    audio="x.wav",
                    duration=1.0,
                    label=label_cycle[k % len(label_cycle)],
                    speaker=s,
                    session=session(s) if session else None,
                )
            )
            k += 1
    return out


def _assert_speaker_independent(utts, folds):
    for f in folds:
        assert not ({utts[i].speaker for i in f.train} & {utts[i].speaker for i in f.test})
    covered = sorted(i for f in folds for i in f.test)
    assert covered == list(range(len(utts)))  # every utterance tested exactly once


def test_loso():
    utts = _utts({"s1": 4, "s2": 3, "s3": 5})
    folds = make_folds(utts, "loso")
    assert [f.name for f in folds] == ["s1", "s2", "s3"]
    assert [len(f.test) for f in folds] == [4, 3, 5]
    _assert_speaker_independent(utts, folds)


def test_loso_session():
    utts = _utts({"s1F": 2, "s1M": 2, "s2F": 3, "s2M": 1}, session=lambda s: s[:2])
    folds = make_folds(utts, "loso-session")
    assert [f.name for f in folds] == ["s1", "s2"]
    _assert_speaker_independent(utts, folds)


def test_kfold_speaker_is_grouped_stratified_and_deterministic():
    utts = _utts({f"s{i}": 3 + (i % 4) * 5 for i in range(12)})
    folds = make_folds(utts, "kfold-speaker:4")
    assert len(folds) == 4
    _assert_speaker_independent(utts, folds)
    again = make_folds(utts, "kfold-speaker:4")
    assert [f.test for f in folds] == [f.test for f in again]


def test_ravdess5_fixed_actor_folds():
    utts = _utts({f"ravdess_{a:02d}": 2 for a in range(1, 25)})
    folds = make_folds(utts, "folds:ravdess5")
    assert len(folds) == 5
    test_actors = {f.name: sorted({int(utts[i].speaker[-2:]) for i in f.test}) for f in folds}
    assert test_actors["fold1"] == [2, 5, 14, 15, 16]
    assert test_actors["fold5"] == [1, 4, 9, 22]
    _assert_speaker_independent(utts, folds)


def test_emobox_ravdess6_is_the_emobox_actor_assignment():
    utts = _utts({f"ravdess_{a:02d}": 2 for a in range(1, 25)})
    folds = make_folds(utts, "folds:emobox-ravdess6")
    test_actors = {f.name: sorted({int(utts[i].speaker[-2:]) for i in f.test}) for f in folds}
    assert test_actors == {
        "fold1": [1, 11, 20, 21],
        "fold2": [4, 10, 12, 14],
        "fold3": [8, 9, 19, 23],
        "fold4": [3, 5, 7, 24],
        "fold5": [2, 15, 16, 18],
        "fold6": [6, 13, 17, 22],
    }
    _assert_speaker_independent(utts, folds)
    assert "emo-box/EmoBox" in fixed_split("emobox-ravdess6").source
    assert {"ravdess5", "emobox-ravdess6"} <= set(bundled_splits())


def test_split_file_is_a_protocol_and_bad_splits_are_refused(tmp_path):
    utts = _utts({"a": 2, "b": 2, "c": 2})
    good = tmp_path / "abc.json"
    good.write_text(json.dumps({"source": "test", "folds": {"x": ["a"], "y": ["b", "c"]}}))
    folds = make_folds(utts, f"folds:{good}")
    assert [f.name for f in folds] == ["x", "y"] and len(folds[1].test) == 4
    check_protocol(f"folds:{good}")
    twice = tmp_path / "twice.json"
    twice.write_text(json.dumps({"source": "test", "folds": {"x": ["a", "b"], "y": ["b", "c"]}}))
    with pytest.raises(ProtocolError, match="in folds x and y"):
        make_folds(utts, f"folds:{twice}")
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"source": "test", "folds": {"x": ["a"], "y": ["b"]}}))
    with pytest.raises(ProtocolError, match=r"speaker\(s\) \['c'\].*in no fold"):
        make_folds(utts, f"folds:{short}")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ProtocolError, match="not a split file"):
        check_protocol(f"folds:{bad}")
    with pytest.raises(ProtocolError, match="no bundled split"):
        check_protocol("folds:nonesuch")


def test_leaking_folds_refused():
    utts = _utts({"s1": 2, "s2": 2})
    with pytest.raises(ProtocolError, match="both train and test"):
        check_folds(utts, [Fold("bad", [0, 2], [1, 3])])


def test_missing_speakers_refused():
    utts = _utts({"s1": 2})
    utts[0].speaker = None
    with pytest.raises(ProtocolError, match="needs a speaker"):
        make_folds(utts, "loso")
    with pytest.raises(ProtocolError, match="unknown protocol"):
        make_folds(_utts({"s1": 2, "s2": 2}), "random")
    with pytest.raises(ProtocolError, match="2 <= K"):
        make_folds(_utts({"s1": 2, "s2": 2}), "kfold-speaker:5")


def test_validation_split_uses_training_speakers_only():
    utts = _utts({f"s{i}": 4 for i in range(10)})
    fold = make_folds(utts, "loso")[0]
    fit, val = validation_split(utts, fold.train, seed=3, fraction=0.2)
    test_spk = {utts[i].speaker for i in fold.test}
    val_spk = {utts[i].speaker for i in val}
    assert len(val_spk) == 2 and not (val_spk & test_spk)
    assert not (val_spk & {utts[i].speaker for i in fit})
    assert sorted(fit + val) == sorted(fold.train)
    # seed changes the draw, same seed reproduces it
    assert validation_split(utts, fold.train, seed=3)[1] == val
    draws = {tuple(validation_split(utts, fold.train, seed=s)[1]) for s in range(6)}
    assert len(draws) > 1
