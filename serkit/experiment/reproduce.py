"""``serkit reproduce NAME``: published numbers beside serkit's on the same protocol.

A reproduction is data (``reproductions/NAME.yaml``, or a YAML path in the same format): rows
with the published figure, its protocol in words, and the serkit run that measures the same
thing (protocol, model, frontend, seeds, ``--set`` overrides; optionally a ``serkit tune`` first,
whose objective only ever sees validation speakers carved out of training folds). Running it
runs every row's tune and bench into ``OUT/<row id>`` (re-running resumes: tuning studies and
finished folds are kept), then writes ``OUT/reproduce.md`` and ``OUT/reproduce.json``.

Each row's serkit figure is the mean +- sample std over its seeds (the paper's number of seeds
where the paper says it); the best seed is printed separately, labelled, never as the headline.
Rows have a ``role``: ``reproduction`` (a published system), ``reference`` (a published number
serkit does not run, e.g. a 1.5 B-parameter encoder) or ``yardstick`` (serkit's own frozen-feature
heads on the same folds, so every published number has a measured neighbour).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from serkit.core.config import from_dict, load_yaml
from serkit.core.errors import ConfigError, SerkitError
from serkit.core.io import atomic_write_json, atomic_write_text
from serkit.experiment.config import ExperimentConfig, RunConfig, load_experiment

REPRO_DIR = Path(__file__).parent / "reproductions"
ROLES = ("reproduction", "reference", "yardstick")


@dataclass
class Published:
    """A published figure: UA (0-1) and what else the source states (``None`` = not stated)."""

    ua: float
    std: float | None = None
    seeds: int | None = None
    best_seed: float | None = None
    wa: float | None = None
    params: int | None = None


@dataclass
class RunSpec:
    """The serkit run of a row: what ``serkit bench`` is given (``sets``: ``--set`` overrides)."""

    protocol: str
    model: str
    frontend: str | None = None
    seeds: int = 5
    sets: list[str] = field(default_factory=list)


@dataclass
class TuneSpec:
    """``serkit tune`` before the bench: trials, outer folds (0 = all) and the search space
    (``None``: the model's default space, :data:`serkit.experiment.tune.SPACES`)."""

    trials: int = 20
    outer_folds: int = 0
    space: dict | None = None


@dataclass
class Row:
    id: str
    system: str
    role: str
    source: str
    published: Published | None = None
    published_protocol: str = ""
    protocol: str = ""
    run: RunSpec | None = None
    tune: TuneSpec | None = None


@dataclass
class Reproduction:
    name: str
    corpus: str
    rows: list[Row]
    description: str = ""


def available() -> list[str]:
    """Names of the bundled reproductions."""
    return sorted(p.stem for p in REPRO_DIR.glob("*.yaml"))


def load_reproduction(name: str) -> Reproduction:
    """The bundled reproduction ``name`` or the YAML file at that path (checked)."""
    p = REPRO_DIR / f"{name}.yaml"
    if not p.exists():
        p = Path(name)
    if not p.is_file():
        raise ConfigError(
            f"no reproduction {name!r}: bundled ones are {', '.join(available())}, or give a YAML "
            "path"
        )
    rep = from_dict(Reproduction, load_yaml(p), str(p))
    ids = [r.id for r in rep.rows]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{p}: row ids must be unique (they name the run folders)")
    for r in rep.rows:
        if r.role not in ROLES:
            raise ConfigError(f"{p}: row {r.id}: role must be one of {', '.join(ROLES)}")
        if r.run is None and r.role != "reference":
            raise ConfigError(f"{p}: row {r.id}: only a 'reference' row may have no run")
        if r.run is None and r.published is None:
            raise ConfigError(f"{p}: row {r.id}: neither a published number nor a run")
    return rep


def select(rep: Reproduction, only: list[str] | None) -> list[Row]:
    """The rows named in ``only`` (all when empty); an unknown id is an error."""
    if not only:
        return list(rep.rows)
    known = {r.id: r for r in rep.rows}
    bad = [i for i in only if i not in known]
    if bad:
        raise ConfigError(f"unknown row(s) {bad}; rows: {', '.join(known)}")
    return [known[i] for i in only]


def _explicit(row: Row, manifest: str) -> dict:
    s = row.run
    return dict(manifest=manifest, model=s.model, frontend=s.frontend, protocol=s.protocol)


def commands(rows: list[Row], manifest: str, out: Path) -> list[str]:
    """The ``serkit`` command lines that run ``rows`` (what ``--dry-run`` prints)."""
    lines = []
    for r in rows:
        if r.run is None:
            continue
        s = r.run
        sets = "".join(f" --set {x}" for x in s.sets)
        fe = f" --frontend {s.frontend}" if s.frontend else ""
        base = f"--manifest {manifest} --protocol {s.protocol} --model {s.model}{fe}{sets}"
        if r.tune:
            t = out / f"tune_{r.id}"
            space = (
                f" --space {t}/space.yaml" if r.tune.space else ""
            )  # (reproduce writes it there)
            lines.append(
                f"serkit tune {base} --trials {r.tune.trials} --outer-folds "
                f"{r.tune.outer_folds}{space} --out {t}"
            )
            lines.append(
                f"serkit bench --manifest {manifest} --config {t}/best.yaml{sets} --seeds "
                f"{s.seeds} --out {out / r.id}"
            )
        else:
            lines.append(f"serkit bench {base} --seeds {s.seeds} --out {out / r.id}")
    return lines


def row_config(row: Row, manifest: str, out: Path, run: RunConfig, log=print) -> ExperimentConfig:
    """The experiment of a row; a tuned row runs (or resumes) its ``serkit tune`` first."""
    s = row.run
    if row.tune is None:
        return load_experiment(None, s.sets, seeds=s.seeds, **_explicit(row, manifest))
    from serkit.experiment.tune import TuneConfig, run_tune

    tdir = out / f"tune_{row.id}"
    best = tdir / "best.yaml"
    tcfg = TuneConfig(trials=row.tune.trials, outer_folds=row.tune.outer_folds)
    if not (best.exists() and (tdir / "tune.json").exists() and _trials_done(tdir) >= tcfg.trials):
        log(
            f"{row.id}: tuning ({tcfg.trials} trials, {tcfg.outer_folds or 'all'} outer folds) -> "
            f"{tdir}"
        )
        if row.tune.space:
            from serkit.core.config import dump_yaml

            tdir.mkdir(parents=True, exist_ok=True)
            dump_yaml(row.tune.space, tdir / "space.yaml")
        run_tune(
            load_experiment(None, s.sets, **_explicit(row, manifest)),
            tcfg,
            tdir,
            row.tune.space,
            run,
            log=log,
        )
    return load_experiment(best, s.sets, manifest=manifest, seeds=s.seeds)


def _trials_done(tdir: Path) -> int:
    import json

    try:
        return len(json.loads((tdir / "tune.json").read_text()).get("trials", []))
    except (OSError, ValueError):
        return 0


def run_reproduction(
    rep: Reproduction,
    manifest: str,
    out: str | Path,
    run: RunConfig | None = None,
    only: list[str] | None = None,
    log=print,
) -> dict:
    """Run (or resume) the rows, then write and return the table document."""
    from serkit.experiment.bench import run_bench

    run, out = run or RunConfig(), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for r in select(rep, only):
        if r.run is None:
            continue
        cfg = row_config(r, manifest, out, run, log)
        log(f"{r.id}: serkit bench ({cfg.seeds} seeds) -> {out / r.id}")
        log(
            run_bench(
                cfg, out / r.id, run, log=log if run.progress else (lambda *_: None)
            ).summary()
        )
    return write_table(rep, out)


def _tune_wall(tdir: Path) -> float | None:
    import json

    try:
        return float(json.loads((tdir / "tune.json").read_text())["wall_s_all_trials"])
    except (OSError, ValueError, KeyError):
        return None


def row_record(row: Row, out: Path) -> dict:
    """One row of the table: published figures, serkit's (``None`` = not run yet), the
    difference."""
    from serkit.experiment.results import BenchResult

    pub = row.published
    rec = {
        "id": row.id,
        "system": row.system,
        "role": row.role,
        "source": row.source,
        "published_protocol": row.published_protocol,
        "published": None if pub is None else vars(pub).copy(),
        "protocol": row.run.protocol if row.run else row.protocol,
        "serkit": None,
    }
    if row.run is None or not (out / row.id / "results.json").exists():
        return rec
    try:
        r = BenchResult.load(out / row.id)
    except SerkitError as exc:
        rec["error"] = str(exc)
        return rec
    per = r.ua.per_seed
    best = max(range(len(per)), key=per.__getitem__)
    c = r.cost
    enc = c.energy_encoder_mj
    tune_s = _tune_wall(out / f"tune_{row.id}") if row.tune else None
    rec["serkit"] = {
        "ua_mean": r.ua.mean,
        "ua_std": r.ua.std,
        "wa_mean": r.wa.mean,
        "f1_mean": r.f1.mean,
        "seeds": r.seeds,
        "complete": len(r.seeds) == row.run.seeds,
        "seeds_planned": row.run.seeds,
        "best_seed": {"seed": r.seeds[best], "ua": per[best]},
        "model": r.model,
        "frontend": r.frontend,
        "folds": len(r.fold_names),
        "n_utterances": r.n_utterances,
        "params": c.params_trainable,
        "head_mj": c.energy_head_mj,
        "encoder_mj": enc,
        "total_mj": None if enc is None else c.energy_head_mj + enc,
        "bench_wall_s": r.timing.wall_s_total,
        "tune_wall_s": tune_s,
        "fit_s_summed": r.timing.fit_s_total,
        "wall_s": r.timing.wall_s_total + (tune_s or 0.0),
    }
    if pub is not None:
        rec["delta_ua"] = r.ua.mean - pub.ua
    return rec


def _f(x, fmt="{:.3f}", none="n/s") -> str:
    return none if x is None else fmt.format(x)


def table_markdown(doc: dict) -> str:
    head = (
        "| system | role | protocol | published UA | serkit UA (mean +- std, seeds) | serkit best "
        "seed (not the "
        "headline) | serkit - published | params serkit / paper | head mJ | total mJ | wall s (2 "
        "cores; recorded "
        "invocations) |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in doc["rows"]:
        p, s = r["published"], r["serkit"]
        pub = (
            "-"
            if p is None
            else _f(p["ua"])
            + (f" +- {p['std']:.3f}" if p.get("std") is not None else "")
            + (f" ({p['seeds']} seeds)" if p.get("seeds") else "")
            + (f"; best seed {p['best_seed']:.3f}" if p.get("best_seed") else "")
        )
        proto = f"`{r['protocol']}`" if r["protocol"] else "see note"
        if s is None:
            ours = "not run (reference only)" if r["role"] == "reference" else "not run yet"
            lines.append(
                f"| {r['system']} | {r['role']} | {proto} | {pub} | {ours} | | | "
                f"{_f((p or {}).get('params'), '{:,}', '-')} | | | |"
            )
            continue
        n = len(s["seeds"])
        ours = (
            f"**{s['ua_mean']:.3f} +- {s['ua_std']:.3f}** ({n}"
            + ("" if s["complete"] else f" of {s['seeds_planned']}")
            + ")"
        )
        best = f"{s['best_seed']['ua']:.3f} (seed {s['best_seed']['seed']})"
        delta = "" if r.get("delta_ua") is None else f"{r['delta_ua']:+.3f}"
        params = f"{s['params']:,} / {_f((p or {}).get('params'), '{:,}', '-')}"
        wall = (
            f"{s['wall_s']:,.0f}"
            + (f" (tune {s['tune_wall_s']:,.0f})" if s.get("tune_wall_s") else "")
            + f"; fits {s['fit_s_summed']:,.0f} summed"
        )
        lines.append(
            f"| {r['system']} | {r['role']} | {proto} | {pub} | {ours} | {best} | {delta} | "
            f"{params} | "
            f"{s['head_mj']:.5f} | {_f(s['total_mj'], '{:.3f}', 'n/a')} | {wall} |"
        )
    return "\n".join(lines)


def write_table(rep: Reproduction, out: str | Path) -> dict:
    """``OUT/reproduce.json`` and ``OUT/reproduce.md`` from whatever rows have results."""
    out = Path(out)
    doc = {
        "name": rep.name,
        "corpus": rep.corpus,
        "description": rep.description,
        "rows": [row_record(r, out) for r in rep.rows],
    }
    atomic_write_json(out / "reproduce.json", doc)
    notes = [
        f"  - {r['system']} ({r['id']}): {r['published_protocol']}"
        for r in doc["rows"]
        if r["published_protocol"]
    ]
    md = [
        f"# serkit reproduce {rep.name}",
        "",
        rep.description,
        "",
        table_markdown(doc),
        "",
        "UA = balanced accuracy over the pooled out-of-fold predictions of one seed; serkit: mean "
        "+- sample std "
        "over seeds, best seed shown apart. Energy per 3 s clip, 45 nm (4.6 pJ/MAC, 0.9 pJ/AC). "
        "n/s = not stated "
        "by the source.",
        "",
        "Published protocols:",
        *notes,
        "",
    ]
    atomic_write_text(out / "reproduce.md", "\n".join(md))
    doc["markdown"] = table_markdown(doc)
    return doc
