"""Every recipe on a tiny synthetic tree that uses the corpus's real file-naming scheme."""

from collections import Counter

import pytest

from serkit.core.errors import ManifestError
from serkit.data.corpora import prepare, read_manifest, write_manifest


def _bad(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not audio")


def test_emodb(tmp_path, tone_writer):
    root = tmp_path / "emodb"
    for name in ["03a01Fa.wav", "03a01Wb.wav", "08b02Tc.wav", "16b10Lb.wav"]:
        tone_writer(root / "wav" / name)
    _bad(root / "wav" / "09a02Na.wav")
    tone_writer(root / "wav" / "readme_like.wav")
    res = prepare("emodb", root)
    assert len(res.utterances) == 4
    by = {u.id: u for u in res.utterances}
    u = by["emodb_03a01Fa"]
    assert (u.label, u.speaker, u.gender, u.language) == ("happiness", "emodb_03", "m", "de")
    assert u.text == "Der Lappen liegt auf dem Eisschrank."
    assert by["emodb_08b02Tc"].label == "sadness" and by["emodb_16b10Lb"].label == "boredom"
    reasons = dict(res.skipped)
    assert any("unreadable" in r for r in reasons.values()) and any(
        "scheme" in r for r in reasons.values()
    )


def test_ravdess_keeps_audio_only_speech(tmp_path, tone_writer):
    root = tmp_path / "ravdess"
    tone_writer(root / "Actor_01" / "03-01-05-01-02-01-01.wav")  # speech, angry
    tone_writer(root / "Actor_02" / "03-01-02-02-01-02-02.wav", seed=1)  # speech, calm
    tone_writer(root / "Actor_01" / "03-02-05-01-02-01-01.wav")  # song -> dropped
    tone_writer(root / "Actor_01" / "01-01-05-01-02-01-01.wav")  # video -> dropped
    res = prepare("ravdess", root)
    assert sorted((u.label, u.speaker, u.gender) for u in res.utterances) == [
        ("anger", "ravdess_01", "m"),
        ("calm", "ravdess_02", "f"),
    ]


def test_cremad(tmp_path, tone_writer):
    root = tmp_path / "crema"
    tone_writer(root / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    tone_writer(root / "AudioWAV" / "1002_IEO_HAP_HI.wav")
    (root / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,C,N\n1002,21,Female,C,N\n"
    )
    res = prepare("crema-d", root)
    assert sorted((u.label, u.speaker, u.gender) for u in res.utterances) == [
        ("anger", "cremad_1001", "m"),
        ("happiness", "cremad_1002", "f"),
    ]


def test_tess(tmp_path, tone_writer):
    root = tmp_path / "tess"
    tone_writer(root / "OAF_angry" / "OAF_back_angry.wav")
    tone_writer(root / "YAF_pleasant_surprised" / "YAF_bath_ps.wav")
    res = prepare("tess", root)
    assert sorted((u.label, u.speaker) for u in res.utterances) == [
        ("anger", "tess_OAF"),
        ("surprise", "tess_YAF"),
    ]


def test_esd(tmp_path, tone_writer):
    """Issue 31 item 5: ESD's layout (speaker / Emotion / speaker_index.wav, transcripts in
    speaker/speaker.txt); the index range and the folder must agree."""
    root = tmp_path / "esd" / "0020"
    tone_writer(root / "Angry" / "0020_000351.wav")
    tone_writer(root / "Neutral" / "0020_000002.wav")
    tone_writer(root / "Happy" / "0020_000351.wav")  # an Angry index in the Happy folder
    tone_writer(tmp_path / "esd" / "0003" / "Sad" / "0003_001100.wav")
    (root / "0020.txt").write_text(
        "0020_000351\tThe nine the eggs, I keep.\tAngry\n0020_000002\tI am going home.\tNeutral\n",
        encoding="utf-8",
    )
    res = prepare("esd", tmp_path / "esd")
    got = sorted((u.id, u.label, u.speaker, u.language, u.gender, u.text) for u in res.utterances)
    assert got == [
        ("esd_0003_001100", "sadness", "esd_0003", "zh", None, None),
        ("esd_0020_000002", "neutral", "esd_0020", "en", "m", "I am going home."),
        ("esd_0020_000351", "anger", "esd_0020", "en", "m", "The nine the eggs, I keep."),
    ]
    assert len(res.skipped) == 1 and "belongs to angry" in res.skipped[0][1]


def test_savee_nested_and_flat(tmp_path, tone_writer):
    root = tmp_path / "savee"
    tone_writer(root / "AudioData" / "DC" / "sa01.wav")
    tone_writer(root / "AudioData" / "JE" / "su02.wav")
    tone_writer(root / "flat" / "KL_a03.wav")
    res = prepare("savee", root)
    assert sorted((u.label, u.speaker) for u in res.utterances) == [
        ("anger", "savee_KL"),
        ("sadness", "savee_DC"),
        ("surprise", "savee_JE"),
    ]


def test_iemocap_four_class_merge(tmp_path, tone_writer):
    root = tmp_path / "IEMOCAP_full_release"
    s1 = root / "Session1"
    ev = s1 / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    ev.parent.mkdir(parents=True)
    ev.write_text(
        "% header\n"
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
        "[10.0 - 11.5]\tSes01F_impro01_M001\texc\t[4.0000, 3.5000, 3.0000]\n"
        "[12.0 - 13.0]\tSes01F_impro01_F002\tfru\t[2.0000, 3.0000, 3.0000]\n"
        "[14.0 - 15.0]\tSes01F_impro01_M003\tang\t[1.5000, 4.0000, 4.0000]\n"
    )
    for utt in ["Ses01F_impro01_F000", "Ses01F_impro01_M001", "Ses01F_impro01_F002"]:
        tone_writer(s1 / "sentences" / "wav" / "Ses01F_impro01" / f"{utt}.wav")
    res = prepare("iemocap", root)
    got = sorted((u.label, u.speaker, u.session) for u in res.utterances)
    assert got == [("happiness", "iemocap_Ses01M", "Ses01"), ("neutral", "iemocap_Ses01F", "Ses01")]
    assert res.utterances[0].valence is not None
    assert len(res.skipped) == 1 and "audio file missing" in res.skipped[0][1]  # the ang line


def test_msp_improv(tmp_path, tone_writer):
    root = tmp_path / "msp"
    root.mkdir()
    (root / "Evalution.txt").write_text(
        "UTD-IMPROV-S01A-F01-P-FM01.avi; A; A:3.200000; V:2.000000; D:3.400000; N:2.100000;\n"
        "A; A:3.0; V:2.0; D:3.0; N:3.0;\n"
        "UTD-IMPROV-S02H-M03-R-MF01.avi; H; A:3.000000; V:4.500000; D:3.000000; N:3.000000;\n"
        "UTD-IMPROV-S03N-F02-S-FM01.avi; X; A:3.000000; V:3.000000; D:3.000000; N:3.000000;\n"
    )
    tone_writer(root / "Audio" / "session1" / "S01A" / "P" / "MSP-IMPROV-S01A-F01-P-FM01.wav")
    tone_writer(root / "Audio" / "session3" / "S02H" / "R" / "MSP-IMPROV-S02H-M03-R-MF01.wav")
    res = prepare("msp-improv", root)
    got = sorted((u.label, u.speaker, u.session, u.arousal) for u in res.utterances)
    assert got == [
        ("anger", "mspimprov_F01", "session1", 3.2),
        ("happiness", "mspimprov_M03", "session3", 3.0),
    ]


def test_urdu(tmp_path, tone_writer):
    root = tmp_path / "urdu"
    tone_writer(root / "Angry" / "SM1_F01_A012.wav")
    tone_writer(root / "Sad" / "SF10_F03_S001.wav")
    tone_writer(root / "Sad" / "SM1_F02_A013.wav")  # code A in Sad folder: refused
    res = prepare("urdu", root)
    assert sorted((u.label, u.speaker, u.gender) for u in res.utterances) == [
        ("anger", "urdu_SM1", "m"),
        ("sadness", "urdu_SF10", "f"),
    ]
    assert "disagrees" in res.skipped[0][1]


def test_folder_with_speaker_regex(toy_corpus):
    res = prepare("folder", toy_corpus, speaker_regex=r"^(spk\d+)_")
    assert len(res.utterances) == 24
    assert Counter(u.label for u in res.utterances) == {"high": 12, "low": 12}
    assert {u.speaker for u in res.utterances} == {"spk0", "spk1", "spk2", "spk3"}
    assert prepare("folder", toy_corpus).utterances[0].speaker is None


def test_csv_recipe(tmp_path, tone_writer):
    tone_writer(tmp_path / "a.wav")
    tone_writer(tmp_path / "sub" / "b.wav")
    csv = tmp_path / "list.csv"
    csv.write_text(
        "path,label,speaker\na.wav,joy,s1\nsub/b.wav,anger,s2\nmissing.wav,joy,s3\nb.wav,,s4\n"
    )
    res = prepare("csv", csv)
    assert sorted((u.label, u.speaker) for u in res.utterances) == [("anger", "s2"), ("joy", "s1")]
    assert len(res.skipped) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("file,emotion\nx.wav,joy\n")
    with pytest.raises(ManifestError, match="path"):
        prepare("csv", bad)


def test_manifest_round_trip_and_relative_paths(tmp_path, toy_corpus):
    res = prepare("folder", toy_corpus, speaker_regex=r"^(spk\d+)_")
    m = tmp_path / "m.jsonl"
    assert write_manifest(res.utterances, m) == 24
    back = read_manifest(m)
    assert [u.id for u in back] == [u.id for u in res.utterances]
    assert back[0].duration == pytest.approx(res.utterances[0].duration)
    # relative audio paths resolve against the manifest's folder
    rel = tmp_path / "rel.jsonl"
    rel.write_text(
        '{"id": "x", "audio": "toy/high/spk0_high_0.wav", "duration": 0.5, "label": "high"}\n'
    )
    assert read_manifest(rel)[0].audio == str(tmp_path / "toy/high/spk0_high_0.wav")


def test_manifest_errors(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "none.jsonl")
    p = tmp_path / "bad.jsonl"
    p.write_text('{"id": "a"}\n')
    with pytest.raises(ManifestError, match=r"bad.jsonl:1: missing field"):
        read_manifest(p)
    p.write_text("{not json\n")
    with pytest.raises(ManifestError, match="not JSON"):
        read_manifest(p)


def test_unknown_recipe(tmp_path):
    with pytest.raises(ManifestError, match="unknown corpus recipe"):
        prepare("nope", tmp_path)
