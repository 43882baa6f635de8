"""Streaming: rows per hop from chunks of any size, equal to the timeline of the same audio."""

import numpy as np
import pytest

from serkit.audio.synth import tone_clip
from serkit.core.errors import ConfigError
from serkit.deploy.loading import load

SR = 16000


@pytest.fixture(scope="module")
def rec():
    return load("default")


def _audio(seconds, sr=SR, seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate(
        [
            tone_clip(1.5, sr=sr),
            np.zeros(int(0.7 * sr), np.float32),
            tone_clip(max(seconds, 3.0), sr=sr),
        ]
    )
    x = x[: int(round(seconds * sr))]
    return (x + 0.01 * rng.standard_normal(x.size)).astype(np.float32)


def _chunks(x, sizes, seed=1):
    rng, i, out = np.random.default_rng(seed), 0, []
    while i < x.size:
        n = int(rng.choice(sizes))
        out.append(x[i : i + n])
        i += n
    return out


@pytest.mark.parametrize(
    "seconds,window,hop",
    [(5.3, 2.0, 0.5), (4.1, 2.0, 0.5), (2.0, 2.0, 0.5), (1.2, 2.0, 0.5), (6.0, 1.0, 1.5)],
)
def test_stream_rows_equal_the_timeline(rec, seconds, window, hop):
    x = _audio(seconds)
    ref = rec.timeline(x, sr=SR, window=window, hop=hop, vad="none")
    rows = rec.stream(SR, window=window, hop=hop).run(_chunks(x, [1, 7, 160, 333, 4096, 16000]))
    assert [(round(r.start, 6), round(r.end, 6)) for r in rows] == [
        (round(r.start, 6), round(r.end, 6)) for r in ref
    ]
    for r, t in zip(rows, ref):
        assert r.label == t.label
        assert max(abs(r.probabilities[k] - t.probabilities[k]) for k in t.probabilities) < 1e-5


def test_stream_state_is_bounded_and_rows_come_as_windows_fill(rec):
    s = rec.stream(SR, window=2.0, hop=0.5)
    x = _audio(12.0)
    assert s.feed(x[: int(1.9 * SR)]) == [] and s.buffered_s == pytest.approx(1.9)
    rows = s.feed(x[int(1.9 * SR) : int(2.6 * SR)])
    assert [(r.start, r.end) for r in rows] == [(0.0, 2.0), (0.5, 2.5)] and all(
        r.latency_ms > 0 for r in rows
    )
    peak = 0.0
    for c in _chunks(x[int(2.6 * SR) :], [800]):
        s.feed(c)
        peak = max(peak, s.buffered_s)
    assert peak <= 2.0 + 800 / SR
    s.close()
    with pytest.raises(ConfigError, match="after close"):
        s.feed(x[:10])


def test_stream_resamples_int16_input_and_refuses_bad_input(rec):
    x48 = (_audio(4.0, sr=48000) * 20000).astype(np.int16)
    rows = rec.stream(48000, window=2.0, hop=1.0).run(_chunks(x48, [999, 4800]))
    ref = rec.timeline(x48.astype(np.float32) / 32768, sr=48000, window=2.0, hop=1.0, vad="none")
    assert len(rows) == len(ref) and [r.label for r in rows] == [t.label for t in ref]
    for r, t in zip(
        rows, ref
    ):  # soxr fed in pieces vs at once: the same filter, boundary effects only
        assert max(abs(r.probabilities[k] - t.probabilities[k]) for k in t.probabilities) < 2e-3
    for bad in (0, -16000, 10**7, 16000.5):
        with pytest.raises(ConfigError, match="sample rate"):
            rec.stream(bad)
    s = rec.stream(SR)
    with pytest.raises(ConfigError, match="NaN"):
        s.feed(np.array([0.0, np.nan], np.float32))
    with pytest.raises(ConfigError, match="float or int16"):
        s.feed(np.array(["a"]))
    assert s.close() == [] and rec.stream(SR).close() == []


def test_websocket_stream_rows_equal_the_timeline_and_bad_input_is_answered(rec):
    import json

    from fastapi.testclient import TestClient

    from serkit.deploy.serve import create_app

    client = TestClient(create_app(recognizers={"default": rec}))
    x = _audio(4.3)
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_text(json.dumps({"sample_rate": SR, "format": "pcm16", "window": 2.0, "hop": 0.5}))
        rows, i, rng = [], 0, np.random.default_rng(3)
        while i < len(pcm):
            n = int(rng.choice([1, 3, 999, 8001]))  # odd byte counts: half samples are carried over
            ws.send_bytes(pcm[i : i + n])
            i += n
        ws.send_text(json.dumps({"end": True}))
        while True:
            m = ws.receive_json()
            if m.get("done"):
                break
            rows.append(m)
    ref = rec.timeline(
        np.frombuffer(pcm, "<i2").astype(np.float32) / 32768, sr=SR, window=2.0, hop=0.5, vad="none"
    )
    merged = []
    for r in rows:
        if r["revised"]:
            merged[-1] = r
        else:
            merged.append(r)
    assert m["rows"] == len(rows)
    assert [(r["start"], r["end"]) for r in merged] == [
        (t.to_dict()["start"], t.to_dict()["end"]) for t in ref
    ]
    for r, t in zip(merged, ref):
        assert max(abs(r["probabilities"][k] - t.probabilities[k]) for k in t.probabilities) < 2e-5
    for hello, code in (
        ("not json", "bad_start"),
        (json.dumps({"sample_rate": 0}), "bad_start"),
        (json.dumps({"sample_rate": 16000, "format": "mp3"}), "bad_format"),
        (json.dumps({"sample_rate": 16000, "model": "nope"}), "unknown_model"),
    ):
        with client.websocket_connect("/v1/stream") as ws:
            ws.send_text(hello)
            assert ws.receive_json()["error"]["code"] == code
    with client.websocket_connect("/v1/stream") as ws:  # garbage floats: NaN -> a clear error
        ws.send_text(json.dumps({"sample_rate": 16000, "format": "float32"}))
        ws.send_bytes(np.array([np.nan] * 4, "<f4").tobytes())
        assert ws.receive_json()["error"]["code"] == "bad_samples"
    with client.websocket_connect("/v1/stream") as ws:  # a client that leaves mid-stream
        ws.send_text(json.dumps({"sample_rate": 16000}))
        ws.send_bytes(pcm[:32000])
    assert (
        client.get("/healthz").status_code == 200
        and "serkit_streams_open 0.0" in client.get("/metrics").text
    )


def test_cli_listen_file_and_stdin(tmp_path):
    import json
    import subprocess
    import sys

    import soundfile as sf

    x = _audio(3.2)
    sf.write(tmp_path / "a.wav", x, SR)
    run = [sys.executable, "-m", "serkit.cli", "listen"]
    out = subprocess.run(
        run + [str(tmp_path / "a.wav"), "--no-realtime", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    piped = subprocess.run(run + ["-", "--json"], input=pcm, capture_output=True, timeout=300)
    assert piped.returncode == 0, piped.stderr
    assert [(r["start"], r["end"]) for r in rows] == [
        (0.0, 2.0),
        (0.5, 2.5),
        (1.0, 3.0),
        (1.5, 3.2),
    ]
    assert [json.loads(line)["label"] for line in piped.stdout.decode().splitlines()] == [
        r["label"] for r in rows
    ]
    bad = subprocess.run(
        run + [str(tmp_path / "missing.wav")], capture_output=True, text=True, timeout=300
    )
    assert bad.returncode != 0 and "missing.wav" in bad.stderr
