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
def tune(
    manifest: str | None = typer.Option(None, help="JSONL manifest"),
    model: str | None = typer.Option(None, help="model to tune (reslstm-sa, lstm-sa, attnpool, ...)"),
    frontend: str | None = typer.Option(None, help="frontend (see bench)"),
    protocol: str | None = typer.Option(None, help="outer protocol; only its training folds are used"),
    trials: int = typer.Option(20, help="optuna trials"),
    outer_folds: int = typer.Option(0, help="outer folds per trial (0 = all, else evenly spaced)"),
    seed: int = typer.Option(0, help="sampler and training seed"),
    jobs: int | None = typer.Option(None, help="parallel workers (one outer fold each)"),
    space: Path | None = typer.Option(None, help="YAML search space {dotted.key: {type, low, high | choices}}"),
    out: Path = typer.Option(..., "--out", help="tuning folder: study.db (resumable), tune.json, best.yaml"),
    config: Path | None = typer.Option(None, help="YAML with BenchConfig fields"),
    set_: list[str] = typer.Option([], "--set", help="fixed overrides, as in bench"),
    quiet: bool = typer.Option(False, help="no progress output"),
):
    """Hyper-parameter search on validation speakers inside the training folds only.

    Then run the one clean evaluation: serkit bench --config OUT/best.yaml --seeds 10 --out RUN
    """
    from serkit.config import load_yaml
    from serkit.training.tune import TuneConfig, run_tune

    cfg = _bench_config(config, set_, manifest=manifest, model=model, frontend=frontend, protocol=protocol,
                        jobs=jobs)
    sp = load_yaml(space) if space else None
    r = run_tune(cfg, TuneConfig(trials=trials, outer_folds=outer_folds, seed=seed), out, sp,
                 progress=not quiet, log=typer.echo)
    typer.echo(f"best validation UA {r['best_value']:.4f} (trial {r['best_trial']} of {r['n_trials']}) "
               f"with {r['best_params']}")
    typer.echo(f"chosen setting -> {out}/best.yaml; evaluate once with: serkit bench --config {out}/best.yaml "
               f"--seeds 10 --out RUN")


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


AUDIO_EXTS = {".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif", ".au", ".w64", ".caf"}


def _print_prediction(p, rec, as_json: bool):
    if as_json:
        typer.echo(json.dumps(p.to_dict()))
        return
    probs = "  ".join(f"{k} {v:.2f}" for k, v in sorted(p.probabilities.items(), key=lambda kv: -kv[1]))
    typer.echo(f"{p.source}: {p.label}  ({probs})  [{p.duration:.2f} s audio, {p.seconds * 1000:.0f} ms]")


def _expand(paths: list[Path]) -> list[Path]:
    """Files as given; folders expanded (recursively, sorted) to their audio files."""
    out = []
    for p in paths:
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in AUDIO_EXTS)
        else:
            out.append(p)
    return out


@app.command()
@friendly
def predict(
    files: list[Path] = typer.Argument(..., help="audio files and/or folders (searched recursively)"),
    model: str = typer.Option("default", help="bundled name or a .pt from serkit train"),
    onnx: Path | None = typer.Option(None, "--onnx", help="run this ONNX file (numpy + onnxruntime only) instead"),
    json_: bool = typer.Option(False, "--json", help="one JSON object per line"),
    csv_: bool = typer.Option(False, "--csv", help="CSV with a header: source,label,p_<class>...,duration,seconds"),
    timeline: bool = typer.Option(False, "--timeline", help="emotion over time (windows) instead of one label"),
    window: float = typer.Option(2.0, help="timeline window in seconds"),
    hop: float = typer.Option(1.0, help="timeline hop in seconds"),
    vad: str = typer.Option("energy", help="timeline windows over speech only (energy) or everywhere (none)"),
    threads: int = typer.Option(0, help="CPU threads (0 = library default)"),
):
    """Recognise the emotion of each file. Bad files: one error line each (stderr), exit code 1."""
    import csv as _csv
    import sys

    from tqdm.auto import tqdm

    from serkit.errors import AudioError

    if json_ and csv_:
        raise SerkitError("choose one of --json and --csv")
    paths = _expand(files)
    if not paths:
        raise SerkitError("no audio files found in the given paths")
    if onnx is not None:
        if timeline:
            raise SerkitError("--timeline runs on the PyTorch model; drop --onnx")
        from serkit.export.runtime import OnnxRecognizer

        rec = OnnxRecognizer(onnx, threads=threads or 1)
    else:
        if threads:
            import torch

            torch.set_num_threads(threads)
        from serkit.api import load

        rec = load(model)
    writer = None
    if csv_:
        writer = _csv.writer(sys.stdout)
        head = ["source", "start", "end"] if timeline else ["source"]
        writer.writerow(head + ["label"] + [f"p_{lab}" for lab in rec.labels] + ([] if timeline else ["duration", "seconds"]))
    failed = 0
    bar = tqdm(paths, disable=len(paths) < 10, unit="file", file=sys.stderr)
    for f in bar:
        try:
            if onnx is not None:
                from serkit.api import Prediction

                t0 = time.perf_counter()
                wav = rec.read(f)
                label, probs = rec.label_probs(rec.predict_array(wav))
                preds = [Prediction(label, probs, time.perf_counter() - t0, wav.size / rec.sample_rate, str(f))]
            elif timeline:
                rows = rec.timeline(f, window=window, hop=hop, vad=vad)
                for r in rows:
                    if writer:
                        writer.writerow([str(f), f"{r.start:.3f}", f"{r.end:.3f}", r.label]
                                        + [f"{r.probabilities[lab]:.6f}" for lab in rec.labels])
                    elif json_:
                        typer.echo(json.dumps({"source": str(f), **r.to_dict()}))
                    else:
                        typer.echo(f"{f} {r.start:7.2f}-{r.end:7.2f} s: {r.label} ({r.probabilities[r.label]:.2f})")
                if not rows and not (writer or json_):
                    typer.echo(f"{f}: no speech found")
                continue
            else:
                preds = [rec.predict(f)]
            for p in preds:
                if writer:
                    writer.writerow([p.source, p.label] + [f"{p.probabilities[lab]:.6f}" for lab in rec.labels]
                                    + [f"{p.duration:.3f}", f"{p.seconds:.4f}"])
                else:
                    _print_prediction(p, rec, json_)
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
    model: str = typer.Argument("default", help="bundled name (default) or a .pt written by serkit train"),
    onnx: Path = typer.Option(..., "--onnx", help="ONNX file to write"),
    int8: bool = typer.Option(False, "--int8", help="dynamic int8 quantisation of the weights"),
    head_only: bool = typer.Option(False, "--head-only", help="spiking heads only: encoder features -> probs, dynamic T (ONNX Loop)"),
    min_layer_weight: float = typer.Option(0.0, help="drop encoder layers whose learned weight is below this (truncates the encoder)"),
    check: str | None = typer.Option(None, help="manifest whose clips check ONNX against PyTorch"),
    check_clips: int = typer.Option(0, help="clips of --check to use (0 = all)"),
):
    """Export to ONE ONNX file: log-mel frames -> class probabilities, Whisper encoder included
    (truncated after the last layer the head uses), labels and settings in the metadata."""
    from serkit.api import load

    rec = load(model)
    m, frontend, labels = rec.model, rec.frontend, rec.labels
    if head_only:
        from serkit.export.onnx_snn import check_snn_onnx, export_snn_onnx

        path = export_snn_onnx(m, frontend.spec(), labels, onnx)
        typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
        if check:
            from serkit.corpora import read_manifest
            from serkit.features import FeatureCache, extract_features

            utts = read_manifest(check)[: check_clips or 20]
            feats = list(extract_features(frontend, utts, FeatureCache(), progress=False).features.values())
            r = check_snn_onnx(m, path, feats)
            typer.echo(f"onnxruntime vs PyTorch on {r['clips']} clips: spike agreement {r['spike_agreement']:.5f}, "
                       f"logits max abs diff {r['logits_max_abs_diff']:.2e}")
        return
    from serkit.export.onnx_full import export_full_onnx

    info = export_full_onnx(m, frontend.spec(), labels, onnx, int8=int8, min_layer_weight=min_layer_weight,
                            provenance=rec.provenance)
    typer.echo(f"wrote {info['path']} ({info['bytes'] / 1e6:.2f} MB, {'int8' if int8 else 'fp32'}): encoder states "
               f"{info['states']}, {info['encoder_blocks']} of 4 Whisper blocks"
               + (f"; dropped layers with weights {info['dropped_layer_weights']}" if info["dropped_layer_weights"] else ""))
    if check:
        from serkit.corpora import read_manifest
        from serkit.export.check import check_full_onnx

        utts = read_manifest(check)
        utts = utts[:check_clips] if check_clips else utts
        r = check_full_onnx(rec, onnx, [u.audio for u in utts], min_layer_weight=min_layer_weight)
        typer.echo(json.dumps(r))


@app.command()
@friendly
def serve(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    model: list[str] = typer.Option(["default"], "--model", help="NAME=PATH or a bundled name; repeat for several (first = default)"),
    max_upload_mb: float = typer.Option(25.0, help="larger uploads get HTTP 413"),
    max_audio_s: float = typer.Option(60.0, help="longer audio gets 413 on /v1/predict (use /v1/timeline)"),
    workers: int = typer.Option(1, help="concurrent inferences (threads)"),
    threads: int = typer.Option(1, help="torch threads per inference"),
):
    """HTTP service: POST /v1/predict, POST /v1/timeline, GET /v1/models, GET /healthz, docs at /docs."""
    import uvicorn

    from serkit.serve.app import ServeConfig, create_app

    models = {}
    for m in model:
        name, _, path = m.partition("=")
        models[name if path else Path(name).stem] = path or name
    app_ = create_app(ServeConfig(models=models, max_upload_mb=max_upload_mb, max_audio_s=max_audio_s,
                                  workers=workers, threads=threads))
    uvicorn.run(app_, host=host, port=port, log_level="warning")


@app.command("bench-latency")
@friendly
def bench_latency_cmd(
    model: str = typer.Option("default", help="bundled name or a .pt from serkit train"),
    out: Path = typer.Option(Path("runs/latency"), "--out", help="folder for latency.json"),
    runs: int = typer.Option(50, help="timed calls per single-clip measurement"),
    folder_clips: int = typer.Option(1000, help="clips in the throughput folder (0 = skip)"),
    http_requests: int = typer.Option(2000, help="HTTP load-test requests (0 = skip)"),
    http_clients: int = typer.Option(50, help="concurrent HTTP clients"),
    http_workers: int = typer.Option(2, help="serve --workers during the load test"),
    min_layer_weight: float = typer.Option(0.0, help="as in export: drop light encoder layers first"),
):
    """Latency (1 thread: PyTorch, ONNX fp32, ONNX int8), sizes, folder throughput, HTTP load test."""
    from serkit.evaluation.latency import bench_latency

    r = bench_latency(model, out, runs, folder_clips, http_requests, http_clients, http_workers, min_layer_weight,
                      log=typer.echo)
    typer.echo(f"-> {out}/latency.json")
    typer.echo(f"3 s clip, 1 thread, median: PyTorch {r['pytorch']['median_ms']} ms, ONNX fp32 "
               f"{r['onnx_fp32']['median_ms']} ms, ONNX int8 {r['onnx_int8']['median_ms']} ms")


@app.command()
@friendly
def table(dirs: list[Path] = typer.Argument(..., help="bench result folders"),
          snn: bool = typer.Option(False, "--snn", help="spiking view: SOPs and firing-rate health"),
          per_class: bool = typer.Option(False, "--per-class", help="per-class recall, and each run's change "
                                         "against the first folder")):
    """Markdown table (accuracy and cost side by side) from bench result folders."""
    from serkit.evaluation.report import per_class_table, results_table, snn_table

    typer.echo(per_class_table(dirs) if per_class else snn_table(dirs) if snn else results_table(dirs))


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
