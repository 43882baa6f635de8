"""Issue 17: corruptions, voice alteration, fairness audit, robustness and debiasing in bench."""

from __future__ import annotations

import json

import numpy as np
import pytest

from serkit.audio.corrupt import corrupt, mix_at_snr, parse_corruption
from serkit.core.errors import ConfigError, SerkitError
from serkit.data.manifest import Utterance, read_manifest, write_manifest

SR = 16000


def _voice(f0=120.0, seconds=1.0, sr=SR):
    """A crude voiced signal: a pulse train at ``f0`` through two formant resonances."""
    from scipy.signal import lfilter

    n = int(seconds * sr)
    x = np.zeros(n)
    x[:: int(sr / f0)] = 1.0
    for fc, bw in ((700, 130), (1200, 150)):
        r = np.exp(-np.pi * bw / sr)
        x = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * fc / sr), r * r], x)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def _snr(x, y):
    return 10 * np.log10(
        np.mean(x.astype(np.float64) ** 2) / np.mean((y - x).astype(np.float64) ** 2)
    )


@pytest.mark.parametrize("spec", ["white@10", "pink@0", "babble@5", "background@20"])
def test_noise_hits_the_asked_snr_and_is_deterministic(spec):
    x = _voice()
    pool = [np.random.default_rng(i).normal(0, 0.1, 7000).astype(np.float32) for i in range(6)]
    y = corrupt(x, SR, spec, 3, pool, pool)
    assert y.shape == x.shape and np.isfinite(y).all()
    assert abs(_snr(x, y) - parse_corruption(spec).value) < 0.2
    assert np.array_equal(y, corrupt(x, SR, spec, 3, pool, pool))
    assert not np.array_equal(y, corrupt(x, SR, spec, 4, pool, pool))


def test_channel_corruptions_keep_length_and_do_what_they_say():
    t = np.arange(SR) / SR
    x = (0.2 * np.sin(2 * np.pi * 1000 * t) + 0.2 * np.sin(2 * np.pi * 6000 * t)).astype(np.float32)
    tel = corrupt(x, SR, "telephone", 0)
    spec = np.abs(np.fft.rfft(tel))
    assert tel.shape == x.shape and spec[6000] < 0.05 * spec[1000]  # 6 kHz gone, 1 kHz kept
    rev = corrupt(_voice(), SR, "reverb@0.6", 0)
    assert rev.shape == (SR,) and np.isfinite(rev).all() and not np.allclose(rev, _voice())
    assert np.array_equal(corrupt(x, SR, "clean", 0), x)


def test_bad_specs_and_silence():
    for bad in ["white", "noise@3", "reverb@9", "mp3@2"]:
        with pytest.raises(ConfigError):
            parse_corruption(bad)
    with pytest.raises(ConfigError, match="babble pool"):
        corrupt(_voice(), SR, "babble@10", 0)
    silent = np.zeros(SR, np.float32)
    assert np.isfinite(corrupt(silent, SR, "white@0", 1)).all()
    assert np.array_equal(
        mix_at_snr(_voice(), np.zeros(100), 0.0), _voice()
    )  # silent noise adds nothing


def test_voice_alteration_moves_f0_across_the_split():
    pytest.importorskip("parselmouth")
    from serkit.audio.voice import alter_voice, median_f0, opposite_shift

    low = _voice(110.0)
    f0 = median_f0(low, SR)
    assert 100 < f0 < 120
    shift = opposite_shift(f0)
    assert shift.direction == "up"
    up = alter_voice(low, SR, shift)
    assert up.shape == low.shape and median_f0(up, SR) > 1.4 * f0
    assert opposite_shift(230.0).direction == "down"
    assert np.array_equal(
        alter_voice(np.zeros(SR, np.float32), SR, shift), np.zeros(SR, np.float32)
    )  # unvoiced


def _fake_run(tmp_path, name, correct_m: float, seeds=(0, 1)):
    """A run folder: 4 f speakers always right; 4 m speakers right on a ``correct_m`` share."""
    utts, rows = [], []
    for s in range(8):
        g = "f" if s < 4 else "m"
        for k in range(10):
            lab = ["a", "b"][k % 2]
            utts.append(
                Utterance(
                    f"u{s}_{k}", "/nonexistent.wav", 1.0, lab, f"spk{s}", gender=g, corpus="c"
                )
            )
    m = tmp_path / "m.jsonl"
    write_manifest(utts, m)
    run = tmp_path / name
    run.mkdir()
    rng = np.random.default_rng(1)
    for seed in seeds:
        for u in utts:
            ok = u.gender == "f" or rng.random() < correct_m
            pred = u.label if ok else ("b" if u.label == "a" else "a")
            rows.append(f"{u.id},f,{seed},{u.label},{pred},0.5,0.5\n")
    (run / "predictions.csv").write_text("id,fold,seed,truth,prediction,p_a,p_b\n" + "".join(rows))
    (run / "config.yaml").write_text(f"manifest: {m}\n")
    return run, m


def test_fairness_audit_measures_the_gap(tmp_path):
    from serkit.analysis.fairness import audit, compare, plot, report_md

    run, _ = _fake_run(tmp_path, "r1", 0.5)
    a = audit(run, n_boot=200)
    assert a["groups"]["f"]["ua_mean"] == 1.0 and 0.3 < a["groups"]["m"]["ua_mean"] < 0.7
    assert a["gap"]["mean"] > 0.3 and a["gap"]["ci95"][0] > 0.1
    assert a["groups"]["f"]["speakers"] == 4 and a["groups"]["f"]["clips"] == 40
    assert "UA(f) - UA(m)" in report_md(a)
    plot(a, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000
    fair, _ = _fake_run(tmp_path, "r2", 1.0)
    c = compare(run, fair, n_boot=200)
    assert c["change"]["abs_gap"] < -0.3 and c["change"]["abs_gap_ci95"][1] < 0  # the gap closed
    assert c["change"]["ua"] > 0
    same = compare(run, run, n_boot=50)
    assert same["change"]["abs_gap"] == 0 and same["change"]["abs_gap_ci95"] == [0.0, 0.0]


def test_fairness_refuses_what_it_cannot_audit(tmp_path):
    from serkit.analysis.fairness import audit

    with pytest.raises(SerkitError, match="predictions.csv"):
        audit(tmp_path)
    run, m = _fake_run(tmp_path, "r1", 0.5)
    with pytest.raises(ConfigError, match="unknown attribute"):
        audit(run, attribute="shoe_size")
    utts = [Utterance(**{**u.__dict__, "gender": None}) for u in read_manifest(m)]
    write_manifest(utts, m)
    with pytest.raises(SerkitError, match="nothing to audit"):
        audit(run)


def test_bench_scores_corrupted_test_copies_and_summarises(tmp_path, cache_dir):
    from serkit.analysis.robustness import summarize
    from serkit.experiment.bench import run_bench
    from serkit.experiment.config import RunConfig, experiment_from_dict
    from serkit.testing import toy_manifest

    m = toy_manifest(tmp_path)
    cfg = experiment_from_dict(
        {
            "manifest": str(m),
            "frontend": "logmel",
            "protocol": "loso",
            "seeds": 2,
            "model": "logreg",
            "test_corruptions": ["white@20", "white@-10", "telephone"],
        }
    )
    out = tmp_path / "rob" / "logreg"
    r = run_bench(cfg, out, RunConfig(cache_dir=str(cache_dir), progress=False))
    cond = r.robustness.conditions
    assert set(cond) == {"white@20", "white@-10", "telephone"}
    assert cond["white@20"].ua.mean >= cond["white@-10"].ua.mean
    assert r.robustness.extraction["white@20"].encoded == 24
    clean = experiment_from_dict(
        {
            "manifest": str(m),
            "frontend": "logmel",
            "protocol": "loso",
            "seeds": 2,
            "model": "logreg",
        }
    )
    assert clean.fingerprint({}) != cfg.fingerprint({})
    # a re-run reads the corrupted features from the cache and reuses every fold
    r2 = run_bench(cfg, out, RunConfig(cache_dir=str(cache_dir), progress=False))
    assert r2.robustness.extraction["white@20"].cached == 24 and r2.ua.mean == r.ua.mean
    s = summarize(tmp_path / "rob")
    assert s["ua"]["logreg"]["white@20"]["mean"] == cond["white@20"].ua.mean
    assert (tmp_path / "rob" / "robustness.png").exists() and "white@-10" in (
        tmp_path / "rob" / "robustness.md"
    ).read_text()
    with pytest.raises(ConfigError, match="babble"):
        run_bench(
            experiment_from_dict(
                {
                    "manifest": str(m),
                    "frontend": "logmel",
                    "protocol": "loso",
                    "seeds": 1,
                    "model": "logreg",
                    "test_corruptions": ["babble@0"],
                }
            ),
            tmp_path / "b",
            RunConfig(cache_dir=str(cache_dir), progress=False),
        )


def test_covada_debiasing_trains_a_second_model_on_selected_copies(tmp_path, cache_dir):
    pytest.importorskip("parselmouth")
    from serkit.experiment.bench import run_bench
    from serkit.experiment.config import RunConfig, experiment_from_dict
    from serkit.testing import toy_manifest

    m = toy_manifest(tmp_path)
    cfg = experiment_from_dict(
        {
            "manifest": str(m),
            "frontend": "logmel",
            "protocol": "loso",
            "seeds": 1,
            "model": {"name": "linear", "train": {"epochs": 3}},
            "augment": {"name": "covada", "variants": 1, "select_frac": 0.5},
        }
    )
    r = run_bench(cfg, tmp_path / "cov", RunConfig(cache_dir=str(cache_dir), progress=False))
    folds = [json.loads(p.read_text()) for p in sorted((tmp_path / "cov" / "folds").glob("*.json"))]
    assert len(folds) == 4
    for f in folds:
        d = f["fit"]["debias"]
        assert d["method"] == "covada" and 0 < d["selected"] <= round(0.5 * d["of"])
    assert r.augment.banks[0].planned == 24 and "CO-VADA" in r.augment.note
    with pytest.raises(ConfigError):
        experiment_from_dict({"manifest": str(m), "model": "logreg", "augment": {"name": "covada"}})
    with pytest.raises(ConfigError, match="select_frac"):
        experiment_from_dict(
            {"manifest": str(m), "model": "linear", "augment": {"name": "covada", "select_frac": 2}}
        )


# --- d. dimensional -------------------------------------------------------------------------


def test_vad_tables_and_expected_vad():
    from serkit.data.vad import NRC_VAD, WARRINER, category_vad, expected_vad, sphere_region

    assert WARRINER["neutral"] == (0.5625, 0.3063, 0.6012)  # (5.50, 3.45, 5.81) on 1-9
    assert NRC_VAD["anger"] == (0.167, 0.865, 0.657)
    assert np.isnan(category_vad("low-arousal")).all()
    labels = ["anger", "sadness", "low-arousal"]
    e = expected_vad(np.array([[1.0, 0, 0], [0.25, 0.25, 0.5]]), labels)
    assert np.allclose(e[0], category_vad("anger"))
    assert np.allclose(
        e[1], (category_vad("anger") + category_vad("sadness")) / 2, atol=1e-6
    )  # unknown class renormalised away
    assert np.isnan(expected_vad(np.array([[1.0]]), ["low-arousal"])).all()
    assert sphere_region(np.array([[0.9, 0.9, 0.1], [0.1, 0.1, 0.1]])).tolist() == [3, 0]
    with pytest.raises(ConfigError):
        category_vad("anger", table="nope")


def test_ccc_known_values_and_loss():
    import torch

    from serkit.training.regress import ccc, ccc_loss

    x = np.linspace(0, 1, 50)
    assert ccc(x, x) == pytest.approx(1.0) and ccc(x, 1 - x) == pytest.approx(-1.0)
    assert 0 < ccc(x, x + 0.5) < 0.6  # a shift is punished (Pearson would say 1)
    assert ccc(np.ones(5), np.ones(5)) == 0.0
    t = torch.tensor([[np.nan, 0.0], [np.nan, 1.0], [np.nan, 0.5]])
    loss = ccc_loss(t.nan_to_num(0.3).clone().requires_grad_(True), t)
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-4)  # only the annotated column counts


def test_dim_regressor_learns_and_scores_levels():
    from serkit.analysis.dimensional import score
    from serkit.estimators.dimensional import DimConfig, DimRegressor

    rng = np.random.default_rng(0)
    feats = [rng.normal(0, 1, (2, 12, 8)).astype(np.float32) for _ in range(90)]
    level = np.array([i % 3 for i in range(90)])
    for f, lv in zip(feats, level):
        f[:, :, 0] += 1.5 * lv
    tgt = np.full((90, 3), np.nan, np.float32)
    tgt[:, 1] = level / 2
    reg = DimRegressor(DimConfig(pool=1, train=dataclass_replace_epochs(20)), 2, 8)
    reg.fit(feats[:60], tgt[:60], 0, (feats[60:75], tgt[60:75]))
    p = reg.predict(feats[75:])
    assert p.shape == (15, 3) and ((p >= 0) & (p <= 1)).all()
    utts = [
        Utterance(f"u{i}", "x.wav", 1.0, "neutral", "s", arousal=float(level[75 + i]))
        for i in range(15)
    ]
    s = score(p, utts, zero_shot=False)
    assert s.spearman_rho > 0.6
    perfect = score(
        np.stack([np.zeros(15), level[75:] / 2, np.zeros(15)], 1), utts, zero_shot=False
    )
    assert perfect.spearman_rho == pytest.approx(1.0) and perfect.ua_3 == 1.0
    with pytest.raises(ConfigError):
        DimRegressor(DimConfig(head="logreg"), 2, 8)


def dataclass_replace_epochs(n):
    from serkit.training.trainer import TrainConfig

    return TrainConfig(epochs=n, patience=20, lr=1e-2)


def test_intensity_auc_and_table_targets():
    from serkit.analysis.dimensional import score, targets_of

    utts = [
        Utterance(f"u{i}", "x.wav", 1.0, lab, "s", intensity=k)
        for i, (lab, k) in enumerate(
            [
                ("anger", "normal"),
                ("anger", "strong"),
                ("sadness", "normal"),
                ("sadness", "strong"),
                ("neutral", "normal"),
            ]
        )
    ]
    p = np.array([[0.5, a, 0.5] for a in (0.4, 0.9, 0.1, 0.3, 0.0)])
    s = score(p, utts, zero_shot=True)
    assert s.intensity_auc == 0.75  # strong > normal in 3 of 4 pairs (neutral left out)
    t = targets_of(utts, "table")
    assert np.allclose(t[0], t[1]) and np.isfinite(t).all()
    b = [
        Utterance("b0", "x.wav", 1.0, "low-arousal", "s", corpus="baved", arousal=0.0),
        Utterance("b1", "x.wav", 1.0, "high-arousal", "s", corpus="baved", arousal=2.0),
    ]
    assert (
        targets_of(b, "arousal")[:, 1].tolist() == [0.0, 1.0]
        and np.isnan(targets_of(b, "arousal")[:, 0]).all()
    )


def test_predictions_carry_valence_and_arousal():
    import serkit

    rec = serkit.load("default")
    p = rec.predict(_voice(200.0, 1.5), sr=SR)
    assert set(p.dimensions) == {"valence", "arousal", "dominance"} and all(
        0 <= v <= 1 for v in p.dimensions.values()
    )
    assert p.to_dict()["dimensions"] == p.dimensions


# --- a. explanations ------------------------------------------------------------------------


def test_cues_of_a_synthetic_voice():
    pytest.importorskip("parselmouth")
    from serkit.analysis.cues import measure, relative

    c = measure(_voice(140.0, 1.0), SR)
    assert 130 < c["f0_mean_hz"] < 150 and np.isfinite(c["loudness"]) and c["rate_per_s"] > 0
    hi = measure(_voice(180.0, 1.0), SR)
    assert relative(hi, c)["f0_mean_hz"] > 20  # +~28 %
    silent = measure(np.zeros(SR, np.float32), SR)
    assert np.isnan(silent["f0_mean_hz"]) and silent["rate_per_s"] == 0.0
    assert np.isnan(measure(np.zeros(100, np.float32), SR)["f0_mean_hz"])


def test_explainer_saliency_regions_and_deletion(tmp_path):
    pytest.importorskip("parselmouth")
    import serkit
    from serkit.analysis.explain import Explainer, plot_explanation

    ex = Explainer(serkit.load("default"))
    assert ex.has_gradient
    w = np.concatenate([_voice(220.0, 0.8), np.zeros(SR // 2, np.float32), _voice(120.0, 0.7)])
    e = ex.explain(w, "toy", None, "", np.random.default_rng(0))
    assert e.saliency.shape == (w.size // 160,) and e.band_saliency.shape == (80, w.size // 160)
    assert e.saliency.max() == pytest.approx(1.0) and e.regions
    total = sum(b - a for a, b in e.regions)
    assert total == pytest.approx(0.2 * 2.0, abs=0.11)
    assert set(e.faithfulness) == {"drop_salient", "drop_random"}
    silenced = ex.silence(w, [0, 3])
    assert not silenced[:1600].any() and not silenced[4800:6400].any() and silenced[1600:4800].any()
    plot_explanation(e, w, tmp_path / "e.png")
    assert (tmp_path / "e.png").stat().st_size > 5000


# --- e. label distributions -----------------------------------------------------------------


def test_ldl_metrics_known_values():
    from serkit.experiment.metrics import ldl_metrics

    t = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    same = ldl_metrics(t, t)
    assert (
        same["kl"] == pytest.approx(0, abs=1e-9)
        and same["chebyshev"] < 1e-9
        and same["intersection"] == pytest.approx(1)
    )
    assert same["cosine"] == pytest.approx(1)
    m = ldl_metrics(np.array([[1.0, 0, 0], [0.5, 0.5, 0]]), t)
    assert m["chebyshev"] == pytest.approx(0.5) and m["intersection"] == pytest.approx(0.5)
    assert m["kl"] > 1  # log 2 / 2 + ... with the clipped zero


def _crema_tree(root, tone_writer):
    (root / "AudioWAV").mkdir(parents=True)
    (root / "processedResults").mkdir()
    names = [
        "1001_DFA_ANG_XX",
        "1001_DFA_NEU_XX",
        "1002_DFA_ANG_XX",
        "1002_DFA_NEU_XX",
        "1003_IEO_ANG_HI",
        "1003_IEO_NEU_XX",
    ]
    for k, n in enumerate(names):
        tone_writer(
            root / "AudioWAV" / f"{n}.wav", 0.4, 16000, k, f0=260.0 if "ANG" in n else 110.0
        )
    rows = ['"","A","D","F","H","N","S","fileName","numResponses","agreement","emoVote"']
    for k, n in enumerate(names):
        a = 7 if "ANG" in n else 1
        rows.append(f'"{100001 + k}",{a},1,0,0,{9 - a},0,"{n}",10,0.7,"A"')  # voice only
        rows.append(f'"{200001 + k}",0,0,0,10,0,0,"{n}",10,1.0,"H"')  # face only: never read
    (root / "processedResults" / "tabulatedVotes.csv").write_text("\n".join(rows) + "\n")
    (root / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex\n1001,30,Male\n1002,40,Female\n1003,25,Male\n"
    )


def test_cremad_votes_become_label_distributions_and_train(tmp_path, tone_writer, cache_dir):
    from serkit.data.corpora import prepare
    from serkit.experiment.bench import run_bench
    from serkit.experiment.config import RunConfig, experiment_from_dict

    _crema_tree(tmp_path / "crema", tone_writer)
    utts = prepare("crema-d", tmp_path / "crema").utterances
    by = {u.id: u for u in utts}
    u = by["cremad_1001_DFA_ANG_XX"]
    assert (
        u.label == "anger"
        and u.label_dist == {"anger": 7.0, "disgust": 1.0, "neutral": 2.0}
        and u.gender == "m"
    )
    m = tmp_path / "c.jsonl"
    write_manifest(utts, m)
    assert read_manifest(m)[0].label_dist is not None  # round trip
    cfg = experiment_from_dict(
        {
            "manifest": str(m),
            "frontend": "logmel",
            "protocol": "loso",
            "seeds": 1,
            "labels": ["anger", "neutral"],
            "model": {"name": "linear", "train": {"epochs": 3, "losses": {"ce": 0.0, "kl": 1.0}}},
        }
    )
    r = run_bench(cfg, tmp_path / "ldl", RunConfig(cache_dir=str(cache_dir), progress=False))
    assert 0 <= r.ldl.intersection.mean <= 1 and r.ldl.kl.mean >= 0


def test_dataset_distributions_drop_unknown_labels_and_renormalise():
    from serkit.experiment.dataset import label_distributions

    utts = [
        Utterance("a", "x", 1.0, "anger", label_dist={"anger": 3, "disgust": 1, "neutral": 1}),
        Utterance("b", "x", 1.0, "neutral"),
    ]
    d = label_distributions(utts, ["anger", "neutral"])
    assert np.allclose(d, [[0.75, 0.25], [0, 1]])
    assert label_distributions([utts[1]], ["neutral"]) is None
    with pytest.raises(ConfigError):
        label_distributions(
            [Utterance("c", "x", 1.0, "anger", label_dist={"anger": -1})], ["anger"]
        )


def test_cli_fairness_and_explain(tmp_path):
    import soundfile as sf
    from typer.testing import CliRunner

    from serkit.cli import app

    runner = CliRunner()
    run, _ = _fake_run(tmp_path, "r1", 0.5)
    fair, _ = _fake_run(tmp_path, "r2", 1.0)
    r = runner.invoke(app, ["fairness", str(run), "--n-boot", "100"])
    assert r.exit_code == 0 and "UA(f) - UA(m)" in r.stdout and (run / "fairness.png").exists()
    r = runner.invoke(app, ["fairness", str(run), "--against", str(fair), "--n-boot", "100"])
    assert r.exit_code == 0 and "|gap|" in r.stdout and (fair / "fairness_compare.json").exists()
    r = runner.invoke(app, ["fairness", str(tmp_path)])
    assert r.exit_code == 2 and "predictions.csv" in r.output
    pytest.importorskip("parselmouth")
    wav = tmp_path / "v.wav"
    sf.write(wav, _voice(200.0, 1.2), SR)
    r = runner.invoke(app, ["explain", "default", str(wav), "--out", str(tmp_path / "ex")])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout.strip().splitlines()[-1])
    assert (
        d["label"] in d["probabilities"]
        and d["regions"]
        and (tmp_path / "ex" / "explain_v.png").exists()
    )


def test_explain_reports_predicts_calibrated_probability_and_a_single_clip_reference():
    """Issue 29 item 8: one calibrated probability everywhere; a single clip's cue panel compares
    its salient regions with the rest of the clip; agreement counts say what they count."""
    pytest.importorskip("parselmouth")
    import serkit
    from serkit.analysis.explain import MIN_PROFILE_CLIPS, Explainer, _agreement, _report

    rec = serkit.load("default")
    w = np.concatenate([_voice(220.0, 0.8), np.zeros(SR // 2, np.float32), _voice(120.0, 0.7)])
    e = Explainer(rec).explain(w, "toy", None, "", np.random.default_rng(0))
    p = rec.predict(w, sr=SR)
    assert e.label == p.top and e.probabilities[e.label] == pytest.approx(
        p.probabilities[p.top], abs=1e-4
    )
    assert "rest of this clip" in e.reference and any(np.isfinite(v) for v in e.relative.values())
    prof = {
        "model_salient_by_predicted": {"anger": {"n": 1, "f0_mean_hz": 12.0}},
        "corpus_whole_by_label": {"anger": {"n": MIN_PROFILE_CLIPS, "f0_mean_hz": 9.0}},
    }
    ag = _agreement(prof)
    assert ag["model_agree"] == "0 of 0" and ag["corpus_agree"].endswith("of 1")
    report = _report(
        {
            "clips": 1,
            "gradient": True,
            "agreement": ag,
            "faithfulness": {
                "ratio": 1.0,
                "ratio_ci95": [1, 1],
                "drop_salient_mean": 0.1,
                "drop_random_mean": 0.1,
                "salient_beats_random_share": 0.5,
            },
        }
    )
    assert "(12.0, n=1: not counted)" in report and f"at least {MIN_PROFILE_CLIPS} clips" in report


def test_dimensional_runs_folds_as_tasks_and_resumes(tmp_path, cache_dir):
    """Within-corpus dimensional: (seed, fold) tasks through run_tasks, parts written as they
    end; a second run reuses every part and gives the same typed result; more seeds extend."""
    import dataclasses

    from serkit.analysis.dimensional import DimExperiment, DimResult, run_dimensional
    from serkit.data.manifest import read_manifest, write_manifest
    from serkit.estimators.dimensional import DimConfig
    from serkit.experiment.config import RunConfig
    from serkit.testing import toy_manifest

    m = toy_manifest(tmp_path)
    utts = read_manifest(m)
    for u in utts:  # 'high' = loud, fast, high f0 -> arousal level 2; 'low' -> 0
        u.arousal = 2.0 if u.label == "high" else 0.0
    write_manifest(utts, m)
    exp = DimExperiment(
        train=str(m),
        protocol="kfold-speaker:2",
        target="arousal",
        seeds=1,
        frontend="logmel",
        model=DimConfig(train=dataclass_replace_epochs(3)),
    )
    run = RunConfig(cache_dir=str(cache_dir), progress=False)
    out = tmp_path / "dim"
    first = run_dimensional(exp, out, run, lambda *a: None)
    assert isinstance(first, DimResult) and first.parts_reused == 0
    assert first.metrics.spearman_rho is not None and len(first.metrics.spearman_rho.per_seed) == 1
    parts = list((out / "parts").rglob("*.npy"))
    assert len(parts) == 2  # 1 seed x 2 folds
    again = run_dimensional(exp, out, run, lambda *a: None)
    assert again.parts_reused == 2 and again.metrics == first.metrics
    more = run_dimensional(dataclasses.replace(exp, seeds=2), out, run, lambda *a: None)
    assert more.parts_reused == 2 and len(more.metrics.spearman_rho.per_seed) == 2
    assert more.metrics.spearman_rho.per_seed[0] == first.metrics.spearman_rho.per_seed[0]
    changed = run_dimensional(dataclasses.replace(exp, val_fraction=0.3), out, run, lambda *a: None)
    assert changed.parts_reused == 0  # another setting: its own parts
    saved = json.loads((out / "dimensional.json").read_text())
    assert saved["schema_version"] == 1 and "spearman_rho" in saved["metrics"]
