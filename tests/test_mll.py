"""MLL: the four losses against hand-computed values, energy-adaptive mixup (SNR, soft label,
edge cases), the cached variant bank, and a bench run that never mixes in test-fold audio."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from serkit.training.augment import (
    AugmentConfig,
    build_eam_bank,
    eam_mix,
    soft_label,
    usable_variants,
)
from serkit.training.losses import (
    CenterLoss,
    LossConfig,
    MultiLoss,
    class_balanced_alpha,
    focal,
    kl_div,
    supcon,
)

LN2 = math.log(2.0)


def test_kl_div_known_values():
    logits = torch.tensor([[0.0, LN2]])  # p = [1/3, 2/3]
    assert kl_div(logits, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(math.log(3))
    expected = 0.5 * math.log(0.5 / (1 / 3)) + 0.5 * math.log(0.5 / (2 / 3))
    assert kl_div(logits, torch.tensor([[0.5, 0.5]])).item() == pytest.approx(expected, abs=1e-6)
    assert kl_div(logits, torch.tensor([[1 / 3, 2 / 3]])).item() == pytest.approx(0.0, abs=1e-6)


def test_focal_known_values():
    logits = torch.tensor([[0.0, LN2]])
    t = torch.tensor([[1.0, 0.0]])
    assert focal(logits, t, gamma=2.0).item() == pytest.approx((2 / 3) ** 2 * math.log(3), abs=1e-6)
    assert focal(logits, t, gamma=0.0).item() == pytest.approx(
        math.log(3), abs=1e-6
    )  # = cross-entropy
    alpha = torch.tensor([2.0, 0.5])
    assert focal(logits, t, 2.0, alpha).item() == pytest.approx(
        2 * (2 / 3) ** 2 * math.log(3), abs=1e-6
    )


def test_class_balanced_alpha():
    a = class_balanced_alpha([1, 3])
    assert torch.allclose(a, torch.tensor([1.5, 0.5]))
    assert class_balanced_alpha([2, 0, 2]).tolist() == [1.0, 0.0, 1.0]  # absent class: weight 0


def test_supcon_known_value_and_degenerate_batches():
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 0, 1])
    # anchors 0 and 1: -log(e^1 / (e^1 + e^0)); anchor 2 has no positive and is skipped
    assert supcon(z, y, temperature=1.0).item() == pytest.approx(math.log(1 + math.e) - 1, abs=1e-6)
    assert supcon(z, torch.tensor([0, 1, 2])).item() == 0.0  # no positives anywhere
    assert supcon(z[:1], y[:1]).item() == 0.0  # batch of one
    one_class = supcon(torch.randn(5, 8), torch.zeros(5, dtype=torch.long))
    assert torch.isfinite(one_class)


def test_center_loss_known_values():
    c = CenterLoss(2, 2, dim=2)
    with torch.no_grad():
        c.proj.weight.copy_(torch.eye(2))
        c.proj.bias.zero_()
    h = torch.tensor([[3.0, 4.0]])  # e = [0.6, 0.8]
    assert c(h, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(0.5)
    with torch.no_grad():
        c.centers[1] = torch.tensor([0.6, 0.8])
    assert c(h, torch.tensor([[0.5, 0.5]])).item() == pytest.approx(0.25)


@pytest.mark.parametrize("n,labels", [(1, [0]), (4, [2, 2, 2, 2]), (6, [0, 1, 2, 0, 1, 2])])
def test_multiloss_finite_on_edge_batches(n, labels):
    cfg = LossConfig(ce=1.0, kl=1.0, focal=1.0, center=0.1, supcon=0.2)
    m = MultiLoss(cfg, 3, [5, 0, 2], rep_dim=8)
    logits = torch.randn(n, 3, requires_grad=True)
    h = torch.randn(n, 8, requires_grad=True)
    t = torch.nn.functional.one_hot(torch.tensor(labels), 3).float()
    t[0] = torch.tensor([0.7, 0.0, 0.3]) if n > 1 else t[0]
    loss, parts = m(logits, t, h)
    assert torch.isfinite(loss) and set(parts) == {"ce", "kl", "focal", "center", "supcon"}
    loss.backward()
    assert torch.isfinite(logits.grad).all() and torch.isfinite(h.grad).all()
    # scaled terms: an uninformative prediction costs about 1 for KL and CE on one-hot rows
    flat, _ = MultiLoss(LossConfig(ce=0.0, kl=1.0), 3, [1, 1, 1])(
        torch.zeros(2, 3), torch.eye(3)[:2]
    )
    assert flat.item() == pytest.approx(1.0, abs=1e-6)


# --- energy-adaptive mixup ------------------------------------------------------------------------


def _tone(n, f=200.0, amp=0.3, sr=16000):
    return (amp * np.sin(2 * np.pi * f * np.arange(n) / sr)).astype(np.float32)


def test_eam_snr_and_soft_label_formula():
    rng = np.random.default_rng(3)
    x_i, x_j = _tone(16000, 200, 0.3), _tone(12000, 330, 0.05)
    cfg = AugmentConfig(name="eam")
    for _ in range(20):
        mixed, lam, info = eam_mix(x_i, x_j, rng, cfg)
        a, L = info["pos"], info["length"]
        assert 0 < L < 0.5 * x_i.size and mixed.shape == x_i.shape and np.isfinite(mixed).all()
        added = mixed[a : a + L].astype(np.float64) - x_i[a : a + L]
        p_i = np.mean(x_i[a : a + L].astype(np.float64) ** 2)
        snr = 10 * np.log10(p_i / np.mean(added**2))
        assert snr == pytest.approx(info["snr_db"], abs=1e-3) and -5 <= info["snr_db"] <= 10
        assert np.array_equal(mixed[:a], x_i[:a]) and np.array_equal(mixed[a + L :], x_i[a + L :])
        r = 1 / (1 + 10 ** (info["snr_db"] / 10))
        assert lam == pytest.approx(L / x_i.size * r) and 0 < lam < 0.5
    t = soft_label(0, 2, 0.25, 3)
    assert t.tolist() == [0.75, 0.0, 0.25]
    assert soft_label(1, 1, 0.3, 3).tolist() == [0.0, 1.0, 0.0]  # same class: stays one-hot


def test_eam_edge_cases_never_nan():
    rng = np.random.default_rng(0)
    cfg = AugmentConfig(name="eam")
    x = _tone(16000)
    # silent partner: nothing added, label unchanged
    m, lam, _ = eam_mix(x, np.zeros(8000, np.float32), rng, cfg)
    assert lam == 0.0 and np.array_equal(m, x)
    # silent target: the segment at its own level, label share = time fraction
    m, lam, info = eam_mix(np.zeros(16000, np.float32), _tone(8000), rng, cfg)
    assert np.isfinite(m).all() and lam == pytest.approx(info["rho"]) and m.any()
    # target too short for a segment: unchanged
    short = _tone(500)
    m, lam, _ = eam_mix(short, x, rng, cfg)
    assert lam == 0.0 and np.array_equal(m, short)
    # partner shorter than the segment length: segment capped at the partner
    m, lam, info = eam_mix(x, _tone(100), rng, cfg)
    assert info["length"] <= 100 and np.isfinite(m).all() and np.isfinite(lam)


def test_eam_bank_partners_other_speakers_cached_and_filtered(tmp_path, toy_corpus, cache_dir):
    from serkit.data.corpora import prepare
    from serkit.features import FeatureCache, build_frontend

    utts = prepare("folder", toy_corpus, speaker_regex=r"^(spk\d+)_").utterances
    fe = build_frontend("logmel")
    cfg = AugmentConfig(name="eam", variants=3)
    bank, st = build_eam_bank(utts, fe, cfg, seed=0, cache=FeatureCache(cache_dir))
    spk = {u.id: u.speaker for u in utts}
    assert st["encoded"] == 3 * len(utts) and st["cached"] == 0
    for uid, vs in bank.items():
        assert len(vs) == 3 and all(spk[v.partner] != spk[uid] for v in vs)
    bank2, st2 = build_eam_bank(utts, fe, cfg, seed=0, cache=FeatureCache(cache_dir))
    assert st2["cached"] == 3 * len(utts) and st2["encoded"] == 0
    some = utts[0].id
    assert all(
        np.array_equal(a.feats, b.feats) and a.partner == b.partner
        for a, b in zip(bank[some], bank2[some])
    )
    _, st3 = build_eam_bank(utts, fe, cfg, seed=1, cache=FeatureCache(cache_dir))
    assert st3["encoded"] == 3 * len(utts)  # another seed, another bank
    # a fold keeps only partners it may use
    labels_of = {u.id: int(u.label == "high") for u in utts}
    allowed = [u.id for u in utts if u.speaker in ("spk0", "spk1")]
    targets = allowed[:4]
    uv = usable_variants(bank, targets, allowed, labels_of, 2)
    for uid, vs in zip(targets, uv):
        ok = [v for v in bank[uid] if v.partner in set(allowed)]
        assert len(vs) == len(ok)
        for (f, t), v in zip(vs, ok):
            assert t.sum() == pytest.approx(1.0) and np.array_equal(f, v.feats)


def test_bench_mll_never_mixes_in_test_fold_audio(tmp_path, toy_corpus, cache_dir, monkeypatch):
    import serkit.training.augment as aug
    from serkit.data.corpora import prepare, write_manifest
    from serkit.experiment.bench import run_bench
    from serkit.experiment.config import RunConfig, experiment_from_dict

    calls = []
    real = aug.usable_variants

    def spy(bank, targets, partners, labels_of, n):
        out = real(bank, targets, partners, labels_of, n)
        calls.append(
            (
                set(targets),
                set(partners),
                [
                    [v.partner for v in bank.get(t, []) if v.partner in set(partners)]
                    for t in targets
                ],
            )
        )
        return out

    monkeypatch.setattr(aug, "usable_variants", spy)
    m = tmp_path / "toy.jsonl"
    utts = prepare("folder", toy_corpus, speaker_regex=r"^(spk\d+)_").utterances
    write_manifest(utts, m)
    spk = {u.id: u.speaker for u in utts}
    cfg = experiment_from_dict(
        {
            "manifest": str(m),
            "model": {"name": "mll", "pool": 1, "train": {"epochs": 3}},
            "frontend": "logmel",
            "protocol": "loso",
            "seeds": 1,
        }
    )
    run = RunConfig(cache_dir=str(cache_dir), progress=False)
    r = run_bench(cfg, tmp_path / "run", run)
    assert r.augment.config.name == "eam" and r.augment.banks[0].encoded == 4 * 24
    assert len(calls) == 2 * 4  # fit and validation split of each of the 4 folds
    # a resumed re-run loads the cached bank; the record of the run that encoded it is kept
    r2 = run_bench(cfg, tmp_path / "run", run)
    assert r2.augment.banks[0].encoded == 4 * 24 and r2.timing.wall_s_total > r2.timing.wall_s
    for targets, partners, used in calls:
        # partners never cover every speaker: the fold's test speaker is always left out
        assert len({spk[p] for p in partners}) <= 3
        assert all(p in partners for ps in used for p in ps)
        assert not (
            {spk[t] for t in targets} - {spk[p] for p in partners}
        )  # targets are trainees too
    # augmentation is recorded with the protocol; a model that cannot use it is refused
    from serkit.core.errors import ConfigError

    with pytest.raises(ConfigError, match="does not train on augmented"):
        experiment_from_dict(
            {
                "manifest": str(m),
                "model": "logreg",
                "frontend": "logmel",
                "augment": {"name": "eam"},
            }
        )


def test_flam_head_learns_and_attention_masks_padding(rng):
    from serkit.estimators import build_model
    from serkit.testing import toy_split

    data = toy_split(rng, n_per=20, n_layers=2, dim=16, informative_layer=1, speakers=4)
    feats = data.feats
    m = build_model(
        {"name": "mll", "pool": 1, "d_model": 32, "train": {"epochs": 15, "patience": 15}}, 2, 2, 16
    )
    info = m.fit(data, data, seed=0)
    assert set(info.train.loss_parts_last_epoch) == {"kl", "focal", "center", "supcon"}
    p = m.predict_proba(feats)
    assert (p.argmax(1) == data.labels).mean() >= 0.9
    single = np.concatenate([m.predict_proba([f]) for f in feats[:6]])
    assert np.abs(single - p[:6]).max() < 1e-5


def test_exponential_schedule_decays_by_lr_decay_per_epoch_for_every_group():
    import torch

    from serkit.core.errors import ConfigError
    from serkit.training.trainer import TrainConfig, make_optimizer

    p, c = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    cfg = TrainConfig(lr=1e-4, scheduler="exponential", lr_decay=7 / 8)
    groups = [
        {"params": [p], "lr": 1e-4, "weight_decay": 0.0},
        {"params": [c], "lr": 5e-3, "weight_decay": 0.0},
    ]
    opt, sched = make_optimizer(groups, cfg, steps_per_epoch=4)
    lrs = []
    for _ in range(9):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx([1e-4, 5e-3])
    assert lrs[4] == pytest.approx([1e-4 * 7 / 8, 5e-3 * 7 / 8])  # one epoch = 4 steps
    assert lrs[8] == pytest.approx([1e-4 * (7 / 8) ** 2, 5e-3 * (7 / 8) ** 2])
    assert all(a[0] > b[0] for a, b in zip(lrs, lrs[1:]))  # smooth, per batch
    with pytest.raises(ConfigError, match="lr_decay"):
        make_optimizer(groups, TrainConfig(scheduler="exponential", lr_decay=1.5), 4)
