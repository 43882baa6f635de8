"""ResLSTM-SA / LSTM-SA: published sizes and initialisation, padding invariance, learning,
SGDR schedule, and a tuner that cannot see test folds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from serkit.core.cost import Cost
from serkit.data.corpora import prepare, write_manifest
from serkit.estimators import MODELS, FitReport, Model, Split, build_model
from serkit.nn.counting import count_params
from serkit.nn.heads import ResLSTMSAHead
from serkit.training.trainer import TrainConfig, make_optimizer


@pytest.mark.parametrize("hidden,params", [(32, 27_988), (64, 46_772), (128, 108_916)])
def test_reslstm_parameter_counts_equal_the_papers(hidden, params):
    # the paper: RAVDESS, 8 classes, 46-d MFCC + chroma
    m = build_model({"name": "reslstm-sa", "hidden": hidden}, 8, 1, 46)
    assert count_params(m.net) == params
    # the no-residual ablation has exactly the same parameters
    assert (
        count_params(
            build_model({"name": "reslstm-sa", "hidden": hidden, "residual": False}, 8, 1, 46).net
        )
        == params
    )


def test_lstm_sa_baseline_is_one_lstm():
    m = build_model({"name": "lstm-sa", "hidden": 64}, 8, 1, 46)
    # LSTM(46->64) 4*64*(46+64+2) + u 64 + BN 2*64 + Linear 64*8+8
    assert count_params(m.net) == 4 * 64 * (46 + 64 + 2) + 64 + 128 + 520
    assert not hasattr(m.net.head, "lstm1")


def test_published_initialisation():
    head = ResLSTMSAHead(46, 8, hidden=64)
    for lstm in (head.lstm1, head.lstm2):
        h = lstm.hidden_size
        w_hh = lstm.weight_hh_l0.detach()  # (4H, H) with orthonormal columns
        assert torch.allclose(w_hh.T @ w_hh, torch.eye(h), atol=1e-4)
        b = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach()
        assert torch.all(b[h : 2 * h] == 1.0)  # forget gate
        assert torch.all(b[:h] == 0) and torch.all(b[2 * h :] == 0)
    assert torch.all(head.out.bias == 0)


def _seq_task(rng, n_per=24, D=46):
    """Class 1 has a rising ramp on 3 dims in the second half of the clip; lengths 6..30."""
    feats, y = [], []
    for c in (0, 1):
        for _ in range(n_per):
            T = int(rng.integers(6, 30))
            f = rng.normal(0, 1, (1, T, D)).astype(np.float32)
            if c:
                f[0, T // 2 :, :3] += 2.0
            feats.append(f)
            y.append(c)
    return Split(
        feats, np.array(y), [f"s{i % 4}" for i in range(len(y))], [str(i) for i in range(len(y))]
    )


@pytest.mark.parametrize("name", ["reslstm-sa", "lstm-sa"])
def test_learns_and_batched_equals_single(rng, name):
    train, test = _seq_task(rng), _seq_task(rng, n_per=8)
    m = build_model({"name": name, "train": {"epochs": 25, "lr": 3e-3, "batch_size": 8}}, 2, 1, 46)
    info = m.fit(train, test, seed=0)
    assert info.train.epochs == 25  # no early stop: 100-epoch budget style, best epoch kept
    proba = m.predict_proba(test.feats)
    assert (proba.argmax(1) == test.labels).mean() >= 0.85
    single = np.concatenate([m.predict_proba([f]) for f in test.feats])
    assert np.max(np.abs(proba - single)) < 1e-5  # padding never leaks into real frames
    cost = m.cost(test.feats, [1.0] * len(test))
    # LSTM MACs grow with the number of frames: 4H(I+H) per step per LSTM
    assert cost.macs_head > 0 and cost.params_trainable == count_params(m.net)


def test_lstm_macs_known_value():
    m = build_model({"name": "reslstm-sa", "hidden": 64}, 8, 1, 46)
    T = 10
    f = np.zeros((1, T, 46), np.float32)
    cost = m.cost([f], [3.0])  # one clip of 3 s -> per-3 s figure equals this clip's count
    lstm = T * (4 * 46 * (46 + 46) + 4 * 64 * (46 + 64))
    expected = lstm + T * 46 + 2 * T * 64 + 64 * 8  # + standardisation + attention + classifier
    assert cost.macs_head == expected


def test_cosine_warm_restarts_restart_every_t0_epochs():
    p = torch.nn.Parameter(torch.zeros(1))
    cfg = TrainConfig(lr=1e-3, optimizer="adam", scheduler="cosine-restarts", t0=2)
    opt, sched = make_optimizer(
        [{"params": [p], "lr": 1e-3, "weight_decay": 0.0}], cfg, steps_per_epoch=5
    )
    lrs = []
    for _ in range(25):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert (
        lrs[0] == pytest.approx(1e-3)
        and lrs[10] == pytest.approx(1e-3)
        and lrs[20] == pytest.approx(1e-3)
    )
    assert lrs[9] < 1e-4  # annealed towards 0 at the end of each 2-epoch cycle
    assert isinstance(opt, torch.optim.Adam) and not isinstance(opt, torch.optim.AdamW)


# --- the tuner never reads a test fold ---------------------------------------------------------

SEEN: list[dict] = []


@dataclass
class _SpyConfig:
    C: float = 1.0


class _Spy(Model):
    """Records every feature array it is given (by content hash) in fit and predict."""

    name = "_spy"
    config_cls = _SpyConfig

    def fit(self, train, val, seed):
        SEEN.append(
            {"fit": {_h(f) for f in train.feats}, "val": {_h(f) for f in val.feats}, "pred": set()}
        )
        return FitReport()

    def predict_proba(self, feats):
        SEEN[-1]["pred"] |= {_h(f) for f in feats}
        return np.tile([0.5, 0.5], (len(feats), 1))

    def cost(self, feats, durations):
        return Cost(0, 0)

    def state(self):
        return {}

    def load_state(self, state):
        pass


def _h(f: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(f).tobytes()).hexdigest()


def _spy_tune_setup(tmp_path, toy_corpus, cache_dir, monkeypatch, **bench):
    """The toy corpus as a manifest and a tune config for the recording ``_spy`` model."""
    from serkit.experiment.config import experiment_from_dict

    monkeypatch.setitem(MODELS, "_spy", _Spy)
    SEEN.clear()
    manifest = tmp_path / "toy.jsonl"
    write_manifest(prepare("folder", toy_corpus, speaker_regex=r"^(spk\d+)_").utterances, manifest)
    return manifest, experiment_from_dict(
        {
            "manifest": str(manifest),
            "model": "_spy",
            "frontend": "logmel",
            "protocol": "kfold-speaker:2",
            **bench,
        }
    )


def _run(cache_dir):
    from serkit.experiment.config import RunConfig

    return RunConfig(cache_dir=str(cache_dir), progress=False)


def test_tune_objective_never_sees_a_test_fold(tmp_path, toy_corpus, cache_dir, monkeypatch):
    from serkit.data.corpora import read_manifest
    from serkit.data.protocols import make_folds
    from serkit.experiment.tune import TuneConfig, run_tune
    from serkit.features import FeatureCache, build_frontend, extract_features

    manifest, cfg = _spy_tune_setup(tmp_path, toy_corpus, cache_dir, monkeypatch)
    space = {"C": {"type": "loguniform", "low": 0.1, "high": 10.0}}
    r = run_tune(cfg, TuneConfig(trials=3), tmp_path / "tune", space, _run(cache_dir))
    assert r["n_trials"] == 3 and (tmp_path / "tune" / "best.yaml").exists()

    # ground truth, computed independently of the tuner: which features belong to which fold
    utts = read_manifest(manifest)
    feats = extract_features(
        build_frontend("logmel"), utts, FeatureCache(cache_dir), progress=False
    ).features
    folds = make_folds(utts, "kfold-speaker:2")
    train_sets = [{_h(feats[utts[i].id]) for i in f.train} for f in folds]
    assert len(SEEN) == 3 * len(folds)  # one training per trial per outer fold
    for call in SEEN:
        seen = call["fit"] | call["val"] | call["pred"]
        # everything one training touched lies inside ONE outer fold's training set ...
        assert any(seen <= tr for tr in train_sets)
        # ... and it is scored only on the validation speakers it was given
        assert call["pred"] == call["val"] and not (call["fit"] & call["val"])
    # every outer fold was used, and resuming reuses the finished trials
    assert {frozenset(tr) for tr in train_sets} == {
        frozenset(next(tr for tr in train_sets if (c["fit"] | c["val"]) <= tr)) for c in SEEN
    }
    logs = []
    run_tune(cfg, TuneConfig(trials=3), tmp_path / "tune", space, _run(cache_dir), log=logs.append)
    assert any("3 finished trial(s) reused" in m for m in logs) and len(SEEN) == 3 * len(folds)


def test_tune_trains_on_speaker_normalised_features_when_asked(
    tmp_path, toy_corpus, cache_dir, monkeypatch
):
    from serkit.data.corpora import read_manifest
    from serkit.experiment.tune import TuneConfig, run_tune
    from serkit.features import FeatureCache, build_frontend, extract_features, normalize_features

    manifest, cfg = _spy_tune_setup(
        tmp_path, toy_corpus, cache_dir, monkeypatch, normalize="speaker"
    )
    run_tune(
        cfg,
        TuneConfig(trials=1),
        tmp_path / "tune",
        {"C": {"type": "loguniform", "low": 0.1, "high": 10.0}},
        _run(cache_dir),
    )
    utts = read_manifest(manifest)
    raw = extract_features(
        build_frontend("logmel"), utts, FeatureCache(cache_dir), progress=False
    ).features
    normed = normalize_features(raw, {u.id: u.speaker for u in utts}, "speaker")[0]
    seen = set().union(*(c["fit"] | c["val"] for c in SEEN))
    assert seen and seen <= {_h(f) for f in normed.values()}
    assert not seen & {_h(f) for f in raw.values()}


def test_batches_never_hold_a_single_item():
    from serkit.training.trainer import _length_bucketed_batches

    rng = np.random.default_rng(0)
    for n in (1 + 64, 1 + 128, 9, 17, 2):
        batches = list(_length_bucketed_batches(rng.integers(1, 50, n), 8, rng))
        assert sorted(np.concatenate(batches).tolist()) == list(range(n))
        assert all(len(b) >= 2 for b in batches)


@pytest.mark.parametrize("total", [1, 3, 4, 9, 10, 11, 19, 20, 400])
def test_onecycle_schedule_works_for_any_number_of_steps(total):
    """A 1-epoch refit of 10 batches once crashed torch's OneCycleLR (division by zero)."""
    p = torch.nn.Parameter(torch.zeros(1))
    cfg = TrainConfig(epochs=1, scheduler="onecycle")
    opt, sched = make_optimizer(
        [{"params": [p], "lr": 1e-3, "weight_decay": 0.0}], cfg, steps_per_epoch=total
    )
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert all(0 < lr <= 1e-3 + 1e-12 for lr in lrs)
    if total >= 20:
        assert max(lrs) == pytest.approx(1e-3) and lrs[-1] < 1e-4  # warm-up then decay


def test_leaky_norm_takes_statistics_of_every_clip_and_says_so(tmp_path, toy_corpus, cache_dir):
    """Issue 33: ``leaky_norm`` (the public ResLSTM-SER notebook's normalisation, measured, never
    a headline): the frame standardisation of a torch head is fitted on every clip of the
    experiment, test folds included; without it, on the training fold only. The result's
    protocol says LEAKY; a model that standardises otherwise is refused."""
    from serkit.core.errors import ConfigError
    from serkit.experiment.bench import run_bench
    from serkit.experiment.config import RunConfig, load_experiment

    m = tmp_path / "m.jsonl"
    write_manifest(prepare("folder", toy_corpus, speaker_regex=r"^(spk\d+)_").utterances, m)
    run = RunConfig(progress=False, cache_dir=str(cache_dir))
    fitted = []
    real_fit = __import__("serkit.nn.layers", fromlist=["Standardize"]).Standardize.fit

    def spy(self, feats):
        fitted.append(sum(f.shape[-2] for f in feats))  # frames it was fitted on
        return real_fit(self, feats)

    sets = ["frontend=logmel", "model.train.epochs=1", "model.hidden=8"]
    mp = pytest.MonkeyPatch()
    mp.setattr("serkit.nn.layers.Standardize.fit", spy)
    try:
        out = {}
        for leaky in (False, True):
            fitted.clear()
            cfg = load_experiment(
                None,
                sets + [f"leaky_norm={str(leaky).lower()}"],
                manifest=str(m),
                model="lstm-sa",
                protocol="kfold-speaker:2",
                seeds=1,
            )
            r = run_bench(cfg, tmp_path / f"run{leaky}", run, log=lambda *a: None)
            out[leaky] = (list(fitted), r.protocol)
    finally:
        mp.undo()
    (plain, p0), (leaky, p1) = out[False], out[True]
    # the two folds' fits (a later fit, the same in both runs, sizes the cost): leaky, both on
    # every clip's frames; otherwise each on its own training fold's, fewer
    assert leaky[0] == leaky[1] > max(plain[:2]) and leaky[2:] == plain[2:]
    assert "LEAKY" in p1 and "LEAKY" not in p0
    cfg = load_experiment(
        None,
        ["frontend=logmel", "leaky_norm=true"],
        manifest=str(m),
        model="logreg",
        protocol="kfold-speaker:2",
        seeds=1,
    )
    with pytest.raises(ConfigError, match="leaky_norm"):
        run_bench(cfg, tmp_path / "runlr", run, log=lambda *a: None)
