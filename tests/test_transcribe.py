"""``serkit transcribe``: Whisper (CTranslate2) transcripts into the manifest's text field,
cached."""

import json

import numpy as np
import pytest
import soundfile as sf

from serkit.audio.synth import espeak_available, espeak_clip
from serkit.data.manifest import Utterance, read_manifest, write_manifest
from serkit.features.asr import TranscribeConfig, Transcriber, transcribe_manifest

pytestmark = pytest.mark.skipif(
    not espeak_available(), reason="espeak-ng not installed (make installs it)"
)


def _speech(path, text):
    import soxr

    wav, sr = espeak_clip(text)
    sf.write(path, soxr.resample(wav, sr, 16000), 16000)
    return str(path)


def test_transcribe_manifest_writes_text_words_and_caches(tmp_path, monkeypatch):
    a = _speech(tmp_path / "a.wav", "the weather is lovely today")
    b = _speech(tmp_path / "b.wav", "please open the door")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    m = tmp_path / "m.jsonl"
    write_manifest(
        [
            Utterance("a", a, 2.0, "x"),
            Utterance("b", b, 2.0, "y", text="known words"),
            Utterance("c", str(bad), 1.0, "x", text="old"),
        ],
        m,
    )
    out = tmp_path / "asr.jsonl"
    cfg = TranscribeConfig(word_timestamps=True, language="en")
    r = transcribe_manifest(m, out, cfg, tmp_path / "cache", keep_existing=True)
    assert (
        r["transcribed"] == 1 and r["kept"] == 2 and r["failed"] == []
    )  # b kept; c kept its text (not decoded)
    utts = {u.id: u for u in read_manifest(out)}
    assert (
        "lovely" in utts["a"].text.lower()
        and utts["b"].text == "known words"
        and utts["c"].text == "old"
    )
    words = [json.loads(line) for line in open(str(out) + ".words.jsonl")]
    ws = words[0]["words"]
    assert words[0]["id"] == "a" and any("lovely" in w[0].lower() for w in ws)
    assert all(0 <= s < e <= 3.0 for _, s, e in ws) and [s for _, s, _ in ws] == sorted(
        s for _, s, _ in ws
    )
    # everything again, without keeping: the unreadable file is listed and keeps its text;
    # a is cached
    calls = []
    real = Transcriber.transcribe
    monkeypatch.setattr(
        Transcriber, "transcribe", lambda self, wavs: calls.append(len(wavs)) or real(self, wavs)
    )
    r = transcribe_manifest(m, out, cfg, tmp_path / "cache")
    assert calls == [1] and len(r["failed"]) == 1 and "bad.wav" in r["failed"][0][0]
    utts = {u.id: u for u in read_manifest(out)}
    assert "door" in utts["b"].text.lower() and utts["c"].text == "old"
    assert "bad.wav" in (tmp_path / "asr.jsonl.skipped.tsv").read_text()


def test_silence_and_long_clips_give_a_transcript_not_an_error():
    t = Transcriber(TranscribeConfig(language="en"))
    quiet, long = np.zeros(16000, np.float32), np.zeros(16000 * 31, np.float32)
    out = t.transcribe([quiet, long])
    assert (
        len(out) == 2 and isinstance(out[0].text, str) and not out[0].truncated and out[1].truncated
    )
    assert 0.0 <= out[0].no_speech_prob <= 1.0


def test_each_model_name_loads_its_own_weights():
    from serkit.features.whisper_weights import bundled_model_dir

    tiny = Transcriber(TranscribeConfig(model="tiny.en"))
    assert tiny.folder == bundled_model_dir() and not tiny.model.is_multilingual
    with pytest.raises(Exception, match="tiny.en or base"):
        Transcriber(TranscribeConfig(model="large"))
    try:
        base = Transcriber(TranscribeConfig(model="base"))
    except Exception:  # noqa: BLE001 - base is optional
        return
    assert base.folder != tiny.folder and base.model.is_multilingual
    assert base.spec() != tiny.spec()
