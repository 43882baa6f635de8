"""Analysis commands (issue 17): ``fairness``, ``robustness``; registered on
:data:`serkit.cli.app`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from serkit.cli import CACHE, FRONTEND, PROTOCOL, QUIET, SET, _run, app, friendly


@app.command()
@friendly
def fairness(
    run_dir: Path = typer.Argument(..., help="a finished serkit bench folder (predictions.csv)"),
    against: Path | None = typer.Option(
        None,
        help="a second run on the same folds and seeds (e.g. after "
        "debiasing): both side by side with a paired bootstrap of the change",
    ),
    manifest: str | None = typer.Option(
        None, help="manifest with the speaker metadata (default: the run's)"
    ),
    attribute: str = typer.Option("gender", help="manifest field that defines the groups"),
    n_boot: int = typer.Option(1000, help="speaker-cluster bootstrap replicates"),
    out: Path | None = typer.Option(
        None, "--out", help="folder for fairness.{json,md,png} (default RUN_DIR)"
    ),
):
    """Fairness audit: UA per speaker group with speaker-bootstrap CIs, the gap, per-speaker
    spread, per-class recall by group, a figure; with --against, before / after a debiasing."""
    from serkit.analysis.fairness import audit, compare, plot, report_md
    from serkit.core.io import atomic_write_json, atomic_write_text

    out = out or (against or run_dir)
    out.mkdir(parents=True, exist_ok=True)
    a = audit(run_dir, manifest, attribute, n_boot)
    if against is None:
        atomic_write_json(out / "fairness.json", a)
        atomic_write_text(out / "fairness.md", report_md(a))
        plot(a, out / "fairness.png")
        typer.echo(report_md(a))
    else:
        c = compare(run_dir, against, manifest, attribute, n_boot)
        b = audit(against, manifest, attribute, n_boot)
        atomic_write_json(out / "fairness_compare.json", c)
        plot(a, out / "fairness_compare.png", b)
        ch = c["change"]
        text = (
            report_md(b)
            + f"\nagainst {run_dir}: |gap| {abs(c['before'].get('gap', {}).get('mean', 0)):.3f} -> "
            f"{abs(c['after'].get('gap', {}).get('mean', 0)):.3f} (change {ch['abs_gap']:+.3f}, "
            "95 % CI "
            f"{ch['abs_gap_ci95'][0]:+.3f} to {ch['abs_gap_ci95'][1]:+.3f}); UA "
            f"{c['before']['ua_overall']:.3f} -> "
            f"{c['after']['ua_overall']:.3f} (change {ch['ua']:+.3f}, 95 % CI "
            f"{ch['ua_ci95'][0]:+.3f} to "
            f"{ch['ua_ci95'][1]:+.3f})\n"
        )
        atomic_write_text(out / "fairness_compare.md", text)
        typer.echo(text)
    typer.echo(f"-> {out}")


@app.command()
@friendly
def robustness(
    manifest: str = typer.Option(..., help="JSONL manifest(s) to evaluate on"),
    model: str = typer.Option(
        "logreg,attnpool,pts-snn",
        help="models, comma-separated; NAME+noise = trained with noise augmentation",
    ),
    out: Path = typer.Option(
        ..., "--out", help="folder: one bench folder per model + robustness.{json,md,png}"
    ),
    conditions: str = typer.Option(
        "default",
        help="corruption specs, comma-separated (white@10, babble@0, "
        "background@5, reverb@0.6, telephone, mp3@16), or 'default'",
    ),
    babble: str = typer.Option("", help="manifest(s) of OTHER speakers' speech for babble noise"),
    noise_dir: str = typer.Option("", help="folder of real noise recordings (background@SNR)"),
    protocol: str | None = PROTOCOL,
    frontend: str | None = FRONTEND,
    seeds: int = typer.Option(5),
    set_: list[str] = SET,
    jobs: int = typer.Option(1),
    cache_dir: Path | None = CACHE,
    quiet: bool = QUIET,
):
    """Noise and channel robustness: each model trained on clean speech in speaker-independent
    folds, scored on corrupted copies of its test clips; UA-versus-SNR figure and table."""
    from serkit.analysis.robustness import default_conditions, run_robustness

    conds = (
        default_conditions(bool(babble), bool(noise_dir))
        if conditions == "default"
        else [c for c in conditions.split(",") if c.strip()]
    )
    s = run_robustness(
        manifest,
        [m for m in model.split(",") if m.strip()],
        out,
        conds,
        protocol or "loso",
        seeds,
        babble,
        noise_dir,
        set_,
        frontend,
        _run(jobs, quiet, cache_dir),
        typer.echo,
    )
    typer.echo((out / "robustness.md").read_text())
    typer.echo(json.dumps({"models": list(s["ua"]), "out": str(out)}))


@app.command()
@friendly
def dimensional(
    train: str = typer.Option(..., help="manifest(s) to train on (a.jsonl,b.jsonl)"),
    test: str = typer.Option(
        "", help="zero-shot: a manifest of OTHER corpora to score (default: within-corpus folds)"
    ),
    out: Path = typer.Option(
        ..., "--out", help="folder: dimensional.{json,md,png}, predictions.csv, config.yaml"
    ),
    target: str = typer.Option(
        "table",
        help="table (category -> VAD norms, --set table=warriner|nrc) or arousal (the manifest's "
        "arousal field)",
    ),
    protocol: str = typer.Option(
        "kfold-speaker:5", help="within-corpus folds (ignored with --test)"
    ),
    seeds: int = typer.Option(5),
    frontend: str = typer.Option("whisper-tiny-layers"),
    set_: list[str] = SET,
    cache_dir: Path | None = CACHE,
    quiet: bool = QUIET,
):
    """Valence / arousal / dominance regression (CCC loss) from categorical labels through the
    published VAD norms (Warriner 2013 or NRC) or from an arousal annotation; scored against real
    arousal annotations
    (BAVED levels: Spearman rho, UA; RAVDESS intensity: AUC), within corpus or zero-shot."""
    from serkit.analysis.dimensional import DimExperiment, run_dimensional
    from serkit.core.config import from_dict, parse_overrides

    exp = from_dict(
        DimExperiment,
        {
            "train": train,
            "test": test,
            "target": target,
            "protocol": protocol,
            "seeds": seeds,
            "frontend": frontend,
            **parse_overrides(set_),
        },
        "dimensional",
    )
    res = run_dimensional(exp, out, _run(1, quiet, cache_dir), typer.echo)
    typer.echo((out / "dimensional.md").read_text())
    typer.echo(f"-> {out} ({res.wall_s} s)")


@app.command()
@friendly
def explain(
    model: str = typer.Argument(
        ..., help="bundled name (default) or a .pt written by serkit train"
    ),
    target: Path = typer.Argument(..., help="an audio file, or a JSONL manifest"),
    out: Path = typer.Option(
        ..., "--out", help="folder: figures, explain.json / clips.jsonl / explain.md"
    ),
    max_clips: int = typer.Option(
        0, help="manifest: explain this many clips drawn with --seed (0 = all)"
    ),
    seed: int = typer.Option(0),
    figures: int = typer.Option(6, help="manifest: figures for the first N clips"),
    top_frac: float = typer.Option(0.2, help="share of 0.1 s segments called salient"),
):
    """Saliency over time and mel bands (gradients through head + Whisper encoder; occlusion as
    a check), the salient regions' acoustic cues (Praat, openSMILE) against the speaker's neutral
    clips, faithfulness (salient vs random deletion), per-class cue profiles vs the literature."""
    from serkit.analysis.explain import explain_file, explain_manifest
    from serkit.deploy.loading import load

    rec = load(model)
    if target.suffix == ".jsonl":
        from serkit.experiment.jobs import read_clips

        out.mkdir(parents=True, exist_ok=True)
        explain_manifest(rec, read_clips(target), out, max_clips, seed, figures, typer.echo)
        typer.echo((out / "explain.md").read_text())
        return
    e = explain_file(rec, target, out, top_frac, seed)
    typer.echo(json.dumps(e.to_dict()))
