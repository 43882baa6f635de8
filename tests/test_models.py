import numpy as np
import pytest
import torch

from serkit.core.errors import ConfigError
from serkit.estimators import Split, build_model
from serkit.nn.counting import MacCounter, count_params
from serkit.nn.featurizer import Featurizer
from serkit.nn.layers import pool_frames
from serkit.testing import toy_split as _task


@pytest.mark.parametrize("name", ["logreg", "linear", "mlp", "attnpool"])
def test_models_learn_separable_task(rng, name):
    train, test = _task(rng), _task(rng, n_per=10)
    overrides = {"train": {"epochs": 30, "patience": 30, "lr": 1e-2}} if name != "logreg" else {}
    m = build_model({"name": name, **overrides}, 2, 3, 16)
    m.fit(train, test if name != "logreg" else None, seed=0)
    proba = m.predict_proba(test.feats)
    assert proba.shape == (20, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert (proba.argmax(1) == test.labels).mean() >= 0.9
    cost = m.cost(test.feats, [1.0] * len(test))
    assert cost.params_trainable > 0 and cost.macs_head > 0


def test_logreg_auto_picks_the_informative_layer(rng):
    m = build_model("logreg", 2, 3, 16)
    info = m.fit(_task(rng, informative_layer=2), None, seed=0)
    assert info.layer == 2


def test_inner_layer_folds_keep_every_class_with_single_emotion_speakers():
    """Talk-show corpora (URDU): most speakers show one emotion. The inner folds of
    ``layer: auto`` must still put every class on both sides (plain speaker-grouped folds
    leave classes out of this table's validation folds) and never split a speaker."""
    from serkit.estimators.layer_choice import inner_speaker_folds

    table = [
        ("a1", 0, 22),
        ("a2", 0, 28),
        ("a3", 0, 48),
        ("h1", 1, 12),
        ("h2", 1, 14),
        ("h3", 1, 28),
        ("h4", 1, 6),
        ("n1", 2, 72),
        ("n2", 2, 10),
        ("n3", 2, 4),
        ("s1", 3, 38),
        ("s2", 3, 40),
        ("s3", 3, 6),
    ]
    y = np.concatenate([[c] * n for _, c, n in table])
    g = np.concatenate([[s] * n for s, _, n in table])
    folds = inner_speaker_folds(y, g, 3)
    assert len(folds) == 3
    assert sorted(np.concatenate([va for _, va in folds]).tolist()) == list(range(len(y)))
    for tr, va in folds:
        assert set(y[tr]) == set(y[va]) == {0, 1, 2, 3}
        assert not set(g[tr]) & set(g[va])
    assert [v.tolist() for _, v in folds] == [v.tolist() for _, v in inner_speaker_folds(y, g, 3)]


def test_learned_layer_weights_find_the_informative_layer(rng):
    m = build_model(
        {"name": "attnpool", "layer": "learned", "train": {"epochs": 25, "patience": 25}}, 2, 3, 16
    )
    info = m.fit(_task(rng, informative_layer=2), None, seed=0)
    w = info.layer_weights
    assert int(np.argmax(w)) == 2


@pytest.mark.parametrize("name", ["attnpool", "pts-snn"])
def test_auto_layer_is_chosen_on_training_speakers_and_survives_state(rng, name):
    """``layer: auto`` picks the informative layer by speaker-grouped CV (no test data) and
    the choice travels with the saved state."""
    data = _task(rng, informative_layer=2)
    cfg = {"layer": "auto", "train": {"epochs": 3}}
    m = build_model({"name": name, **cfg}, 2, 3, 16)
    info = m.fit(data, None, seed=0)
    assert info.layer == 2 and set(info.inner_val_ua) == {"0", "1", "2", "mean"}
    assert info.inner_val_ua["2"] > max(info.inner_val_ua["0"], info.inner_val_ua["1"])
    assert m.net.featurizer.weights().tolist() == [0.0, 0.0, 1.0]
    other = build_model({"name": name, **cfg}, 2, 3, 16)
    other.load_state(m.state())
    assert other.net.featurizer.index() == 2
    np.testing.assert_allclose(
        other.predict_proba(data.feats[:5]), m.predict_proba(data.feats[:5]), atol=1e-6
    )


@pytest.mark.parametrize("name", ["attnpool", "pts-snn"])
def test_cv_layer_init_starts_learned_weights_from_training_speaker_cv(rng, name):
    """``layer: cv``: learned weights start at softmax((UA_l - max UA) / temp) of the inner CV
    on training speakers, and a refit starts from the same point (not from uniform)."""
    data, val = _task(rng, informative_layer=2), _task(rng, n_per=8, informative_layer=2)
    val = Split(val.feats, val.labels, [f"v{i % 2}" for i in range(len(val))], val.ids)
    cfg = {"layer": "cv", "layer_temp": 0.1, "train": {"epochs": 2, "lr": 1e-9, "refit": True}}
    m = build_model({"name": name, **cfg}, 2, 3, 16)
    info = m.fit(data, val, seed=0)
    ua = np.array([info.inner_val_ua[str(i)] for i in range(3)])
    expect = np.exp((ua - ua.max()) / 0.1) / np.exp((ua - ua.max()) / 0.1).sum()
    np.testing.assert_allclose(info.layer_weights_init, expect, atol=1e-3)
    assert int(np.argmax(info.layer_weights_init)) == 2 and info.layer_weights_init[2] > 0.9
    assert info.refit_epochs is not None
    np.testing.assert_allclose(info.layer_weights, info.layer_weights_init, atol=1e-3)  # lr ~ 0
    assert m.net.featurizer.logits.requires_grad


def test_auto_prefers_the_layer_mean_when_every_layer_carries_the_signal(rng):
    """Weak signal with independent noise in every layer: averaging the standardised layers
    beats any single one, so ``select_layer(mean=True)`` picks ``"mean"``; not so when only
    one layer is informative."""
    from serkit.estimators.layer_choice import pooled_stats, select_layer

    feats, y = [], []
    for i in range(240):
        c = i % 2
        f = rng.normal(0, 1, (3, 20, 8)).astype(np.float32)
        f[:, :, :2] += 0.12 if c else -0.12
        feats.append(f)
        y.append(c)
    y, spk = np.array(y), [f"s{i % 8}" for i in range(240)]
    best, scores = select_layer(pooled_stats(feats), y, spk, mean=True)
    assert best == "mean" and scores["mean"] > max(scores[0], scores[1], scores[2]) + 0.03
    assert select_layer(pooled_stats(feats), y, spk)[0] in (0, 1, 2)  # without the candidate
    one = _task(rng, informative_layer=1)
    assert select_layer(pooled_stats(one.feats), one.labels, one.speakers, mean=True)[0] == 1


def test_a_train_only_group_trains_in_every_inner_part_and_is_never_scored(rng):
    """A single-class corpus among corpus groups (BAVED's neutral level): its rows join every
    inner training part, never a validation part, and the number of parts counts the others."""
    from sklearn.linear_model import LogisticRegression

    from serkit.estimators.layer_choice import select_layer

    y = np.array([0, 1] * 30 + [0] * 20)
    groups = ["a"] * 20 + ["b"] * 20 + ["c"] * 20 + ["n"] * 20
    pooled = rng.normal(0, 1, (80, 2, 4))
    pooled[:, 0, 0] += 3 * y
    pooled[60:, :, 3] = 999.0  # marks the train-only rows
    fits, predicts = [], []

    class Spy(LogisticRegression):
        def fit(self, x, yy):
            fits.append(int((x[:, 3] == 999.0).sum()))
            return super().fit(x, yy)

        def predict(self, x):
            predicts.append(int((x[:, 3] == 999.0).sum()))
            return super().predict(x)

    best, scores = select_layer(pooled, y, groups, 3, lambda: Spy(), train_only={"n"})
    assert best == 0 and scores[0] > 0.9
    assert fits == [20] * 6 and predicts == [0] * 6  # 3 parts (a, b, c) x 2 layers
    with pytest.raises(ConfigError, match="at least 2"):
        select_layer(pooled[40:], y[40:], groups[40:], 3, lambda: Spy(), train_only={"n"})


def test_auto_mean_choice_averages_layers_and_keeps_them_all():
    lw = Featurizer(3, "auto")
    lw.choose(3)
    x = torch.randn(2, 3, 5, 4)
    assert lw.is_mean() and lw.used() == [0, 1, 2]
    torch.testing.assert_close(lw(x), x.mean(1))
    torch.testing.assert_close(lw.weights(), torch.full((3,), 1 / 3))
    with pytest.raises(ConfigError, match="cannot drop"):
        lw.restrict([0, 2])
    with pytest.raises(ConfigError, match="several layers"):
        lw.index()
    with pytest.raises(ConfigError, match="auto layer choice"):
        lw.choose(4)
    lw.choose(1)
    lw.restrict([1, 2])
    assert lw.index() == 0 and lw.used() == [0] and lw.n_layers == 2
    torch.testing.assert_close(lw(x[:, 1:]), x[:, 1])
    fixed = Featurizer(3, "mean")  # layer: mean, no choice to make
    assert fixed.logits is None and fixed.used() == [0, 1, 2]
    torch.testing.assert_close(fixed(x), x.mean(1))


def test_featurizer_rejects_bad_layer_settings():
    for bad in (3, -1, "best", None, True):
        with pytest.raises(ConfigError, match="layer must be"):
            Featurizer(3, bad)
    with pytest.raises(ConfigError, match="layer_temp"):
        Featurizer(3, "cv", temp=0.0)
    assert Featurizer(3, "cv").temp == 0.01 and Featurizer(3, "cv", 0.5).temp == 0.5
    # the config loader refuses them before any model is built, naming the allowed values
    for bad in ("cv:0.1", None, "best"):
        with pytest.raises(ConfigError, match="model.layer"):
            build_model({"name": "attnpool", "layer": bad}, 2, 3, 4)


def test_batched_prediction_equals_single(rng):
    data = _task(rng, n_per=10)
    m = build_model({"name": "attnpool", "train": {"epochs": 2}}, 2, 3, 16)
    m.fit(data, None, seed=0)
    batched = m.predict_proba(data.feats)
    single = np.concatenate([m.predict_proba([f]) for f in data.feats])
    assert np.max(np.abs(batched - single)) < 1e-5


def test_same_seed_same_model(rng):
    data = _task(rng, n_per=8)
    outs = []
    for _ in range(2):
        m = build_model({"name": "mlp", "train": {"epochs": 3}}, 2, 3, 16)
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
    m = build_model({"name": "attnpool", "pool": 1}, 2, 1, 16)
    short = [rng.normal(size=(1, 50, 16)).astype(np.float32)]
    long = [rng.normal(size=(1, 100, 16)).astype(np.float32)]
    a = m.cost(short, [1.0]).macs_head
    b = m.cost(long, [2.0]).macs_head  # per-3-s normalisation: same frame rate -> same figure
    assert a == pytest.approx(b, rel=0.02)


def test_featurizer_fixed_layer():
    lw = Featurizer(3, 1)
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
        build_model("nope", 2, 1, 4)
    with pytest.raises(ConfigError, match="unknown config key"):
        build_model({"name": "attnpool", "hiden": 3}, 2, 1, 4)
