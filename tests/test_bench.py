"""End-to-end: manifest -> frontend (cached) -> model -> speaker-independent CV -> report."""

import csv
import json

import pytest

from serkit.core.errors import ConfigError, ProtocolError, SerkitError
from serkit.data.corpora import prepare, write_manifest
from serkit.experiment.bench import run_bench
from serkit.experiment.config import RunConfig, experiment_from_dict
from serkit.experiment.results import SCHEMA_VERSION, BenchResult
from serkit.testing import toy_manifest as make_toy_manifest
from serkit.testing import toy_result


@pytest.fixture
def toy_manifest(tmp_path):
    return make_toy_manifest(tmp_path)


def _cfg(manifest, **kw):
    return experiment_from_dict(
        {"manifest": str(manifest), "frontend": "logmel", "protocol": "loso", "seeds": 2, **kw}
    )


def _run(cache_dir, **kw):
    return RunConfig(cache_dir=str(cache_dir), progress=False, **kw)


def test_bench_logreg_writes_everything(toy_manifest, cache_dir, tmp_path):
    out = tmp_path / "run"
    r = run_bench(_cfg(toy_manifest, model="logreg"), out, _run(cache_dir))
    assert len(r.fold_names) == 4 and r.n_utterances == 24 and r.labels == ["high", "low"]
    assert r.ua.mean >= 0.9  # the toy classes differ strongly in pitch and loudness
    assert r.cost.params_trainable > 0 and r.cost.energy_head_mj > 0 and r.latency_ms_per_clip > 0
    for f in ["results.json", "predictions.csv", "config.yaml", "report.md", "confusion.png"]:
        assert (out / f).exists(), f
    rows = list(csv.DictReader(open(out / "predictions.csv")))
    assert len(rows) == 24 * 2
    assert {"id", "fold", "seed", "truth", "prediction", "p_high", "p_low"} <= set(rows[0])
    # a fold's test speaker is the fold name: predictions never come from a model that saw it
    assert all(row["id"].split("_")[2] == row["fold"] for row in rows)
    saved = BenchResult.load(out)
    assert saved == r and saved.schema_version == SCHEMA_VERSION == 2
    assert (
        json.loads((out / "results.json").read_text())["cost"]["energy_head_mj"] > 0
    )  # energies written out


def test_bench_resumes_finished_folds(toy_manifest, cache_dir, tmp_path):
    out = tmp_path / "run"
    kw = {"model": {"name": "attnpool", "pool": 1, "train": {"epochs": 3}}, "seeds": 1}
    r1 = run_bench(_cfg(toy_manifest, **kw), out, _run(cache_dir))
    assert r1.timing.features_extracted == 24
    (out / "folds" / "seed0_spk3.json").unlink()  # as if interrupted before the last fold
    (out / "folds" / "seed0_spk2.json").write_text(
        '{"seed": 0, "fold": "spk2", "proba": [[0.5'
    )  # damaged
    logs = []
    r2 = run_bench(_cfg(toy_manifest, **kw), out, _run(cache_dir), log=logs.append)
    assert any("2 finished fold(s) reused, 2 to run" in m for m in logs)
    assert r2.timing.features_cached == 24 and r2.timing.features_extracted == 0
    assert r2.ua.mean == pytest.approx(r1.ua.mean)
    # the resumed run's own wall time does not erase what the reused folds cost
    assert [h.folds_run for h in r2.timing.invocations] == [4, 2]
    assert r2.timing.wall_s_total == pytest.approx(r1.timing.wall_s + r2.timing.wall_s, abs=0.02)
    # more seeds extend the run: seed 0's folds are reused, only seed 1's run; jobs do not matter
    logs.clear()
    r3 = run_bench(
        _cfg(toy_manifest, **{**kw, "seeds": 2}), out, _run(cache_dir, jobs=2), log=logs.append
    )
    assert any("4 finished fold(s) reused, 4 to run" in m for m in logs)
    assert r3.ua.per_seed[0] == pytest.approx(r1.ua.mean)
    # a changed config does not reuse the old folds
    logs.clear()
    r4 = run_bench(
        _cfg(toy_manifest, **{**kw, "model": {**kw["model"], "hidden": 16}}),
        out,
        _run(cache_dir),
        log=logs.append,
    )
    assert not any("reused" in m for m in logs)
    assert len(r4.timing.invocations) == 1 and r4.timing.wall_s_total == r4.timing.wall_s


def test_old_run_folders_are_refused_clearly(toy_manifest, cache_dir, tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"ua_mean": 0.5, "model": "attnpool"}))
    with pytest.raises(SerkitError, match="another serkit .*new --out folder"):
        run_bench(_cfg(toy_manifest, model="logreg"), out, _run(cache_dir))
    with pytest.raises(SerkitError, match="results schema None"):
        BenchResult.load(out)


def test_bench_skips_bad_files(toy_manifest, cache_dir, tmp_path):
    lines = toy_manifest.read_text().splitlines()
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....garbage")
    rec = json.loads(lines[0])
    rec.update(id="broken", audio=str(bad))
    lines.append(json.dumps(rec))
    toy_manifest.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    r = run_bench(_cfg(toy_manifest, model="logreg", seeds=1), out, _run(cache_dir))
    assert r.n_utterances == 24 and r.timing.skipped_files == 1
    assert "broken" in (out / "skipped.txt").read_text()
    toy_manifest.write_text(
        "\n".join(lines[:-1]) + "\n"
    )  # the bad file fixed: no stale list is left
    run_bench(_cfg(toy_manifest, model="logreg", seeds=1), tmp_path / "run", _run(cache_dir))
    assert not (out / "skipped.txt").exists()


def test_bench_refuses_protocol_without_speakers(tmp_path, cache_dir):
    from serkit.testing import toy_corpus

    m = tmp_path / "nospk.jsonl"
    write_manifest(prepare("folder", toy_corpus(tmp_path / "c")).utterances, m)
    with pytest.raises(ProtocolError, match="needs a speaker"):
        run_bench(_cfg(m, model="logreg"), tmp_path / "run", _run(cache_dir))


def test_kfold_speaker_protocol(toy_manifest, cache_dir, tmp_path):
    r = run_bench(
        _cfg(toy_manifest, model="logreg", protocol="kfold-speaker:2", seeds=1),
        tmp_path / "run",
        _run(cache_dir),
    )
    assert len(r.fold_names) == 2 and r.n_utterances == 24


def test_bench_spiking_model_reports_sops_and_firing_health(toy_manifest, cache_dir, tmp_path):
    from serkit.experiment.report import snn_table

    out = tmp_path / "snn"
    r = run_bench(
        _cfg(
            toy_manifest,
            seeds=1,
            model={"name": "pts-snn", "pool": 2, "hidden": 16, "train": {"epochs": 2}},
        ),
        out,
        _run(cache_dir),
    )
    c = r.cost
    assert c.sops_head > 0 and c.macs_head > 0
    assert c.energy_head_mj == pytest.approx(
        (4.6 * c.macs_head + 0.9 * c.sops_head) * 1e-9, rel=1e-3
    )
    assert set(r.spike_stats) == {"lif1", "lif2", "lif_ctx", "lif_kv"}
    assert all(0 <= v.rate <= 1 for v in r.spike_stats.values())
    table = snn_table([out])
    assert "lif1" in table and "snn" in table


def test_worker_threads_caps_torch_and_blas_threads():
    """Parallel fold workers must not each spin a full BLAS thread pool (it made sklearn fits
    ~10x slower on 2 cores); the limit is lifted again afterwards."""
    import sklearn.linear_model  # noqa: F401  (loads the BLAS / OpenMP pools sklearn uses)
    import torch
    from threadpoolctl import threadpool_info

    from serkit.core.io import worker_threads

    before = torch.get_num_threads()
    pools = threadpool_info()
    assert pools  # numpy's BLAS at least
    with worker_threads(1):
        assert torch.get_num_threads() == 1
        assert [p["num_threads"] for p in threadpool_info()] == [1] * len(pools)
    torch.set_num_threads(before)  # (torch's own OpenMP pool is the caller's to restore)
    assert [p["num_threads"] for p in threadpool_info()] == [p["num_threads"] for p in pools]


def test_executor_clears_its_context_even_when_a_task_fails():
    from serkit.experiment import executor

    def boom(ctx, task):
        if task == 2:
            raise ValueError("task failed")
        return ctx["k"] * task

    assert list(executor.run_tasks(boom, {"k": 10}, [0, 1])) == [0, 10]
    with pytest.raises(ValueError):
        list(executor.run_tasks(boom, {"k": 10}, [1, 2]))
    assert executor._SLOT == {}


def test_a_dead_worker_fails_the_run_instead_of_hanging_it():
    """A worker killed mid-task (e.g. by the OOM killer) used to hang multiprocessing.Pool for
    ever; now the run stops with an error that says what to do, and results so far came back."""
    import os
    import signal

    from serkit.core.errors import SerkitError
    from serkit.experiment import executor

    def task(ctx, t):
        if t == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return t * ctx

    got = []
    with pytest.raises(SerkitError, match="worker process died"):
        for r in executor.run_tasks(task, 2, [0, 1, 2, 3, 4], jobs=2):
            got.append(r)
    assert executor._SLOT == {} and got == [0, 2, 4][: len(got)]
    assert list(executor.run_tasks(task, 2, [0, 1, 2], jobs=2)) == [0, 2, 4]


def test_per_class_table_names_the_most_and_least_helped_class(tmp_path):
    from serkit.experiment.report import per_class_table

    for name, rec in (("a", {"x": 0.5, "y": 0.8, "z": 0.6}), ("b", {"x": 0.7, "y": 0.7, "z": 0.6})):
        (tmp_path / name).mkdir()
        toy_result(["x", "y", "z"], rec).save(tmp_path / name / "results.json")
    rows = per_class_table([tmp_path / "a", tmp_path / "b"]).splitlines()
    assert rows[0].startswith("| run | x | y | z |") and rows[2].endswith("| — |")
    assert rows[3].endswith("| x +0.200 / y -0.100 |") and "0.700 | 0.700 | 0.600" in rows[3]
    (tmp_path / "c").mkdir()
    toy_result(["x"], {"x": 1.0}).save(tmp_path / "c" / "results.json")
    with pytest.raises(SerkitError, match="same label set"):
        per_class_table([tmp_path / "a", tmp_path / "c"])


def test_fingerprint_ignores_seeds_and_run_settings_but_not_the_model():
    base = _cfg("m.jsonl", model="attnpool")
    spec = {"name": "logmel"}
    assert _cfg("m.jsonl", model="attnpool", seeds=9).fingerprint(spec) == base.fingerprint(spec)
    assert _cfg("m.jsonl", model={"name": "attnpool", "hidden": 64}).fingerprint(
        spec
    ) != base.fingerprint(spec)
    assert base.fingerprint({"name": "logmel", "version": "2"}) != base.fingerprint(spec)
    with pytest.raises(ConfigError, match="jobs"):  # execution settings are not experiment settings
        _cfg("m.jsonl", jobs=2)


def test_reaggregating_a_run_folder_gives_identical_values(toy_manifest, cache_dir, tmp_path):
    """Issue 30: the typed path changes no value. The fold files on disk, read back and
    aggregated again, give the results.json that was written (timing and latency aside), and
    every section round-trips through JSON as its dataclass."""
    from serkit.data.protocols import make_folds
    from serkit.experiment.aggregate import aggregate
    from serkit.experiment.dataset import load_dataset
    from serkit.experiment.results import Calibration, FoldRecord, Scores

    cfg = _cfg(toy_manifest, model={"name": "attnpool", "hidden": 16, "train": {"epochs": 3}})
    out = tmp_path / "run"
    r = run_bench(cfg, out, _run(cache_dir))
    written = json.loads((out / "results.json").read_text())
    records = [FoldRecord.load(p) for p in sorted((out / "folds").glob("*.json"))]
    assert all(rec is not None and rec.uses == ["audio"] for rec in records)
    data = load_dataset(cfg, _run(cache_dir), lambda *a: None)
    again = aggregate(records, cfg, data, make_folds(data.utts, cfg.protocol)).to_dict()
    skip = {"timing", "latency_ms_per_clip", "latency_head_ms", "latency_protocol"}
    assert {k: v for k, v in again.items() if k not in skip} == {
        k: v for k, v in written.items() if k not in skip
    }
    assert isinstance(r.calibration, Calibration) and isinstance(
        r.calibration.selective[0].coverage, float
    )
    saved = BenchResult.load(out)
    assert saved == r and isinstance(saved.calibration, Calibration)
    assert (
        saved.per_corpus is None
        and saved.probes is None
        and not isinstance(written["calibration"], Scores)
    )
