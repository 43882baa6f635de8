"""End-to-end: manifest -> frontend (cached) -> model -> speaker-independent CV -> report."""

import csv
import json

import pytest

from serkit.corpora import prepare, write_manifest
from serkit.errors import ProtocolError
from serkit.evaluation.bench import BenchConfig, run_bench

REQUIRED = ["corpus", "protocol", "folds", "seeds", "n_utterances", "labels", "ua_mean", "ua_std", "wa_mean",
            "wa_std", "f1_mean", "f1_std", "per_class_recall", "params_trainable", "macs_head", "energy_head_mj",
            "energy_encoder_mj", "latency_ms_per_clip", "wall_s"]


@pytest.fixture
def toy_manifest(tmp_path, toy_corpus):
    m = tmp_path / "toy.jsonl"
    write_manifest(prepare("folder", toy_corpus, speaker_regex=r"^(spk\d+)_").utterances, m)
    return m


def _cfg(manifest, cache_dir, **kw):
    base = dict(manifest=str(manifest), frontend="logmel", protocol="loso", seeds=2, cache_dir=str(cache_dir))
    base.update(kw)
    return BenchConfig(**base)


def test_bench_logreg_writes_everything(toy_manifest, cache_dir, tmp_path):
    out = tmp_path / "run"
    r = run_bench(_cfg(toy_manifest, cache_dir, model="logreg"), out, progress=False)
    for k in REQUIRED:
        assert k in r, k
    assert r["folds"] == 4 and r["n_utterances"] == 24 and r["labels"] == ["high", "low"]
    assert r["ua_mean"] >= 0.9  # the toy classes differ strongly in pitch and loudness
    for f in ["results.json", "predictions.csv", "config.yaml", "report.md", "confusion.png"]:
        assert (out / f).exists(), f
    rows = list(csv.DictReader(open(out / "predictions.csv")))
    assert len(rows) == 24 * 2
    assert {"id", "fold", "seed", "truth", "prediction", "p_high", "p_low"} <= set(rows[0])
    # a fold's test speaker is the fold name: predictions never come from a model that saw it
    assert all(row["id"].split("_")[2] == row["fold"] for row in rows)
    saved = json.loads((out / "results.json").read_text())
    assert saved["ua_mean"] == r["ua_mean"]


def test_bench_resumes_finished_folds(toy_manifest, cache_dir, tmp_path):
    out = tmp_path / "run"
    cfg = _cfg(toy_manifest, cache_dir, model="attnpool", seeds=1,
               model_cfg={"pool": 1, "train": {"epochs": 3}})
    r1 = run_bench(cfg, out, progress=False)
    assert r1["features_extracted"] == 24
    (out / "folds" / "seed0_spk3.json").unlink()  # as if interrupted before the last fold
    logs = []
    r2 = run_bench(cfg, out, progress=False, log=logs.append)
    assert any("3 finished fold(s) reused, 1 to run" in m for m in logs)
    assert r2["features_cached"] == 24 and r2["features_extracted"] == 0
    assert r2["ua_mean"] == pytest.approx(r1["ua_mean"])
    # the resumed run's own wall time does not erase what the reused folds cost
    assert [h["folds_run"] for h in r2["invocations"]] == [4, 1]
    assert r2["wall_s_total"] == pytest.approx(r1["wall_s"] + r2["wall_s"], abs=0.02)
    # more seeds extend the run: seed 0's folds are reused, only seed 1's run
    logs.clear()
    cfg.seeds = 2
    r3 = run_bench(cfg, out, progress=False, log=logs.append)
    assert any("4 finished fold(s) reused, 4 to run" in m for m in logs)
    assert r3["ua_per_seed"][0] == pytest.approx(r1["ua_mean"])
    cfg.seeds = 1
    # a changed config does not reuse the old folds
    cfg.model_cfg = {"pool": 1, "hidden": 16, "train": {"epochs": 3}}
    logs.clear()
    r4 = run_bench(cfg, out, progress=False, log=logs.append)
    assert not any("reused" in m for m in logs)
    assert len(r4["invocations"]) == 1 and r4["wall_s_total"] == r4["wall_s"]  # history of other folds dropped


def test_bench_skips_bad_files(toy_manifest, cache_dir, tmp_path):
    lines = toy_manifest.read_text().splitlines()
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....garbage")
    rec = json.loads(lines[0])
    rec.update(id="broken", audio=str(bad))
    lines.append(json.dumps(rec))
    toy_manifest.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    r = run_bench(_cfg(toy_manifest, cache_dir, model="logreg", seeds=1), out, progress=False)
    assert r["n_utterances"] == 24 and r["skipped_files"] == 1
    assert "broken" in (out / "skipped.txt").read_text()


def test_bench_refuses_protocol_without_speakers(tmp_path, toy_corpus, cache_dir):
    m = tmp_path / "nospk.jsonl"
    write_manifest(prepare("folder", toy_corpus).utterances, m)
    with pytest.raises(ProtocolError, match="needs a speaker"):
        run_bench(_cfg(m, cache_dir, model="logreg"), tmp_path / "run", progress=False)


def test_kfold_speaker_protocol(toy_manifest, cache_dir, tmp_path):
    r = run_bench(_cfg(toy_manifest, cache_dir, model="logreg", protocol="kfold-speaker:2", seeds=1),
                  tmp_path / "run", progress=False)
    assert r["folds"] == 2 and r["n_utterances"] == 24


def test_bench_spiking_model_reports_sops_and_firing_health(toy_manifest, cache_dir, tmp_path):
    from serkit.evaluation.report import snn_table

    out = tmp_path / "snn"
    r = run_bench(_cfg(toy_manifest, cache_dir, model="pts-snn", seeds=1,
                       model_cfg={"pool": 2, "hidden": 16, "train": {"epochs": 2}}), out, progress=False)
    assert r["sops_head"] > 0 and r["macs_head"] > 0
    assert r["energy_head_mj"] == pytest.approx((4.6 * r["macs_head"] + 0.9 * r["sops_head"]) * 1e-9, rel=1e-3)
    assert set(r["spike_stats"]) == {"lif1", "lif2", "lif_ctx", "lif_kv"}
    table = snn_table([out])
    assert "lif1" in table and "snn" in table


def test_worker_threads_caps_torch_and_blas_threads():
    """Parallel fold workers must not each spin a full BLAS thread pool (it made sklearn fits
    ~10x slower on 2 cores); the limit is lifted again afterwards."""
    import sklearn.linear_model  # noqa: F401  (loads the BLAS / OpenMP pools sklearn uses)
    import torch
    from threadpoolctl import threadpool_info

    from serkit.utils import worker_threads

    before = torch.get_num_threads()
    pools = threadpool_info()
    assert pools  # numpy's BLAS at least
    with worker_threads(1):
        assert torch.get_num_threads() == 1
        assert [p["num_threads"] for p in threadpool_info()] == [1] * len(pools)
    torch.set_num_threads(before)  # (torch's own OpenMP pool is the caller's to restore)
    assert [p["num_threads"] for p in threadpool_info()] == [p["num_threads"] for p in pools]


def test_per_class_table_names_the_most_and_least_helped_class(tmp_path):
    import json

    from serkit.errors import SerkitError
    from serkit.evaluation.report import per_class_table

    for name, rec in (("a", {"x": 0.5, "y": 0.8, "z": 0.6}), ("b", {"x": 0.7, "y": 0.7, "z": 0.6})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps({"labels": ["x", "y", "z"], "per_class_recall": rec}))
    rows = per_class_table([tmp_path / "a", tmp_path / "b"]).splitlines()
    assert rows[0].startswith("| run | x | y | z |") and rows[2].endswith("| — |")
    assert rows[3].endswith("| x +0.200 / y -0.100 |") and "0.700 | 0.700 | 0.600" in rows[3]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "results.json").write_text(json.dumps({"labels": ["x"], "per_class_recall": {"x": 1.0}}))
    with pytest.raises(SerkitError, match="same label set"):
        per_class_table([tmp_path / "a", tmp_path / "c"])


def test_fingerprints_of_runs_made_before_the_normalize_option_stay_valid():
    from serkit.evaluation.bench import run_fingerprints
    from serkit.utils import text_digest

    old = {"bench": {"manifest": "m.jsonl", "model": "attnpool", "seeds": 5, "jobs": 2}, "model_config": {"pool": 2}}
    new = {**old, "bench": {**old["bench"], "normalize": "none"}}
    fp, accepted = run_fingerprints(new)
    old_fp = text_digest(json.dumps({**old, "bench": {"manifest": "m.jsonl", "model": "attnpool"}}, sort_keys=True))
    assert fp == old_fp and text_digest(json.dumps(old, sort_keys=True)) in accepted  # 0.1.0 digest too
    assert run_fingerprints({**old, "bench": {**old["bench"], "normalize": "speaker"}})[0] != fp
