"""Deployment: batched = single, timelines, single-file ONNX (fp32 / int8 / truncated), the
numpy + onnxruntime runner, CLI output formats, and the HTTP service under bad input."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

import serkit
from serkit.audio.synth import tone_clip
from serkit.audio.vad import energy_vad, windows
from serkit.cli import app
from serkit.core.errors import SerkitError

SR = 16000


@pytest.fixture(scope="module")
def rec():
    # the attnpool head on Whisper tiny.en (the default until 2026-12-05): these tests reach into
    # a torch head (layer weights, truncation); the logreg default's export: test_knowing.py
    return serkit.load("tiny")


@pytest.fixture(scope="module")
def onnx_files(rec, tmp_path_factory):
    from serkit.deploy.onnx_full import export_full_onnx

    d = tmp_path_factory.mktemp("onnx")
    cal = rec.card.get("calibration")
    fp = export_full_onnx(rec.model, rec.frontend.spec(), rec.labels, d / "m.onnx", calibration=cal)
    q = export_full_onnx(
        rec.model, rec.frontend.spec(), rec.labels, d / "m.int8.onnx", int8=True, calibration=cal
    )
    return fp, q


def _clips():
    lens = [0.3, 1.1, 2.9, 7.4, 13.0]
    return [tone_clip(s, seed=i, f0=110 + 40 * i, rate_hz=2 + i) for i, s in enumerate(lens)]


def test_predict_batch_equals_predict_for_very_different_lengths(rec):
    clips = _clips() + [tone_clip(33.0, seed=9)]  # > 30 s: encoded in 30 s windows
    batched = rec.predict_batch(clips, sr=SR)
    for clip, b in zip(clips, batched):
        s = rec.predict(clip, sr=SR)
        assert b.label == s.label
        assert max(abs(b.probabilities[k] - s.probabilities[k]) for k in rec.labels) <= 1e-5
        assert b.duration == pytest.approx(clip.size / SR)


def test_predict_accepts_paths_bytes_and_other_rates(rec, tmp_path):
    x = tone_clip(2.0, sr=44100, seed=3)
    p = tmp_path / "a.wav"
    sf.write(p, x, 44100, subtype="FLOAT")  # lossless, so file, bytes and array agree
    a = rec.predict(p)
    b = rec.predict(p.read_bytes())
    c = rec.predict(x, sr=44100)
    for other in (b, c):
        assert max(abs(a.probabilities[k] - other.probabilities[k]) for k in rec.labels) < 1e-5


def _speech_silence_speech():
    sil = np.zeros(int(1.5 * SR), np.float32)
    return np.concatenate([sil, tone_clip(3.0, seed=1), sil, tone_clip(2.0, seed=2, f0=240), sil])


def test_energy_vad_finds_the_voiced_regions():
    x = _speech_silence_speech()
    regions = energy_vad(x, SR)
    assert len(regions) == 2
    (a0, b0), (a1, b1) = regions
    assert a0 == pytest.approx(1.5, abs=0.2) and b0 == pytest.approx(4.5, abs=0.2)
    assert a1 == pytest.approx(6.0, abs=0.2) and b1 == pytest.approx(8.0, abs=0.2)
    assert energy_vad(np.zeros(SR, np.float32), SR) == []


def test_windows_layout():
    assert windows(0.0, 1.2, 2.0, 1.0) == [(0.0, 1.2)]
    w = windows(0.0, 5.0, 2.0, 1.0)
    assert w[0] == (0.0, 2.0) and w[-1][1] == 5.0 and all(b - a <= 2.0 + 1e-9 for a, b in w)
    # a tail shorter than min_window is merged into the last window
    assert windows(0.0, 4.2, 2.0, 2.0, min_window=0.5) == [(0.0, 2.0), (2.0, 4.2)]


def test_timeline_rows_cover_speech_only(rec):
    x = _speech_silence_speech()
    rows = rec.timeline(x, sr=SR, window=2.0, hop=1.0)
    assert rows and all(r.label in rec.labels + ["uncertain", "no_speech"] for r in rows)
    assert all(1.2 <= r.start and r.end <= 8.3 for r in rows)
    assert not any(4.7 < (r.start + r.end) / 2 < 5.8 for r in rows)  # nothing centred in the gap
    starts = [r.start for r in rows]
    assert starts == sorted(starts)
    full = rec.timeline(x, sr=SR, window=2.0, hop=2.0, vad="none")
    assert full[0].start == 0.0 and full[-1].end == pytest.approx(x.size / SR)
    # a window's probabilities are those of predicting that window alone
    r = rows[0]
    alone = rec.predict(x[int(round(r.start * SR)) : int(round(r.end * SR))], sr=SR)
    assert max(abs(alone.probabilities[k] - r.probabilities[k]) for k in rec.labels) < 1e-5


def test_pool_frames_torch_matches_numpy(rng):
    from serkit.nn.layers import pool_frames, pool_frames_torch

    for T in (1, 3, 8, 13):
        f = rng.normal(size=(2, T, 5)).astype(np.float32)
        for p in (1, 2, 4):
            ref = pool_frames(f, p)
            got = pool_frames_torch(torch.from_numpy(f)[None], p)[0].numpy()
            assert np.allclose(ref, got, atol=1e-6)


def test_onnx_fp32_matches_pytorch_and_carries_metadata(rec, onnx_files):
    from serkit.audio.mel import log_mel
    from serkit.deploy.onnx_full import build_pipeline, torch_probs
    from serkit.deploy.runtime import OnnxRecognizer

    fp, q = onnx_files
    ort = OnnxRecognizer(fp["path"])
    assert ort.labels == rec.labels and ort.sample_rate == 16000 and ort.meta.quantization == "fp32"
    assert ort.meta.frontend["name"] == "whisper-tiny-layers" and ort.meta.kind == "full"
    pipe, _ = build_pipeline(rec.model, rec.frontend.spec())
    mels = [log_mel(c) for c in _clips()]
    ref = torch_probs(pipe, mels)
    got = np.stack([ort.predict_mel(m) for m in mels])
    assert np.abs(got - ref).max() <= 1e-4
    # and the exported pipeline is the recogniser's own computation
    own = rec.probabilities([rec.signal(c, SR) for c in _clips()])  # before the temperature
    assert np.abs(ref - own).max() <= 1e-5
    assert ort.temperature == rec.temperature != 1.0 and ort.min_confidence == rec.min_confidence
    q8 = OnnxRecognizer(q["path"])
    got8 = np.stack([q8.predict_mel(m) for m in mels])
    assert q["bytes"] < fp["bytes"] / 2.5
    assert (got8.argmax(1) == ref.argmax(1)).mean() >= 0.8 and np.abs(got8 - ref).max() < 0.2


def _bundled_head(rec, layer):
    """The bundled attnpool head's weights under another layer setting (the layer weighting's
    own parameters are left at their initial values)."""
    from serkit.estimators import build_model

    model = build_model(
        {"name": "attnpool", "layer": layer, "pool": rec.model.config.pool}, len(rec.labels), 3, 384
    )
    model.net.load_state_dict(rec.model.net.state_dict(), strict=False)
    model.net.eval()
    return model


def test_onnx_truncates_the_encoder_when_upper_layers_are_unused(rec, tmp_path):
    from serkit.audio.mel import log_mel
    from serkit.deploy.onnx_full import build_pipeline, export_full_onnx, torch_probs
    from serkit.deploy.runtime import OnnxRecognizer

    # the bundled head with learned layer weights over states 0-2 (2 encoder blocks); a
    # negligible weight on state 2 lets the exporter drop it and cut the encoder after block 1
    model = _bundled_head(rec, layer="learned")
    with torch.no_grad():
        model.net.featurizer.logits[:] = torch.tensor([0.0, 0.5, -9.0])
    full_info = export_full_onnx(model, rec.frontend.spec(), rec.labels, tmp_path / "f.onnx")
    assert full_info["states"] == [0, 1, 2] and full_info["encoder_blocks"] == 2
    info = export_full_onnx(
        model, rec.frontend.spec(), rec.labels, tmp_path / "t.onnx", min_layer_weight=0.01
    )
    assert (
        info["states"] == [0, 1]
        and info["encoder_blocks"] == 1
        and len(info["dropped_layer_weights"]) == 1
    )
    pipe, _ = build_pipeline(model, rec.frontend.spec(), min_layer_weight=0.01)
    assert len(pipe.encoder.blocks) == 1
    mels = [log_mel(c) for c in _clips()[:3]]
    got = np.stack([OnnxRecognizer(info["path"]).predict_mel(m) for m in mels])
    assert np.abs(got - torch_probs(pipe, mels)).max() <= 1e-4
    # dropping layers of weight ~1e-4 barely changes the output of the full model
    full = torch_probs(
        build_pipeline(model, rec.frontend.spec())[0], mels
    )  # all 3 states, 2 blocks
    assert np.abs(full - got).max() < 0.01


@pytest.mark.parametrize("choice, states, blocks", [(1, [1], 1), (3, [0, 1, 2], 2)])
def test_onnx_of_an_auto_head_computes_only_the_states_it_uses(
    rec, tmp_path, choice, states, blocks
):
    """A ``layer: auto`` head that chose state 1 exports with 1 encoder block; one that chose
    the mean of all states (choice 3) keeps all of them. Both give the same probabilities as
    the model on all-state features."""
    from serkit.audio.mel import log_mel
    from serkit.deploy.onnx_full import export_full_onnx
    from serkit.deploy.runtime import OnnxRecognizer

    model = _bundled_head(rec, layer="auto")
    model.net.featurizer.choose(choice)
    info = export_full_onnx(model, rec.frontend.spec(), rec.labels, tmp_path / "one.onnx")
    assert info["states"] == states and info["encoder_blocks"] == blocks
    clips = _clips()[:3]
    ref = model.predict_proba([rec.frontend.extract(c, SR) for c in clips])
    got = np.stack([OnnxRecognizer(info["path"]).predict_mel(log_mel(c)) for c in clips])
    assert np.abs(got - ref).max() <= 1e-3


def test_onnx_runner_needs_no_torch(onnx_files, tmp_path):
    p = tmp_path / "a.wav"
    sf.write(p, tone_clip(1.5), SR)
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # any torch import now fails
        from serkit.deploy.runtime import OnnxRecognizer
        out = OnnxRecognizer({onnx_files[0]["path"]!r}).predict({str(p)!r})
        assert abs(sum(out.probabilities.values()) - 1) < 1e-4, out
        print(out.label)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() in json.loads(json.dumps(serkit.load("default").labels))


def test_onnx_runner_speaks_the_same_protocol_as_pytorch(rec, onnx_files):
    """One runner protocol: predict / predict_batch / timeline give the same rows (fp32 to 1e-4)."""
    from serkit.deploy.runtime import OnnxRecognizer

    ort = OnnxRecognizer(onnx_files[0]["path"])
    clips = _clips()[:3]
    for a, b in zip(ort.predict_batch(clips, sr=SR), rec.predict_batch(clips, sr=SR)):
        assert (
            a.label == b.label
            and max(abs(a.probabilities[k] - b.probabilities[k]) for k in rec.labels) < 1e-4
        )
    x = _speech_silence_speech()
    ta, tb = ort.timeline(x, sr=SR), rec.timeline(x, sr=SR)
    assert [(r.start, r.end) for r in ta] == [(r.start, r.end) for r in tb] and ta
    assert (
        max(
            abs(r.probabilities[k] - q.probabilities[k]) for r, q in zip(ta, tb) for k in rec.labels
        )
        < 1e-4
    )


def test_onnx_runner_refuses_other_files(tmp_path):
    from serkit.deploy.runtime import OnnxRecognizer

    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(SerkitError, match="not a loadable ONNX"):
        OnnxRecognizer(bad)
    with pytest.raises(SerkitError, match="not found"):
        OnnxRecognizer(tmp_path / "missing.onnx")


# --- CLI ----------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_predict_csv_folder_timeline_and_onnx(tmp_path, onnx_files):
    d = tmp_path / "clips"
    (d / "sub").mkdir(parents=True)
    sf.write(d / "a.wav", tone_clip(1.0, seed=1), SR)
    sf.write(d / "sub" / "b.flac", tone_clip(2.0, seed=2), 22050)
    (d / "notes.txt").write_text("not audio, not collected")
    r = runner.invoke(app, ["predict", str(d), "--csv"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["source"].split("/")[-1] for row in rows] == ["a.wav", "b.flac"]
    assert abs(sum(float(v) for k, v in rows[0].items() if k.startswith("p_")) - 1) < 1e-4
    r = runner.invoke(app, ["predict", str(d / "a.wav"), "--json"])
    assert set(json.loads(r.stdout.strip())) >= {
        "source",
        "label",
        "probabilities",
        "seconds",
        "duration",
    }
    r = runner.invoke(app, ["predict", str(d / "a.wav"), "--json", "--model", "tiny"])
    out = json.loads(r.stdout.strip())  # the model of onnx_files (below)
    long = tmp_path / "long.wav"
    sf.write(long, _speech_silence_speech(), SR)
    r = runner.invoke(
        app, ["predict", str(long), "--timeline", "--csv", "--window", "2", "--hop", "1"]
    )
    assert r.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) >= 3 and {"source", "start", "end", "label"} <= set(rows[0])
    r = runner.invoke(app, ["predict", str(d / "a.wav"), "--onnx", onnx_files[0]["path"], "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout.strip())["label"] == out["label"]


def test_cli_export_writes_one_file_with_check(tmp_path):
    r = runner.invoke(app, ["export", "default", "--onnx", str(tmp_path / "m.onnx")])
    assert r.exit_code == 0, r.output
    assert "3 of 6 Whisper blocks" in r.output  # the default reads Whisper base's state 3 only
    assert (tmp_path / "m.onnx").exists()
    assert not list(tmp_path.glob("*.tmp*"))


# --- HTTP ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(rec):
    from fastapi.testclient import TestClient

    from serkit.deploy.serve import ServeConfig, create_app

    return TestClient(
        create_app(ServeConfig(max_upload_mb=2, max_audio_s=30), recognizers={"default": rec})
    )


def _wav_bytes(x, sr=SR, subtype="PCM_16"):
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def test_http_predict_models_health_docs(client, rec):
    r = client.post(
        "/v1/predict", files={"file": ("a.wav", _wav_bytes(tone_clip(2.0)), "audio/wav")}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["label"] in rec.labels and abs(sum(body["probabilities"].values()) - 1) < 1e-4
    assert set(body["timing_ms"]) == {"decode", "inference", "total"}
    direct = rec.predict(tone_clip(2.0), sr=SR)  # 16-bit round trip: same label
    assert body["label"] == direct.label
    m = client.get("/v1/models").json()["models"][0]
    assert m["labels"] == rec.labels and m["default"] is True and m["energy_encoder_mj_per_3s"] > 0
    assert client.get("/healthz").json()["status"] == "ok"
    assert "/v1/predict" in client.get("/openapi.json").json()["paths"]


def test_http_timeline(client):
    r = client.post(
        "/v1/timeline?window=2&hop=1",
        files={"file": ("l.wav", _wav_bytes(_speech_silence_speech()))},
    )
    assert r.status_code == 200 and len(r.json()["rows"]) >= 3


@pytest.mark.parametrize(
    "name,payload,status,code",
    [
        ("empty.wav", b"", 400, "empty_upload"),
        ("text.wav", b"hello, this is not audio at all" * 20, 415, "audio_unreadable"),
        ("truncated.wav", None, 415, None),
        ("nan.wav", "nan", 422, "audio_invalid"),
        ("huge.bin", b"0" * (3 * 1024 * 1024), 413, "upload_too_large"),
        ("long.wav", "long", 413, "audio_too_long"),
    ],
)
def test_http_bad_input_clear_json_errors_and_keeps_serving(client, name, payload, status, code):
    if payload is None:  # a real WAV cut in the middle of its header
        payload = _wav_bytes(tone_clip(1.0))[:30]
    elif payload == "nan":
        x = tone_clip(1.0)
        x[123] = np.nan
        payload = _wav_bytes(x, subtype="FLOAT")
    elif payload == "long":  # 40 s at 8 kHz fits the upload limit but not max_audio_s
        payload = _wav_bytes(np.zeros(40 * 8000, np.float32) + 0.01, sr=8000)
    r = client.post("/v1/predict", files={"file": (name, payload)})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["message"] and (code is None or err["code"] == code)
    ok = client.post("/v1/predict", files={"file": ("ok.wav", _wav_bytes(tone_clip(1.0)))})
    assert ok.status_code == 200


def test_http_request_errors(client):
    assert client.post("/v1/predict").status_code == 422  # no file field
    r = client.post("/v1/timeline?window=-1", files={"file": ("a.wav", _wav_bytes(tone_clip(1.0)))})
    assert r.status_code == 422 and "window" in r.json()["error"]["message"]
    r = client.post("/v1/predict?model=nope", files={"file": ("a.wav", _wav_bytes(tone_clip(1.0)))})
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_model"


@pytest.mark.slow
def test_bench_latency_small_run(tmp_path):
    from serkit.deploy.latency import bench_latency

    r = bench_latency(
        "default",
        tmp_path,
        runs=2,
        folder_clips=6,
        http_requests=20,
        http_clients=5,
        log=lambda *_: None,
    )
    for k in ("pytorch", "onnx_fp32", "onnx_int8"):
        assert r[k]["median_ms"] > 0
    assert r["onnx_int8"]["file_mb"] < r["onnx_fp32"]["file_mb"] and r["head_int8_mb"] < 1.0
    assert (
        r["folder_onnx_int8"]["clips"] == 6
        and r["http"]["errors"] == 0
        and r["http"]["still_healthy"]
    )
    assert json.loads((tmp_path / "latency.json").read_text())["http"]["requests"] == 20


def test_bundle_carries_its_model_card_and_measured_benchmark():
    from serkit.deploy.bundles import BUNDLES

    emodb = serkit.load("emodb")
    card = BUNDLES["emodb"].card()
    assert (
        card["labels"] == emodb.labels
        and "EmoDB" in card["training_summary"]
        and "research" in card["licence"]
    )
    assert card["benchmark"]["protocol"] == "loso" and len(card["benchmark"]["ua"]["per_seed"]) == 5
    assert emodb.card["training_data"]["corpora"] == [
        "emodb"
    ]  # the file's own card, written by serkit train


def test_default_bundle_is_the_multi_corpus_model_with_calibration():
    from serkit.deploy.bundles import BUNDLES

    rec, card = serkit.load("default"), BUNDLES["default"].card()
    assert rec.labels == ["anger", "happiness", "neutral", "sadness"]
    tested = ["emodb", "emospeech", "ravdess", "urdu"]  # BAVED's neutral level: training only
    assert rec.card["training_data"]["corpora"] == ["baved", *tested]
    assert "CC BY-NC-SA" in card["licence"] and card["intended_use"] and card["limits"]
    assert "BAVED" in card["licence"] and "BAVED" in card["training_summary"]
    bm = card["benchmark"]
    assert bm["protocol"] == "loco + corpus-norm" and sorted(bm["ua_per_corpus"]) == tested
    # per-corpus standardisation: the headline is the UNADAPTED score, not the transductive one
    assert (
        bm["headline_input"].startswith("unadapted")
        and bm["ua_corpus_mean"]["mean"] == (bm["adapted_ua_corpus_mean"]["adapt_none"]["mean"])
    )
    assert set(bm["recall_per_corpus"]["adapt50"]["emodb"]) == set(rec.labels)
    assert rec.model.domain is not None and rec.frontend.spec()["name"] == "whisper-base-layers"
    cal = rec.card["calibration"]
    assert (
        0.05 < cal["temperature"] < 20
        and rec.temperature == cal["temperature"]
        and rec.min_confidence > 0
    )


def test_demo_on_a_file_prints_the_model_its_benchmark_and_cost(tmp_path):
    p = tmp_path / "a.wav"
    sf.write(p, tone_clip(1.5), SR)
    r = runner.invoke(app, ["demo", "--audio", str(p), "--model", "emodb"])
    assert r.exit_code == 0, r.output
    assert "model: attnpool on whisper-tiny-layers" in r.output and "loso UA 0.89" in r.output
    r = runner.invoke(app, ["demo", "--audio", str(p)])
    assert r.exit_code == 0 and "intended use:" in r.output and "per held-out corpus" in r.output
    assert "a.wav:" in r.output and "trainable params" in r.output


class _Slow:
    """A recognizer whose inferences take ``delay`` s (everything else is the real one's)."""

    def __init__(self, rec, delay):
        self._rec, self.delay = rec, delay

    def __getattr__(self, name):
        return getattr(self._rec, name)

    def classify(self, *a, **k):
        import time

        time.sleep(self.delay)
        return self._rec.classify(*a, **k)


def _post_many(app, n, path="/v1/predict"):
    import asyncio

    import httpx

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            body = _wav_bytes(tone_clip(1.0))
            return await asyncio.gather(
                *(c.post(path, files={"file": ("a.wav", body)}) for _ in range(n))
            )

    return asyncio.run(go())


def test_http_overload_gets_503_with_retry_after_and_slow_inference_504(rec):
    from serkit.deploy.serve import ServeConfig, create_app

    app = create_app(
        ServeConfig(workers=1, max_queue=2, request_timeout_s=30),
        recognizers={"default": _Slow(rec, 0.3)},
    )
    codes = sorted(r.status_code for r in _post_many(app, 6))
    assert codes == [
        200,
        200,
        200,
        503,
        503,
        503,
    ]  # 1 running + 2 waiting; the rest refused at once
    refused = [r for r in _post_many(app, 5) if r.status_code == 503]
    assert (
        refused
        and refused[0].headers["retry-after"] == "1"
        and refused[0].json()["error"]["code"] == "overloaded"
    )
    app = create_app(ServeConfig(request_timeout_s=0.1), recognizers={"default": _Slow(rec, 0.5)})
    (r,) = _post_many(app, 1)
    assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"


def test_http_request_ids_json_logs_metrics_and_model_card(client, caplog):
    import json
    import logging

    with caplog.at_level(logging.INFO, logger="serkit.serve"):
        r = client.post(
            "/v1/predict",
            files={"file": ("a.wav", _wav_bytes(tone_clip(1.0)))},
            headers={"X-Request-ID": "abc123"},
        )
        bad = client.post("/v1/predict", files={"file": ("e.wav", b"")})
    assert r.headers["x-request-id"] == "abc123" and len(bad.headers["x-request-id"]) == 32
    assert bad.json()["error"]["request_id"] == bad.headers["x-request-id"]
    lines = [json.loads(m) for m in caplog.messages]
    assert {"request_id": "abc123", "path": "/v1/predict", "status": 200}.items() <= lines[
        0
    ].items()
    assert lines[1]["status"] == 400 and lines[1]["ms"] >= 0
    text = client.get("/metrics").text
    assert 'serkit_requests_total{path="/v1/predict",status="200"}' in text
    assert 'serkit_requests_total{path="/v1/predict",status="400"}' in text
    assert "serkit_request_seconds_bucket" in text and "serkit_inferences_in_flight 0.0" in text
    m = client.get("/v1/models").json()["models"][0]
    assert "licence" in m and "training_corpora" in m


def test_serve_finishes_in_flight_requests_on_sigterm(tmp_path):
    """A real `serkit serve` process: SIGTERM during a long request -> the request is answered,
    then the process exits cleanly."""
    import signal
    import threading
    import time

    import httpx

    from serkit.deploy.latency import free_port, wait_healthy

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "serkit.cli",
            "serve",
            "--port",
            str(port),
            "--shutdown-grace",
            "60",
            "--request-timeout",
            "300",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        long = _wav_bytes(
            np.tile(_speech_silence_speech(), 6)
        )  # a long timeline (hundreds of windows)
        answer = {}
        t = threading.Thread(
            target=lambda: answer.setdefault(
                "r",
                httpx.post(
                    url + "/v1/timeline?window=1&hop=0.1&vad=none",
                    files={"file": ("l.wav", long)},
                    timeout=120,
                ),
            )
        )
        t.start()
        deadline = time.time() + 30
        while (
            time.time() < deadline
            and "serkit_inferences_in_flight 1.0" not in httpx.get(url + "/metrics").text
        ):
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        t.join(120)
        assert answer["r"].status_code == 200 and len(answer["r"].json()["rows"]) > 100
        assert proc.wait(60) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it is done
        logs = [
            json.loads(line)
            for line in proc.stderr.read().decode().splitlines()
            if line.startswith("{")
        ]
        assert any(x["path"] == "/v1/timeline" and x["status"] == 200 for x in logs)
    finally:
        proc.kill()


def test_cold_start_path_caches_the_onnx_export_and_needs_no_torch(tmp_path, monkeypatch):
    from serkit.deploy.batch import onnx_cache_path, open_runner
    from serkit.deploy.runtime import OnnxRecognizer

    monkeypatch.setenv("SERKIT_ONNX_CACHE", str(tmp_path / "onnx"))
    first = open_runner(
        "default", engine="auto"
    )  # no export yet: PyTorch, and the export is written
    cached = onnx_cache_path("default")
    assert (
        not isinstance(first, OnnxRecognizer)
        and cached.is_file()
        and cached.parent == tmp_path / "onnx"
    )
    assert list(cached.parent.iterdir()) == [cached]  # written atomically, no temporary left
    second = open_runner("default", engine="auto")
    assert isinstance(second, OnnxRecognizer)
    x = tone_clip(3.0)
    a, b = first.predict(x, sr=SR), second.predict(x, sr=SR)
    assert (
        a.label == b.label
        and max(abs(a.probabilities[k] - b.probabilities[k]) for k in a.probabilities) < 1e-4
    )
    assert not isinstance(open_runner("default", engine="torch"), OnnxRecognizer)
    wav = tmp_path / "a.wav"
    sf.write(wav, x, SR)
    code = (
        "import sys; from serkit.cli import app\n"
        "try:\n    app(['predict', sys.argv[1]])\nexcept SystemExit as e:\n    assert not e.code, "
        "e.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(wav)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "SERKIT_ONNX_CACHE": str(tmp_path / "onnx")},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert b.label in out.stdout
    with pytest.raises(SerkitError, match="engine must be"):
        open_runner("default", engine="gpu")
