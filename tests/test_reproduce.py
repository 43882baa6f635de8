"""``serkit reproduce``: published numbers beside serkit's on the same (data-defined) protocol."""

import json

import pytest
import yaml

from serkit.core.errors import ConfigError
from serkit.experiment.config import RunConfig
from serkit.experiment.reproduce import (
    commands,
    load_reproduction,
    run_reproduction,
    select,
    write_table,
)
from serkit.testing import toy_manifest as make_toy_manifest


def test_bundled_ravdess_reproduction_states_the_published_figures():
    rep = load_reproduction("ravdess")
    rows = {r.id: r for r in rep.rows}
    res = rows["ravdess5_reslstm-sa"]
    assert res.published.ua == 0.6232 and res.published.std == 0.0119 and res.published.seeds == 10
    assert res.run.seeds == 10 and res.run.protocol == "folds:ravdess5" and res.tune is not None
    assert rows["emobox6_mll"].run.protocol == "folds:emobox-ravdess6"
    assert (
        rows["emobox6_whisper-large-v3"].run is None
        and rows["emobox6_whisper-large-v3"].published.ua == 0.7532
    )
    # every run row's protocol is a bundled split the loader accepts
    from serkit.data.protocols import check_protocol

    for r in rep.rows:
        check_protocol(r.run.protocol if r.run else r.protocol)


def _spec(tmp_path, rows):
    p = tmp_path / "toy_repro.yaml"
    p.write_text(yaml.safe_dump({"name": "toy", "corpus": "toy", "rows": rows}))
    return p


def test_bad_reproduction_files_are_refused(tmp_path):
    run = {"protocol": "loso", "model": "logreg"}
    with pytest.raises(ConfigError, match="unique"):
        load_reproduction(
            str(
                _spec(
                    tmp_path,
                    [{"id": "a", "system": "s", "role": "yardstick", "source": "x", "run": run}]
                    * 2,
                )
            )
        )
    with pytest.raises(ConfigError, match="role"):
        load_reproduction(
            str(
                _spec(
                    tmp_path,
                    [{"id": "a", "system": "s", "role": "best", "source": "x", "run": run}],
                )
            )
        )
    with pytest.raises(ConfigError, match="only a 'reference' row"):
        load_reproduction(
            str(_spec(tmp_path, [{"id": "a", "system": "s", "role": "yardstick", "source": "x"}]))
        )
    with pytest.raises(ConfigError, match="run: expected RunSpec"):
        load_reproduction(
            str(
                _spec(
                    tmp_path,
                    [
                        {
                            "id": "a",
                            "system": "s",
                            "role": "yardstick",
                            "source": "x",
                            "run": {**run, "epochs": 3},
                        }
                    ],
                )
            )
        )
    with pytest.raises(ConfigError, match="no reproduction"):
        load_reproduction("nonesuch")
    rep = load_reproduction(
        str(
            _spec(
                tmp_path,
                [{"id": "a", "system": "s", "role": "yardstick", "source": "x", "run": run}],
            )
        )
    )
    with pytest.raises(ConfigError, match="unknown row"):
        select(rep, ["b"])


def test_reproduction_runs_tunes_and_tabulates_honestly(tmp_path):
    """A tuned row, a plain row and a reference row on the toy corpus and a split file: the table
    has the mean +- std over seeds as the headline, the best seed apart, the difference to the
    published number, and a second run reuses every fold and trial."""
    manifest = make_toy_manifest(tmp_path)
    split = tmp_path / "toy_split.json"
    split.write_text(
        json.dumps({"source": "test", "folds": {"f1": ["spk0", "spk1"], "f2": ["spk2", "spk3"]}})
    )
    proto = f"folds:{split}"
    rows = [
        {
            "id": "plain",
            "system": "logreg",
            "role": "reproduction",
            "source": "paper",
            "published": {"ua": 0.5, "seeds": 3},
            "published_protocol": "two folds",
            "run": {"protocol": proto, "model": "logreg", "frontend": "logmel", "seeds": 3},
        },
        {
            "id": "tuned",
            "system": "logreg tuned",
            "role": "yardstick",
            "source": "serkit",
            "run": {"protocol": proto, "model": "logreg", "frontend": "logmel", "seeds": 2},
            "tune": {"trials": 2},
        },
        {
            "id": "ref",
            "system": "big model",
            "role": "reference",
            "source": "paper",
            "published": {"ua": 0.9},
            "protocol": proto,
        },
    ]
    rep = load_reproduction(str(_spec(tmp_path, rows)))
    out = tmp_path / "repro"
    run = RunConfig(cache_dir=str(tmp_path / "cache"), progress=False)
    lines = commands(rep.rows, str(manifest), out)
    assert any(line.startswith("serkit tune") and "--trials 2" in line for line in lines)
    assert (
        sum(line.startswith("serkit bench") for line in lines) == 2
    )  # the reference row runs nothing
    doc = run_reproduction(rep, str(manifest), out, run, log=lambda *_: None)
    by = {r["id"]: r for r in doc["rows"]}
    plain = by["plain"]["serkit"]
    assert len(plain["seeds"]) == 3 and plain["complete"] and plain["folds"] == 2
    assert by["plain"]["delta_ua"] == pytest.approx(plain["ua_mean"] - 0.5)
    res = json.loads((out / "plain" / "results.json").read_text())
    assert (
        plain["best_seed"]["ua"] == max(res["ua"]["per_seed"])
        and plain["ua_mean"] == res["ua"]["mean"]
    )
    assert (out / "tune_tuned" / "best.yaml").exists() and by["tuned"]["serkit"][
        "tune_wall_s"
    ] is not None
    assert by["ref"]["serkit"] is None
    md = (out / "reproduce.md").read_text()
    assert (
        "not run (reference only)" in md
        and "best seed" in md
        and f"{plain['ua_mean']:.3f} +- " in md
    )
    stamp = {p.name: p.stat().st_mtime_ns for p in (out / "plain" / "folds").iterdir()}
    run_reproduction(rep, str(manifest), out, run, log=lambda *_: None)  # resumes: no fold refitted
    assert stamp == {p.name: p.stat().st_mtime_ns for p in (out / "plain" / "folds").iterdir()}
    # the table alone, after a row's results were removed, says so instead of failing
    (out / "plain" / "results.json").unlink()
    assert write_table(rep, out)["rows"][0]["serkit"] is None
