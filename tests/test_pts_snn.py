import numpy as np
import pytest
import torch

from serkit.estimators import build_model
from serkit.nn.heads.pts_snn import temporal_shift
from serkit.testing import toy_split


def test_temporal_shift_moves_channel_slices():
    x = torch.arange(4 * 1 * 8, dtype=torch.float32).reshape(4, 1, 8)
    y = temporal_shift(x, 0.25)  # 2 channels forward, 2 back, 4 unchanged
    assert torch.equal(y[1:, :, :2], x[:-1, :, :2]) and torch.equal(y[0, :, :2], torch.zeros(1, 2))
    assert torch.equal(y[:-1, :, 2:4], x[1:, :, 2:4]) and torch.equal(
        y[-1, :, 2:4], torch.zeros(1, 2)
    )
    assert torch.equal(y[:, :, 4:], x[:, :, 4:])
    one = temporal_shift(x[:1], 0.25)  # one frame: shifted slices have no neighbour -> zeros
    assert torch.equal(one[..., :4], torch.zeros(1, 1, 4)) and torch.equal(
        one[..., 4:], x[:1, :, 4:]
    )


def _task(rng, n_per=20):
    return toy_split(rng, n_per=n_per, n_layers=2, dim=12, informative_layer=0, speakers=4)


@pytest.mark.parametrize("name", ["pts-snn", "snn-vanilla", "ann-twin"])
def test_spiking_family_learns_and_reports_cost(name):
    rng = np.random.default_rng(1)
    train, test = _task(rng), _task(rng, 8)
    m = build_model(
        {
            "name": name,
            "pool": 1,
            "hidden": 24,
            "train": {"epochs": 25, "patience": 25, "lr": 1e-2},
        },
        2,
        2,
        12,
    )
    m.fit(train, None, seed=0)
    p = m.predict_proba(test.feats)
    assert (p.argmax(1) == test.labels).mean() >= 0.8
    single = np.concatenate([m.predict_proba([f]) for f in test.feats])
    assert np.max(np.abs(p - single)) < 1e-5  # padding in a batch changes nothing
    c = m.cost(test.feats, [1.0] * len(test))
    assert c.params_trainable > 0 and c.macs_head > 0
    stats = m.spike_stats(test.feats)
    if name == "ann-twin":
        assert c.sops_head == 0 and stats is None
    else:
        assert c.sops_head > 0 and set(stats) == (
            {"lif1", "lif2"} if name == "snn-vanilla" else {"lif1", "lif2", "lif_ctx", "lif_kv"}
        )
        for st in stats.values():
            assert 0 <= st["rate"] <= 1 and 0 <= st["silent"] <= 1 and 0 <= st["saturated"] <= 1


def test_degenerate_inputs_give_finite_outputs():
    rng = np.random.default_rng(2)
    m = build_model({"name": "pts-snn", "pool": 2, "hidden": 16, "train": {"epochs": 2}}, 3, 2, 12)
    train = _task(rng)
    train.labels = np.arange(len(train)) % 3
    m.fit(train, None, seed=0)
    one_frame = np.zeros((2, 1, 12), np.float32)
    zeros = np.zeros((2, 50, 12), np.float32)
    long = rng.normal(size=(2, 1500, 12)).astype(np.float32)  # 30 s of 50 Hz frames
    p = m.predict_proba([one_frame, zeros, long])
    assert p.shape == (3, 3) and np.all(np.isfinite(p)) and np.allclose(p.sum(1), 1, atol=1e-5)
    c = m.cost([one_frame, zeros, long], [0.02, 1.0, 30.0])
    assert all(np.isfinite(v) for v in (c.macs_head, c.sops_head, c.energy_head_mj))


def test_same_seed_same_snn():
    rng = np.random.default_rng(3)
    data = _task(rng, 6)
    outs = []
    for _ in range(2):
        m = build_model(
            {"name": "pts-snn", "pool": 1, "hidden": 8, "train": {"epochs": 2}}, 2, 2, 12
        )
        m.fit(data, None, seed=5)
        outs.append(m.predict_proba(data.feats))
    assert np.array_equal(outs[0], outs[1])


def test_bias_voltages_depend_on_the_utterance():
    """CAMPC: the calibration bias is computed per utterance from its context."""
    torch.manual_seed(0)
    m = build_model({"name": "pts-snn", "pool": 1, "hidden": 16}, 2, 1, 8)
    head = m.net.head
    torch.nn.init.normal_(head.bias_mix, std=0.5)
    torch.nn.init.normal_(head.kv.weight, std=1.0)
    captured = []
    orig = head.lif1.forward
    head.lif1.forward = lambda x, bias=None: captured.append(bias) or orig(x, bias)
    head.eval()
    x = torch.randn(2, 20, 8) * 3  # heads take (N, T, D): the featurizer has run before them
    x[1] *= 2
    head(x, torch.ones(2, 20, dtype=torch.bool))
    b = captured[0]
    assert head.lif_kv(torch.ones(3, 1, 32) * 5).sum() > 0  # context neurons can fire
    assert b.shape == (2, 16) and not torch.allclose(b[0], b[1])


@pytest.mark.parametrize("name", ["pts-snn", "ann-twin"])
def test_onnx_export_dynamic_T_matches_torch(tmp_path, name):
    pytest.importorskip("onnxruntime")
    from serkit.deploy.onnx_snn import check_snn_onnx, export_snn_onnx

    rng = np.random.default_rng(4)
    data = _task(rng, 10)
    m = build_model({"name": name, "pool": 2, "hidden": 16, "train": {"epochs": 3}}, 2, 2, 12)
    m.fit(data, None, seed=0)
    path = export_snn_onnx(m, {"name": "test"}, ["a", "b"], tmp_path / "snn.onnx", example_frames=7)
    feats = [
        rng.normal(size=(2, T, 12)).astype(np.float32) for T in (1, 9, 40, 123)
    ]  # other T than exported
    res = check_snn_onnx(m, path, feats)
    assert res["spike_agreement"] >= 0.999
    assert res["logits_max_abs_diff"] < 1e-3
    import onnx

    from serkit.deploy.onnx_meta import OnnxMeta

    meta = OnnxMeta.from_props({p.key: p.value for p in onnx.load(str(path)).metadata_props})
    assert (
        meta.labels == ["a", "b"] and meta.pool == 2 and meta.kind == "head" and meta.model == name
    )


@pytest.mark.parametrize("bias_map", ["diag", "dense"])
def test_calibration_starts_as_no_bias_and_its_size(bias_map):
    """At initialisation CAMPC adds zero bias (the head equals the vanilla SNN's forward); the
    compact 'diag' map costs 2 (M + 1) H parameters, the dense one (M H + 1) 2H."""
    torch.manual_seed(0)
    M, H, D = 4, 16, 8
    m = build_model(
        {"name": "pts-snn", "pool": 1, "hidden": H, "n_prompts": M, "bias_map": bias_map}, 2, 1, D
    )
    head = m.net.head
    b1, b2 = head.bias_voltages(torch.randn(3, M, H))
    assert b1.shape == b2.shape == (3, H) and not b1.any() and not b2.any()
    n = sum(
        p.numel() for name, p in head.named_parameters() if name.startswith(("bias_", "to_bias"))
    )
    assert n == (2 * (M + 1) * H if bias_map == "diag" else (M * H + 1) * 2 * H)


def test_default_pts_snn_fits_the_parameter_aim():
    """Issue 3: <= 0.5 M trainable parameters on Whisper tiny states (D = 384, 7 classes)."""
    m = build_model("pts-snn", 7, 3, 384)
    assert sum(p.numel() for p in m.net.parameters() if p.requires_grad) <= 500_000
