"""``serkit`` command line (typer). Every failure prints one ``error: ...`` line and exits 2."""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path

import typer

from serkit.errors import SerkitError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Energy-efficient speech emotion recognition: prepare corpora, benchmark, train, predict.")


def _err(msg: str, code: int = 2):
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def friendly(fn):
    @functools.wraps(fn)
    def wrapper(*a, **k):
        try:
            return fn(*a, **k)
        except SerkitError as exc:
            _err(str(exc))
        except KeyboardInterrupt:
            _err("interrupted (finished folds and cached features are kept; re-run to resume)", 130)

    return wrapper


def _bench_config(config: Path | None, overrides: list[str], **explicit):
    from serkit.config import deep_merge, from_dict, load_yaml, parse_overrides
    from serkit.evaluation.bench import BenchConfig

    data = load_yaml(config) if config else {}
    data = deep_merge(data, {k: v for k, v in explicit.items() if v is not None})
    extra = parse_overrides(overrides)
    for key in ("model", "frontend"):  # --set model.hidden=64 -> model_cfg.hidden
        if isinstance(extra.get(key), dict):
            extra[f"{key}_cfg"] = deep_merge(extra.get(f"{key}_cfg", {}), extra.pop(key))
    return from_dict(BenchConfig, deep_merge(data, extra))


@app.command()
@friendly
def prepare(
    corpus: str = typer.Argument(..., help="emodb, ravdess, crema-d, tess, savee, iemocap, msp-improv, urdu, folder, csv"),
    root: Path = typer.Argument(..., help="corpus folder (csv: the CSV file)"),
    out: Path = typer.Option(..., "--out", help="manifest to write (JSONL)"),
    speaker_regex: str | None = typer.Option(None, help="folder recipe: regex whose first group is the speaker"),
):
    """Write a JSONL manifest for a corpus; unreadable files are listed, not fatal."""
    from collections import Counter

    from serkit.corpora import prepare as run_recipe
    from serkit.corpora import write_manifest

    kwargs = {"speaker_regex": speaker_regex} if corpus == "folder" and speaker_regex else {}
    res = run_recipe(corpus, root, **kwargs)
    if not res.utterances:
        _err(f"{root}: no usable {corpus} utterances found ({len(res.skipped)} file(s) skipped)")
    n = write_manifest(res.utterances, out)
    counts = Counter(u.label for u in res.utterances)
    typer.echo(f"wrote {out}: {n} utterances, {len({u.speaker for u in res.utterances})} speakers, "
               f"{sum(u.duration for u in res.utterances) / 60:.1f} min")
    typer.echo("labels: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if res.skipped:
        skipped = Path(str(out) + ".skipped.tsv")
        from serkit.utils import atomic_write_text

        atomic_write_text(skipped, "".join(f"{p}\t{r}\n" for p, r in res.skipped))
        typer.echo(f"skipped {len(res.skipped)} file(s), listed in {skipped}; first: {res.skipped[0][0]}: {res.skipped[0][1]}")


@app.command()
@friendly
def bench(
    manifest: str | None = typer.Option(None, help="JSONL manifest"),
    model: str | None = typer.Option(None, help="logreg, linear, mlp, attnpool, ..."),
    frontend: str | None = typer.Option(None, help="whisper-tiny, whisper-tiny-layers, logmel, egemaps, compare, mfcc-chroma, hf:<path>"),
    protocol: str | None = typer.Option(None, help="loso | loso-session | folds:ravdess5 | kfold-speaker:K"),
    seeds: int | None = typer.Option(None, help="number of seeds (default 5)"),
    jobs: int | None = typer.Option(None, help="parallel fold workers"),
    out: Path = typer.Option(..., "--out", help="result folder (re-running resumes finished folds)"),
    config: Path | None = typer.Option(None, help="YAML with BenchConfig fields"),
    set_: list[str] = typer.Option([], "--set", help="override, e.g. --set model.hidden=64 --set model.train.lr=3e-3"),
    quiet: bool = typer.Option(False, help="no progress bars"),
):
    """Cross-validated experiment: results.json, predictions.csv, config.yaml, report.md, confusion.png."""
    from serkit.evaluation.bench import run_bench

    cfg = _bench_config(config, set_, manifest=manifest, model=model, frontend=frontend, protocol=protocol,
                        seeds=seeds, jobs=jobs)
    r = run_bench(cfg, out, progress=not quiet, log=typer.echo)
    typer.echo(f"{r['model']} / {r['frontend']} on {r['corpus']} ({r['protocol']}, {len(r['seeds'])} seeds): "
               f"UA {r['ua_mean']:.4f} +- {r['ua_std']:.4f}, WA {r['wa_mean']:.4f} +- {r['wa_std']:.4f}, "
               f"F1 {r['f1_mean']:.4f} +- {r['f1_std']:.4f}")
    typer.echo(f"params {r['params_trainable']:,}, head {r['macs_head']:,} MACs = {r['energy_head_mj']:.5f} mJ, "
               f"encoder {r['energy_encoder_mj']} mJ per 3 s clip, latency {r['latency_ms_per_clip']} ms; "
               f"wall {r['wall_s']} s -> {out}/results.json")


@app.command()
@friendly
def extract(
    manifest: str = typer.Option(..., help="JSONL manifest"),
    frontend: str = typer.Option("whisper-tiny"),
    cache_dir: Path | None = typer.Option(None, help="feature cache folder (default $SERKIT_CACHE or ~/.cache/serkit/features)"),
    batch_size: int = typer.Option(16),
    set_: list[str] = typer.Option([], "--set", help="frontend config override, e.g. --set layers=[0,2]"),
):
    """Extract (or verify cached) features for a manifest; reports counts, failures and time."""
    from serkit.config import parse_overrides
    from serkit.corpora import read_manifest
    from serkit.features import FeatureCache, build_frontend, extract_features

    utts = read_manifest(manifest)
    fe = build_frontend(frontend, parse_overrides(set_))
    t0 = time.time()
    r = extract_features(fe, utts, FeatureCache(cache_dir), batch_size=batch_size)
    dt = time.time() - t0
    audio_min = sum(u.duration for u in utts) / 60
    typer.echo(f"{fe.spec()['name']}: {len(r.features)} of {len(utts)} utterances ({audio_min:.1f} min audio) in "
               f"{dt:.1f} s: {r.extracted} extracted, {r.cached} from cache, {len(r.failed)} failed")
    for i, reason in r.failed[:20]:
        typer.echo(f"  skipped {i}: {reason}")


@app.command()
@friendly
def train(
    manifest: str | None = typer.Option(None, help="JSONL manifest"),
    model: str | None = typer.Option(None),
    frontend: str | None = typer.Option(None),
    out: Path = typer.Option(..., "--out", help="model file to write (.pt)"),
    seed: int = typer.Option(0),
    config: Path | None = typer.Option(None, help="YAML with BenchConfig fields"),
    set_: list[str] = typer.Option([], "--set"),
    results: Path | None = typer.Option(None, help="a bench results.json of the same setting, recorded as provenance"),
):
    """Train one model on a whole manifest (validation speakers for early stopping) and save it."""
    from serkit.training.fit import train_model

    cfg = _bench_config(config, set_, manifest=manifest, model=model, frontend=frontend)
    prov = {"command": "serkit " + " ".join(sys.argv[1:]), "created": time.strftime("%Y-%m-%d")}
    if results:
        r = json.loads(Path(results).read_text())
        prov["benchmark"] = {k: r.get(k) for k in ("corpus", "protocol", "folds", "seeds", "ua_mean", "ua_std",
                                                    "wa_mean", "wa_std", "f1_mean", "f1_std")}
    info = train_model(cfg, out, seed=seed, provenance=prov, log=typer.echo)
    typer.echo(f"saved {out}: labels {info['labels']}, {info['cost']['params_trainable']:,} params, "
               f"best validation UA {info['fit'].get('best_val_ua', float('nan')):.3f}")


def _print_prediction(p, rec, as_json: bool):
    if as_json:
        typer.echo(json.dumps(p.to_dict()))
        return
    probs = "  ".join(f"{k} {v:.2f}" for k, v in sorted(p.probabilities.items(), key=lambda kv: -kv[1]))
    typer.echo(f"{p.source}: {p.label}  ({probs})  [{p.duration:.2f} s audio, {p.seconds * 1000:.0f} ms]")


@app.command()
@friendly
def predict(
    files: list[Path] = typer.Argument(..., help="audio files"),
    model: str = typer.Option("default", help="bundled name or a .pt from serkit train"),
    json_: bool = typer.Option(False, "--json", help="one JSON object per line"),
):
    """Recognise the emotion of each file. Bad files: one error line each, exit code 1."""
    from serkit.api import load
    from serkit.errors import AudioError

    rec = load(model)
    failed = 0
    for f in files:
        try:
            _print_prediction(rec.predict(f), rec, json_)
        except AudioError as exc:
            failed += 1
            typer.echo(f"error: {exc}", err=True)
    if failed:
        raise typer.Exit(1)


@app.command()
@friendly
def demo(
    audio: Path | None = typer.Option(None, "--audio", help="use this file instead of synthesised speech"),
    model: str = typer.Option("default"),
):
    """Recognise emotion in a few synthesised utterances (espeak-ng) with the bundled model."""
    import tempfile

    import soundfile as sf

    from serkit.api import load
    from serkit.audio.synth import espeak_available, espeak_clip, tone_clip

    rec = load(model)
    prov = rec.provenance
    bm = prov.get("benchmark", {})
    typer.echo(f"model: {rec.model.name} on {rec.frontend.spec()['name']}, labels {rec.labels}")
    if bm:
        typer.echo(f"trained on {prov.get('corpus')}; {bm.get('protocol')} UA {bm.get('ua_mean')} +- {bm.get('ua_std')} "
                   f"({len(bm.get('seeds') or [])} seeds)")
    clips = []
    with tempfile.TemporaryDirectory() as tmp:
        if audio is not None:
            clips = [audio]
        elif espeak_available():
            lines = [("calm", "The meeting is at ten tomorrow morning.", 140, 40),
                     ("fast-high", "I cannot believe you did that again!", 230, 85),
                     ("slow-low", "I miss the old house. Nothing is the same.", 95, 20)]
            for name, text, speed, pitch in lines:
                x, sr = espeak_clip(text, voice="en", speed=speed, pitch=pitch)
                p = Path(tmp) / f"espeak_{name}.wav"
                sf.write(p, x, sr)
                clips.append(p)
        else:
            typer.echo("espeak-ng not installed: using synthetic tones instead of speech")
            for name, f0, rate in [("low", 110, 3.0), ("high", 260, 6.0)]:
                p = Path(tmp) / f"tone_{name}.wav"
                sf.write(p, tone_clip(2.5, f0=f0, rate_hz=rate), 16000)
                clips.append(p)
        for c in clips:
            pred = rec.predict(c)
            pred.source = Path(c).name
            _print_prediction(pred, rec, False)
            cost = rec.cost(pred.duration)
            typer.echo(f"    cost: {cost['params_trainable']:,} trainable params; head {cost['macs_head']:,} MACs "
                       f"= {cost['energy_head_mj']:.5f} mJ; encoder {cost['energy_encoder_mj']:.3f} mJ (45 nm)")


@app.command()
@friendly
def export(
    model: Path = typer.Argument(..., help="a .pt written by serkit train"),
    onnx: Path = typer.Option(..., "--onnx", help="ONNX file to write"),
    check: str | None = typer.Option(None, help="manifest whose first 20 clips check ONNX against PyTorch"),
):
    """Export a spiking head (pts-snn, snn-vanilla, ann-twin) to ONNX with dynamic time steps."""
    from serkit.export.onnx_snn import check_snn_onnx, export_snn_onnx
    from serkit.models.io import load_model

    m, frontend, labels, _ = load_model(model)
    path = export_snn_onnx(m, frontend.spec(), labels, onnx)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    if check:
        from serkit.corpora import read_manifest
        from serkit.features import FeatureCache, extract_features

        utts = read_manifest(check)[:20]
        feats = list(extract_features(frontend, utts, FeatureCache(), progress=False).features.values())
        r = check_snn_onnx(m, path, feats)
        typer.echo(f"onnxruntime vs PyTorch on {r['clips']} clips: spike agreement {r['spike_agreement']:.5f}, "
                   f"logits max abs diff {r['logits_max_abs_diff']:.2e}")


@app.command()
@friendly
def table(dirs: list[Path] = typer.Argument(..., help="bench result folders"),
          snn: bool = typer.Option(False, "--snn", help="spiking view: SOPs and firing-rate health")):
    """Markdown table (accuracy and cost side by side) from bench result folders."""
    from serkit.evaluation.report import results_table, snn_table

    typer.echo(snn_table(dirs) if snn else results_table(dirs))


@app.command()
def info():
    """List corpus recipes, frontends, models and protocols."""
    from serkit.corpora import RECIPES
    from serkit.features import FRONTENDS
    from serkit.models import MODELS

    typer.echo("corpora:   " + ", ".join(sorted(RECIPES)))
    typer.echo("frontends: " + ", ".join(sorted(FRONTENDS)) + ", hf:<local path>")
    typer.echo("models:    " + ", ".join(sorted(MODELS)))
    typer.echo("protocols: loso, loso-session, folds:ravdess5, kfold-speaker:K")


if __name__ == "__main__":  # pragma: no cover
    app()
