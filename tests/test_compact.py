"""The compact frontend (issue 18): network shapes and masking, MAC count, causal streaming,
weight files, the frontend, distillation on tiny synthetic audio, the ONNX export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from serkit.audio.mel import log_mel_macs
from serkit.audio.synth import tone_clip
from serkit.core.cost import Cost, energy_mj
from serkit.core.errors import ConfigError
from serkit.features import build_frontend, frontend_component
from serkit.features.compact_net import CompactNet, CompactNetConfig, CompactStream, compact_macs
from serkit.nn.counting import measure_macs

SMALL = CompactNetConfig(
    channels=16, blocks=3, kernel=3, dilations=[1, 2], taps=[1, 3], context_after=2
)


def _net(causal=False, seed=0):
    torch.manual_seed(seed)
    net = CompactNet(CompactNetConfig(**{**SMALL.to_dict(), "causal": causal})).eval()
    for p in net.parameters():  # non-trivial weights (LayerNorm starts at identity)
        p.data.add_(0.1 * torch.randn_like(p))
    return net


@pytest.mark.parametrize("causal", [False, True])
def test_shapes_and_padding_masked_exactly(causal):
    net = _net(causal)
    mel = torch.randn(3, 80, 41)
    lens = torch.tensor([41, 30, 7])
    with torch.no_grad():
        batched = net(mel, lens)
        assert [tuple(h.shape) for h in batched] == [(3, 21, 16), (3, 21, 16)]
        for b, n in enumerate(lens.tolist()):
            alone = net(mel[b : b + 1, :, :n])
            for hb, ha in zip(batched, alone):
                assert ha.shape[1] == (n + 1) // 2
                assert torch.allclose(hb[b, : (n + 1) // 2], ha[0], atol=1e-5)


def test_causal_output_never_sees_the_future():
    net = _net(causal=True)
    mel = torch.randn(1, 80, 60)
    with torch.no_grad():
        a = net(mel)[-1]
        changed = mel.clone()
        changed[..., 40:] += (
            5.0  # frames 40.. changed: outputs up to frame 19 (mel 38) must not move
        )
        b = net(changed)[-1]
    assert torch.allclose(a[0, :20], b[0, :20], atol=1e-6)
    assert not torch.allclose(a[0, 21:], b[0, 21:])


def test_non_causal_sees_context_both_ways():
    net = _net(causal=False)
    mel = torch.randn(1, 80, 60)
    with torch.no_grad():
        a = net(mel)[-1]
        changed = mel.clone()
        changed[..., 40:] += 5.0
        b = net(changed)[-1]
    assert not torch.allclose(a[0, :5], b[0, :5])  # the utterance-mean context reaches back


def test_stream_equals_offline_chunk_by_chunk():
    net = _net(causal=True)
    mel = torch.randn(80, 100)
    with torch.no_grad():
        offline = net(mel[None])
    st = CompactStream(net)
    pieces = [
        st.feed(mel[:, a:b]) for a, b in [(0, 1), (1, 8), (8, 9), (9, 40), (40, 41), (41, 100)]
    ]
    for tap in range(2):
        got = torch.cat([p[tap] for p in pieces])
        assert got.shape == (50, 16)
        assert torch.allclose(got, offline[tap][0], atol=1e-5)
    with pytest.raises(ValueError):
        CompactStream(_net(causal=False))


def test_mac_count_matches_the_counting_hooks():
    net = CompactNet(
        CompactNetConfig(context_after=0)
    )  # hooks count convs and linears; no context gate
    mel = torch.randn(1, 80, 300)
    counted, _ = measure_macs(net, [(mel,)])
    ln = (
        300 // 2 * max(net.config.taps) * 2 * net.config.channels
    )  # LayerNorm: counted analytically only
    assert abs(compact_macs(net.config, 300) - (counted + ln)) / counted < 0.01
    assert compact_macs(CompactNetConfig(), 300) < 60e6  # the budget per 3 s clip


def test_log_mel_macs_and_total_energy():
    m = log_mel_macs(3.0)
    assert 1e6 < m < 2e6  # ~4.7 k per frame (window, FFT, power, sparse mel), 300 frames
    c = Cost(100, 1000, 0, 0, macs_encoder=10_000, macs_dsp=m)
    assert c.energy_total_mj == pytest.approx(energy_mj(1000 + 10_000 + m))
    d = c.to_dict()
    assert d["energy_total_mj"] == round(c.energy_total_mj, 4) and d["energy_dsp_mj"] is not None
    assert Cost.from_dict(d) == c
    assert c.scaled(6.0).macs_dsp == 2 * m
    assert Cost(1, 1).energy_total_mj is None  # encoder not counted: no total


def _write_student(tmp_path, causal=False, seed=0):
    from safetensors.torch import save_file

    net = _net(causal, seed)
    path = tmp_path / "student.safetensors"
    save_file(
        {k: v.contiguous() for k, v in net.state_dict().items()},
        str(path),
        metadata={
            "config": json.dumps(net.config.to_dict()),
            "provenance": json.dumps({"corpora": ["synthetic"]}),
        },
    )
    return path, net


def test_frontend_from_a_weight_file(tmp_path):
    path, net = _write_student(tmp_path)
    fe = build_frontend(f"compact:{path}")
    assert fe.name == "compact" and fe.config.path == str(path) and fe.dim == 16
    assert fe.layer_names == ["block1", "block3"] and fe.provenance["corpora"] == ["synthetic"]
    wavs = [tone_clip(s, seed=i) for i, s in enumerate((0.7, 1.3))]
    feats = fe.extract_batch(wavs, 16000)
    for f, w in zip(feats, wavs):
        assert f.shape == (2, (len(w) // 160 + 1) // 2, 16) and f.dtype == np.float32
        assert np.allclose(f, fe.extract(w, 16000), atol=1e-4)
    assert fe.encoder_macs(3.0) == compact_macs(net.config, 300) and fe.dsp_macs(
        3.0
    ) == log_mel_macs(3.0)
    one = build_frontend({"name": f"compact:{path}", "layers": [1]})
    assert one.extract(wavs[0], 16000).shape[0] == 1
    # the weights' digest is part of the spec: other weights, other cache entries
    spec, fp = fe.spec(), fe.fingerprint()
    same_path, _ = _write_student(tmp_path, seed=1)  # same file name, other weights
    assert same_path == path and build_frontend(f"compact:{path}").fingerprint() != fp
    assert spec["weights_sha1"] and frontend_component(
        {**spec["config"], "name": "compact"}
    ).config.path == str(path)


def test_frontend_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        build_frontend(f"compact:{tmp_path / 'missing.safetensors'}").extract(tone_clip(0.5), 16000)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a weight file")
    with pytest.raises(ConfigError, match="not a student weight file"):
        _ = build_frontend(f"compact:{bad}").dim
    path, _ = _write_student(tmp_path)
    with pytest.raises(ConfigError, match="out of range"):
        build_frontend({"name": f"compact:{path}", "layers": [5]}).extract(tone_clip(0.5), 16000)


def test_distill_on_tiny_synthetic_audio(tmp_path, monkeypatch):
    """End to end on 8 synthetic clips with a stand-in teacher: the loss falls, the file loads,
    a re-run resumes from the checkpoint and computes nothing new."""
    import soundfile as sf

    from serkit.data.manifest import Utterance
    from serkit.features.cache import FeatureCache
    from serkit.training import distill as D

    class FakeTeacher:  # a fixed random projection of the log-mel: learnable, fast
        name, sample_rate, reads_audio, execution_fields = "fake-teacher", 16000, True, ()
        W = np.random.default_rng(0).normal(size=(80, 24)).astype(np.float32)

        def fingerprint(self):
            return "fake0000000000"

        def extract_batch(self, wavs, sr):
            from serkit.audio.mel import log_mel

            out = []
            for w in wavs:
                m = log_mel(w)
                m = np.pad(m, ((0, 0), (0, m.shape[1] % 2)))
                z = (m.T @ self.W).reshape(-1, 2, 24).mean(1)
                out.append(np.stack([z, np.tanh(z)]).astype(np.float32))
            return out

        def extract(self, w, sr):
            return self.extract_batch([w], sr)[0]

    monkeypatch.setattr(D, "build_frontend", lambda spec: FakeTeacher())
    utts = []
    for i in range(8):
        p = tmp_path / f"c{i}.wav"
        sf.write(p, tone_clip(0.6 + 0.1 * i, seed=i), 16000)
        utts.append(
            Utterance(
                id=f"c{i}",
                audio=str(p),
                duration=0.6 + 0.1 * i,
                label=None,
                speaker=f"s{i % 2}",
                corpus="syn",
            )
        )
    cfg = D.DistillConfig(
        student=SMALL,
        teacher_layers=[0, 1],
        epochs=3,
        batch_size=4,
        lr=1e-2,
        val_fraction=0.25,
        augment=D.AugmentConfig(copies=1),
    )
    cache = FeatureCache(tmp_path / "cache")
    out = tmp_path / "st.safetensors"
    r = D.distill(utts, out, cfg, cache, log=lambda *_: None)
    hist = json.loads(json.dumps(r["final"]))
    assert out.exists() and r["clips"] == 8 and hist["epoch"] == 3
    fe = build_frontend(f"compact:{out}")
    assert fe.provenance["labels_used"] is False and len(fe.provenance["history"]) == 3
    h = fe.provenance["history"]
    assert h[-1]["train_loss"] < h[0]["train_loss"]
    assert fe.extract(tone_clip(0.8), 16000).shape[0] == 2
    assert fe.provenance["teacher"]["frontend"] == "whisper-tiny-layers"
    with pytest.raises(ConfigError, match="one state per tap"):
        D.distill(utts, out, D.DistillConfig(student=SMALL, teacher_layers=[0]), cache)
    with pytest.raises(ConfigError, match="teacher must be one of"):
        D.distill(utts, out, D.DistillConfig(student=SMALL, teacher="hf:x", teacher_layers=[0, 1]))
    # same config again: resumes after the last epoch, no training step, same result
    r2 = D.distill(utts, tmp_path / "st.safetensors", cfg, cache, log=lambda *_: None)
    assert r2["final"] == r["final"]
    # warm start from that student with the utterance-statistics term: a new checkpoint, starts
    # from the first student's fit (its first epoch already near the end of the first run)
    warm = D.DistillConfig(**{**cfg.__dict__, "epochs": 1, "init": str(out), "pooled_weight": 1.0})
    r3 = D.distill(utts, tmp_path / "warm.safetensors", warm, cache, log=lambda *_: None)
    assert r3["final"]["val_loss"] < h[0]["val_loss"]
    # task-aware: posteriors of a fixed head on teacher state 1 join the loss
    head = D.TeacherHead(
        np.random.default_rng(1).normal(size=(2, 48)), np.zeros(2), 1, ["x", "y"], "toy head"
    )
    kd = D.DistillConfig(**{**cfg.__dict__, "epochs": 1, "posterior_weight": 1.0, "head": "toy"})
    r4 = D.distill(
        utts, tmp_path / "kd.safetensors", kd, cache, log=lambda *_: None, teacher_head=head
    )
    assert 0.0 <= r4["final"]["val_head_agreement"] <= 1.0
    prov = build_frontend(f"compact:{tmp_path / 'kd.safetensors'}").provenance
    assert prov["head"]["source"] == "toy head" and prov["head"]["state"] == 1
    other = CompactNetConfig(**{**SMALL.to_dict(), "channels": 8})
    with pytest.raises(ConfigError, match="architecture"):
        D.distill(
            utts,
            tmp_path / "x.safetensors",
            D.DistillConfig(**{**warm.__dict__, "student": other}),
            cache,
        )


def test_pooled_distillation_term_sees_utterance_statistics():
    """Predictions equal to the targets cost nothing; a per-clip offset (invisible to the
    cosine, small per frame) is what the pooled term adds cost for."""
    from serkit.training.distill import _loss

    torch.manual_seed(0)
    y = torch.randn(2, 1, 10, 4)  # (N, L, T2, D) teacher states
    lens = torch.tensor([20, 14])
    mu, sd = torch.zeros(1, 1, 4), torch.ones(1, 1, 4)
    spread = torch.full((1, 2, 4), 0.1)
    exact = [y[:, 0].clone()]
    assert float(_loss(exact, y, lens, mu, sd, 0.0, 1.0, spread)[0]) < 1e-4
    shifted = [y[:, 0] + 0.1]
    frame_only = float(_loss(shifted, y, lens, mu, sd, 0.0)[0])
    with_pool = float(_loss(shifted, y, lens, mu, sd, 0.0, 1.0, spread)[0])
    assert with_pool > frame_only + 0.4  # (0.1 / 0.1)^2 / 2 on the means


def test_augment_is_deterministic_and_finite():
    from serkit.training.distill import AugmentConfig, augment_clip

    w = tone_clip(1.0)
    a, b = augment_clip(w, AugmentConfig(p=1.0), 7), augment_clip(w, AugmentConfig(p=1.0), 7)
    assert np.array_equal(a, b) and np.all(np.isfinite(a)) and np.abs(a).max() <= 1.0
    assert not np.array_equal(a, augment_clip(w, AugmentConfig(p=1.0), 8))


@pytest.mark.parametrize("layer, blocks", [("learned", 3), ("auto", 1)])
def test_onnx_export_student_plus_head_matches_pytorch(tmp_path, layer, blocks):
    """One ONNX file from log-mel to probabilities with the student inside; a head that uses
    only the first tap (block 1) exports a student cut after block 1."""
    from serkit.audio.mel import log_mel
    from serkit.deploy.onnx_full import export_full_onnx
    from serkit.deploy.runtime import OnnxRecognizer
    from serkit.estimators import build_model

    path, _ = _write_student(tmp_path)
    fe = build_frontend(f"compact:{path}")
    model = build_model({"name": "attnpool", "pool": 2, "layer": layer}, 4, 2, 16)
    if layer == "auto":
        model.net.featurizer.choose(0)
    model.net.eval()
    labels = ["a", "b", "c", "d"]
    info = export_full_onnx(model, fe.spec(), labels, tmp_path / "c.onnx")
    assert info["encoder"] == "compact" and info["encoder_blocks"] == blocks
    clips = [tone_clip(s, seed=i, f0=120 + 30 * i) for i, s in enumerate((0.4, 1.7, 3.0))]
    ref = model.predict_proba([fe.extract(c, 16000) for c in clips])
    ort = OnnxRecognizer(info["path"])
    got = np.stack([ort.predict_mel(log_mel(c)) for c in clips])
    assert np.abs(got - ref).max() <= 1e-4
    q = export_full_onnx(model, fe.spec(), labels, tmp_path / "c8.onnx", int8=True)
    got8 = np.stack([OnnxRecognizer(q["path"]).predict_mel(log_mel(c)) for c in clips])
    assert np.all(np.isfinite(got8)) and np.abs(got8 - ref).max() < 0.2


def test_student_files_with_conv_projections_still_load_and_strip(tmp_path):
    """Students written while the pointwise projection was a 1x1 Conv1d (weight (C, C, 1)) load
    to the same function; strip_student writes the current layout without the projections."""
    from safetensors.torch import save_file

    from serkit.features.compact import read_student, strip_student

    net = _net()
    sd = {
        k: (v[..., None] if k.endswith("pw.weight") else v).contiguous()
        for k, v in net.state_dict().items()
    }
    sd["proj.0.weight"] = torch.zeros(4, 16)
    old = tmp_path / "old.safetensors"
    save_file(
        sd, str(old), metadata={"config": json.dumps(net.config.to_dict()), "provenance": "{}"}
    )
    fe = build_frontend(f"compact:{old}")
    mel = torch.randn(1, 80, 50)
    with torch.no_grad():
        assert torch.allclose(fe.net(mel)[-1], net(mel)[-1], atol=1e-6)
    new = strip_student(old, tmp_path / "new.safetensors")
    tensors, cfg, _ = read_student(new)
    assert (
        not any(k.startswith("proj.") for k in tensors) and tensors["blocks.0.pw.weight"].dim() == 2
    )
    assert cfg == net.config.to_dict()


def test_pareto_front_of_the_energy_figure():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "pareto", Path(__file__).parents[1] / "benchmarks" / "pareto.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # (energy, accuracy): cheap-and-good and expensive-and-best survive; dominated ones do not
    pts = [(3.0, 0.89), (0.2, 0.85), (0.5, 0.80), (0.01, 0.40), (5.0, 0.88)]
    assert sorted(mod.pareto(pts)) == [0, 1, 3]


def test_full_export_of_a_spiking_head_is_a_clear_error(tmp_path):
    from serkit.core.errors import SerkitError
    from serkit.deploy.onnx_full import export_full_onnx
    from serkit.estimators import build_model

    path, _ = _write_student(tmp_path)
    model = build_model({"name": "pts-snn", "pool": 2}, 4, 2, 16)
    with pytest.raises(SerkitError, match="--head-only"):
        export_full_onnx(
            model, build_frontend(f"compact:{path}").spec(), list("abcd"), tmp_path / "x.onnx"
        )


@pytest.mark.parametrize("n_mel", [203, 160])  # odd (a last half stem step) and even lengths
def test_spiking_stream_equals_the_offline_model(tmp_path, n_mel):
    """Causal student + snn-vanilla, fed in uneven pieces: after close the probabilities equal
    predict_proba on the whole clip, each step gives a distribution, the state stays bounded."""
    from serkit.audio.mel import log_mel
    from serkit.deploy.snn_stream import SpikingStream
    from serkit.estimators import Split, build_model

    path, _ = _write_student(tmp_path, causal=True)
    fe = build_frontend(f"compact:{path}")
    wavs = [tone_clip(1.2 + 0.1 * i, f0=120.0 + 60 * (i % 3), seed=i) for i in range(12)]
    feats = fe.extract_batch(wavs, 16000)
    y = np.arange(12) % 3
    model = build_model(
        {"name": "snn-vanilla", "pool": 3, "hidden": 16, "train": {"epochs": 3, "refit": False}},
        3,
        2,
        16,
    )
    model.fit(
        Split(feats, y, [f"s{i % 4}" for i in range(12)], [str(i) for i in range(12)]), None, 0
    )
    with (
        torch.no_grad()
    ):  # a tiny fit barely fires: shift both layers towards threshold so spikes vary
        for bn in (model.net.head.bn1, model.net.head.bn2):
            bn.bias.add_(0.8)
            bn.weight.mul_(2.0)
    wav = tone_clip(n_mel / 100 + 0.01, f0=240.0, seed=99)[: n_mel * 160]
    mel = log_mel(wav)
    assert mel.shape[1] == n_mel
    offline = model.predict_proba([fe.extract(wav, 16000)])[0]
    st = SpikingStream(model, fe)
    steps, sizes = [], []
    for a, b in [(0, 1), (1, 7), (7, 8), (8, 60), (60, 61), (61, n_mel)]:
        steps += st.feed(mel[:, a:b])
        sizes.append(st.state_floats)
    steps += st.close()
    assert len(steps) == -(-((n_mel + 1) // 2) // 3)  # ceil(frames / pool)
    assert np.allclose(steps[-1].probs, offline, atol=1e-5)
    assert sum(s.spikes for s in steps) > 0 and not np.allclose(
        steps[0].probs, steps[-1].probs
    )  # not trivially equal
    assert all(abs(s.probs.sum() - 1) < 1e-6 for s in steps) and steps[-1].time_s == pytest.approx(
        (n_mel + 1) // 2 / 50
    )
    assert max(sizes) < 2 * min(sizes[1:])  # bounded: does not grow with the stream
    with pytest.raises(ConfigError, match="after close"):
        st.feed(mel[:, :2])
    with pytest.raises(ConfigError, match="causal spiking head"):
        SpikingStream(build_model({"name": "pts-snn", "pool": 2}, 3, 2, 16), fe)
    (tmp_path / "nc").mkdir()
    with pytest.raises(ConfigError, match="causal compact student"):
        SpikingStream(
            model, build_frontend(f"compact:{_write_student(tmp_path / 'nc', causal=False)[0]}")
        )


def test_ft_compact_starts_from_the_frozen_pipeline_and_fine_tunes_the_student(tmp_path):
    """``ft-compact`` on raw log-mel: its student's taps are the compact frontend's states; the
    student trains (at the pretrained learning rate), the control leaves it as distilled;
    SpecAugment masks only in training."""
    from serkit.estimators import build_model, model_component
    from serkit.testing.dummies import toy_split
    from serkit.training.trainer import TrainConfig, _param_groups

    path, net = _write_student(tmp_path)
    spec = {
        "name": "ft-compact",
        "student": str(path),
        "hidden": 8,
        "train": {"epochs": 2, "patience": 2},
    }
    m = build_model(model_component(spec), 2, 1, 80)
    wav = tone_clip(1.3, seed=4)
    mel = build_frontend({"name": "logmel", "pool": 1}).extract(wav, 16000)  # (1, T, 80)
    states, mask = m.body.states(
        torch.from_numpy(mel[0].T[None].copy()), torch.tensor([mel.shape[1]])
    )
    ref = build_frontend(f"compact:{path}").extract(wav, 16000)
    assert states.shape[1:3] == ref.shape[:2] and bool(mask.all())
    assert np.abs(states[0].detach().numpy() - ref).max() < 1e-4
    rng = np.random.default_rng(0)
    train, val = (
        toy_split(rng, n_per=6, n_layers=1, dim=80),
        toy_split(rng, n_per=3, n_layers=1, dim=80),
    )
    before = {k: v.clone() for k, v in net.state_dict().items()}
    m.fit(train, val, 0)
    after = m.body.pretrained.state_dict()
    assert any(not torch.allclose(before[k], after[k]) for k in before)  # fine-tuned
    assert m.body.std.min() > 0 and not torch.allclose(m.body.mean, torch.zeros_like(m.body.mean))
    groups = _param_groups(m.net.body(), TrainConfig(lr=1e-3, pretrained_lr_scale=0.1))
    assert sorted(g["lr"] for g in groups)[0] == pytest.approx(1e-4)
    frozen = build_model(model_component({**spec, "freeze_student": True}), 2, 1, 80)
    frozen.fit(train, val, 0)
    assert all(torch.equal(before[k], v) for k, v in frozen.body.pretrained.state_dict().items())
    x = torch.from_numpy(np.stack([train.feats[0][0][:20]] * 2))
    mk = torch.ones(2, 20, dtype=torch.bool)
    m.net.eval()
    assert torch.equal(m.net.head(x, mk), m.net.head(x, mk))  # evaluation never masks
    torch.manual_seed(0)
    masked = m.body._spec_mask(x.transpose(1, 2), mk.sum(1))
    assert (masked != x.transpose(1, 2)).any() and masked.shape == (2, 80, 20)
    c = m.cost(train.feats[:2], [0.3, 0.3])
    assert c.macs_head > compact_macs(net.config, 100)  # the student's operations are the model's
    with pytest.raises(ConfigError, match="logmel"):
        build_model(model_component(spec), 2, 3, 384)
    with pytest.raises(ConfigError, match="pool must be 1"):
        build_model(model_component({**spec, "pool": 2}), 2, 1, 80)


def test_masked_pool_equals_pool_frames_on_one_clip():
    from serkit.nn.heads.ftcompact import masked_pool
    from serkit.nn.layers import pool_frames

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(11, 5)).astype(np.float32), rng.normal(size=(7, 5)).astype(np.float32)
    x = torch.zeros(2, 11, 5)
    x[0], x[1, :7] = torch.from_numpy(a), torch.from_numpy(b)
    x[1, 7:] = 99.0  # padding must not leak
    mask = torch.arange(11)[None] < torch.tensor([[11], [7]])
    h, m = masked_pool(x, mask, 4)
    assert h.shape == (2, 3, 5) and m.tolist() == [[True] * 3, [True, True, False]]
    assert np.allclose(h[0].numpy(), pool_frames(a[None], 4)[0], atol=1e-6)
    assert np.allclose(h[1, :2].numpy(), pool_frames(b[None], 4)[0], atol=1e-6)


def test_ft_compact_exports_one_onnx_file_from_log_mel(tmp_path):
    from serkit.audio.mel import log_mel
    from serkit.deploy.onnx_full import export_full_onnx
    from serkit.deploy.runtime import OnnxRecognizer
    from serkit.estimators import build_model, model_component

    path, _ = _write_student(tmp_path)
    model = build_model(
        model_component({"name": "ft-compact", "student": str(path), "hidden": 8}), 3, 1, 80
    )
    with torch.no_grad():  # a non-trivial head and tap statistics
        for p in model.net.head.head.parameters():
            p.add_(0.3 * torch.randn_like(p))
        model.body.mean.normal_()
    model.net.eval()
    fe = build_frontend({"name": "logmel", "pool": 1})
    clips = [tone_clip(s, seed=i, f0=120 + 30 * i) for i, s in enumerate((0.4, 1.7, 3.0))]
    ref = model.predict_proba([fe.extract(c, 16000) for c in clips])
    info = export_full_onnx(model, fe.spec(), ["a", "b", "c"], tmp_path / "f.onnx")
    got = np.stack([OnnxRecognizer(info["path"]).predict_mel(log_mel(c)) for c in clips])
    assert info["encoder"] == "compact" and np.abs(got - ref).max() <= 1e-4
    other = build_model({"name": "attnpool", "pool": 1}, 3, 1, 80)
    with pytest.raises(Exception, match="for ft-compact"):
        export_full_onnx(other, fe.spec(), ["a", "b", "c"], tmp_path / "g.onnx")


def test_distill_teacher_can_be_whisper_base():
    """Issue 32 groundwork: the teacher is a setting; Whisper base gives 512-d states."""
    from serkit.training.distill import DistillConfig, teacher_frontend

    fe = teacher_frontend(DistillConfig(teacher="whisper-base-layers", teacher_layers=[1, 2, 3]))
    assert fe.name == "whisper-base-layers" and fe.dim == 512


def test_posterior_distillation_term_matches_the_teacher_head():
    """Issue 32: the task-aware term is 0 when the student's reconstruction gives the teacher
    head's posteriors, grows when it moves the answer, and the head must read a distilled
    state; the KL is the textbook T^2-scaled one."""
    from serkit.training.distill import DistillConfig, TeacherHead, _check_head, _loss, posterior_kl

    torch.manual_seed(0)
    y = torch.randn(3, 2, 10, 4) * 2 + 1  # (N, L, T2, D) raw teacher states
    lens = torch.tensor([20, 14, 9])
    mu, sd = torch.ones(2, 1, 4), torch.full((2, 1, 4), 2.0)
    rng = np.random.default_rng(0)
    head = TeacherHead(rng.normal(size=(3, 8)), np.zeros(3), 5, ["a", "b", "c"], "toy")
    exact = [(y[:, k] - mu[k]) / sd[k] for k in range(2)]  # the standardised targets
    frames = float(_loss(exact, y, lens, mu, sd, 0.5)[0])
    kd = float(_loss(exact, y, lens, mu, sd, 0.5, 0.0, None, head, 1, 1.0, 2.0)[0])
    assert frames < 1e-5 and kd < 1e-5
    moved = [exact[0], exact[1] + torch.linspace(-1, 1, 4)]
    base = float(_loss(moved, y, lens, mu, sd, 0.5)[0])
    assert float(_loss(moved, y, lens, mu, sd, 0.5, 0.0, None, head, 1, 1.0, 2.0)[0]) > base
    s, t = torch.randn(5, 3), torch.randn(5, 3)
    p, q = torch.softmax(t / 3, -1), torch.softmax(s / 3, -1)
    assert float(posterior_kl(s, t, 3.0)) == pytest.approx(
        float(9 * (p * (p.log() - q.log())).sum(-1).mean()), rel=1e-5
    )
    cfg = DistillConfig(teacher_layers=[3, 5], student=SMALL, posterior_weight=1.0)
    assert _check_head(cfg, head) == 1
    with pytest.raises(ConfigError, match="needs a teacher head"):
        _check_head(cfg, None)
    with pytest.raises(ConfigError, match="not among"):
        _check_head(DistillConfig(teacher_layers=[1, 2], posterior_weight=1.0), head)


def test_teacher_head_from_a_model_file_is_the_model(tmp_path):
    """``head=MODEL`` resolves a saved logreg on the teacher's states into the fixed linear map
    it is: its logits on pooled raw states equal the model's own probabilities."""
    from serkit.estimators.io import load_model
    from serkit.experiment.jobs import teacher_head

    path = "serkit/deploy/pretrained/default.pt"
    h = teacher_head(path, "whisper-base-layers")
    model, fe, labels, _ = load_model(path)
    assert h.state == 3 and h.classes == labels and h.weight.shape == (len(labels), 1024)
    rng = np.random.default_rng(0)
    feats = [rng.normal(0, 1, (4, 40 + 7 * i, 512)).astype(np.float32) for i in range(3)]
    want = model.predict_proba(feats)
    x = torch.zeros(3, 54, 512)
    valid = torch.zeros(3, 54)
    for i, f in enumerate(feats):
        x[i, : f.shape[1]] = torch.from_numpy(f[3])
        valid[i, : f.shape[1]] = 1
    got = torch.softmax(h.logits(x, valid), -1).numpy()
    assert np.abs(got - want).max() < 1e-3
    with pytest.raises(ConfigError, match="teacher"):
        teacher_head(path, "whisper-tiny-layers")
