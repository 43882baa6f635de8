import numpy as np
import pytest
import torch

from serkit.errors import ConfigError
from serkit.evaluation.energy import MacCounter, count_params
from serkit.models import Split, build_model
from serkit.models.heads import LayerWeighting
from serkit.models.torch_models import pool_frames


def _task(rng, n_per=30, L=3, D=16, informative_layer=1):
    """Two classes separable only in one layer's mean; lengths vary 5..40 frames."""
    feats, y = [], []
    for c in (0, 1):
        for _ in range(n_per):
            T = int(rng.integers(5, 40))
            f = rng.normal(0, 1, (L, T, D)).astype(np.float32)
            f[informative_layer, :, :4] += 1.5 if c else -1.5
            feats.append(f)
            y.append(c)
    y = np.array(y)
    spk = [f"s{i % 6}" for i in range(len(y))]
    return Split(feats, y, spk, [str(i) for i in range(len(y))])


@pytest.mark.parametrize("name", ["logreg", "linear", "mlp", "attnpool"])
def test_models_learn_separable_task(rng, name):
    train, test = _task(rng), _task(rng, n_per=10)
    overrides = {"train": {"epochs": 30, "patience": 30, "lr": 1e-2}} if name != "logreg" else {}
    m = build_model(name, overrides, 2, 3, 16)
    m.fit(train, test if name != "logreg" else None, seed=0)
    proba = m.predict_proba(test.feats)
    assert proba.shape == (20, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert (proba.argmax(1) == test.labels).mean() >= 0.9
    cost = m.cost(test.feats, [1.0] * len(test))
    assert cost["params_trainable"] > 0 and cost["macs_head"] > 0


def test_logreg_auto_picks_the_informative_layer(rng):
    m = build_model("logreg", {}, 2, 3, 16)
    info = m.fit(_task(rng, informative_layer=2), None, seed=0)
    assert info["layer"] == 2


def test_learned_layer_weights_find_the_informative_layer(rng):
    m = build_model("attnpool", {"train": {"epochs": 25, "patience": 25}}, 2, 3, 16)
    info = m.fit(_task(rng, informative_layer=2), None, seed=0)
    w = info["layer_weights"]
    assert int(np.argmax(w)) == 2


@pytest.mark.parametrize("name", ["attnpool", "pts-snn"])
def test_auto_layer_is_chosen_on_training_speakers_and_survives_state(rng, name):
    """``layer: auto`` picks the informative layer by speaker-grouped CV (no test data) and
    the choice travels with the saved state."""
    data = _task(rng, informative_layer=2)
    cfg = {"layer": "auto", "train": {"epochs": 3}}
    m = build_model(name, cfg, 2, 3, 16)
    info = m.fit(data, None, seed=0)
    assert info["layer"] == 2 and set(info["inner_val_ua"]) == {0, 1, 2}
    assert info["inner_val_ua"][2] > max(info["inner_val_ua"][0], info["inner_val_ua"][1])
    assert m.net.head.layers.weights().tolist() == [0.0, 0.0, 1.0]
    other = build_model(name, cfg, 2, 3, 16)
    other.load_state(m.state())
    assert other.net.head.layers.index() == 2
    np.testing.assert_allclose(other.predict_proba(data.feats[:5]), m.predict_proba(data.feats[:5]), atol=1e-6)


def test_layer_weighting_rejects_bad_layer():
    with pytest.raises(ConfigError, match="layer must be"):
        LayerWeighting(3, fixed=3)
    with pytest.raises(ConfigError, match="layer must be"):
        LayerWeighting(3, fixed="best")


def test_batched_prediction_equals_single(rng):
    data = _task(rng, n_per=10)
    m = build_model("attnpool", {"train": {"epochs": 2}}, 2, 3, 16)
    m.fit(data, None, seed=0)
    batched = m.predict_proba(data.feats)
    single = np.concatenate([m.predict_proba([f]) for f in data.feats])
    assert np.max(np.abs(batched - single)) < 1e-5


def test_same_seed_same_model(rng):
    data = _task(rng, n_per=8)
    outs = []
    for _ in range(2):
        m = build_model("mlp", {"train": {"epochs": 3}}, 2, 3, 16)
        m.fit(data, None, seed=7)
        outs.append(m.predict_proba(data.feats))
    assert np.array_equal(outs[0], outs[1])


def test_mac_counter_linear_known_value():
    lin = torch.nn.Linear(10, 4)
    c = MacCounter()
    with c.attach(lin):
        lin(torch.zeros(3, 7, 10))
    assert c.macs == 3 * 7 * 10 * 4
    assert count_params(lin) == 44


def test_mac_counter_lstm_known_value():
    lstm = torch.nn.LSTM(5, 8, batch_first=True)
    c = MacCounter()
    with c.attach(lstm):
        lstm(torch.zeros(1, 6, 5))
    assert c.macs == 6 * 4 * 8 * (5 + 8)


def test_attnpool_macs_scale_with_duration(rng):
    m = build_model("attnpool", {"pool": 1}, 2, 1, 16)
    short = [rng.normal(size=(1, 50, 16)).astype(np.float32)]
    long = [rng.normal(size=(1, 100, 16)).astype(np.float32)]
    a = m.cost(short, [1.0])["macs_head"]
    b = m.cost(long, [2.0])["macs_head"]  # per-3-s normalisation: same frame rate -> same figure
    assert a == pytest.approx(b, rel=0.02)


def test_layer_weighting_fixed_layer():
    lw = LayerWeighting(3, fixed=1)
    x = torch.randn(2, 3, 4, 5)
    assert torch.equal(lw(x), x[:, 1])
    assert lw.logits is None


def test_pool_frames():
    f = np.arange(2 * 5 * 1, dtype=np.float32).reshape(2, 5, 1)
    p = pool_frames(f, 2)
    assert p.shape == (2, 3, 1)
    assert p[0, :, 0].tolist() == [0.5, 2.5, 4.0]


def test_unknown_model_and_key():
    with pytest.raises(ConfigError, match="unknown model"):
        build_model("nope", {}, 2, 1, 4)
    with pytest.raises(ConfigError, match="unknown config key"):
        build_model("attnpool", {"hiden": 3}, 2, 1, 4)
