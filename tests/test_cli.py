"""The command line: one clear line and a non-zero exit for bad input, never a traceback."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from serkit.audio.synth import tone_clip
from serkit.cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory):
    """A logreg model on logmel trained with `serkit train` on the toy corpus."""
    from serkit.testing import toy_corpus

    tmp = tmp_path_factory.mktemp("cli")
    root = toy_corpus(tmp / "toy", speakers=3)
    m = tmp / "toy.jsonl"
    r = _run("prepare", "folder", root, "--out", m, "--speaker-regex", r"^(spk\d+)_")
    assert r.exit_code == 0 and "18 utterances, 3 speakers" in r.output
    model = tmp / "toy.pt"
    r = _run(
        "train",
        "--manifest",
        m,
        "--model",
        "logreg",
        "--frontend",
        "logmel",
        "--out",
        model,
        "--cache-dir",
        tmp / "cache",
    )
    assert r.exit_code == 0, r.output
    assert model.exists()
    return model, root


def test_predict_json_and_text(toy_model):
    model, root = toy_model
    f = root / "high" / "spk0_high_0.wav"
    r = _run("predict", f, "--model", model, "--json", "--no-speech-check")
    assert r.exit_code == 0
    out = json.loads(r.output.strip().splitlines()[-1])
    assert out["label"] == "high" and set(out["probabilities"]) == {"high", "low"}
    assert abs(sum(out["probabilities"].values()) - 1) < 1e-6
    r = _run("predict", f, "--model", model)
    assert r.exit_code == 0 and "high" in r.output


BAD = {
    "empty.wav": b"",
    "text.wav": b"hello, I am not audio" * 20,
}


@pytest.mark.parametrize(
    "name", ["empty.wav", "text.wav", "missing.wav", "short.wav", "nan.wav", "trunc.wav"]
)
def test_predict_bad_input_one_line_error(toy_model, tmp_path, name):
    model, root = toy_model
    p = tmp_path / name
    if name in BAD:
        p.write_bytes(BAD[name])
    elif name == "short.wav":
        sf.write(p, tone_clip(0.01), 16000)
    elif name == "nan.wav":
        x = tone_clip(0.5)
        x[10] = np.nan
        sf.write(p, x, 16000, subtype="FLOAT")
    elif name == "trunc.wav":
        good = root / "high" / "spk0_high_0.wav"
        p.write_bytes(good.read_bytes()[:40])
    r = _run(
        "predict", p, "--model", model
    )  # catch_exceptions=False: a traceback would fail the test
    assert r.exit_code != 0
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and name in err[0]


def test_predict_mixed_good_and_bad_files(toy_model, tmp_path):
    model, root = toy_model
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"x")
    good = root / "low" / "spk1_low_1.wav"
    r = _run("predict", bad, good, "--model", model)
    assert r.exit_code == 1 and "low" in r.stdout and "bad.wav" in r.stderr


@pytest.mark.parametrize(
    "sr,channels,subtype", [(8000, 1, "PCM_U8"), (96000, 2, "PCM_24"), (44100, 1, "FLOAT")]
)
def test_predict_odd_formats_work(toy_model, tmp_path, sr, channels, subtype):
    model, _ = toy_model
    x = tone_clip(0.8, sr=sr, f0=260, loudness=0.5)
    if channels == 2:
        x = np.stack([x, x], 1)
    p = tmp_path / "odd.wav"
    sf.write(p, x, sr, subtype=subtype)
    r = _run("predict", p, "--model", model, "--json", "--no-speech-check")
    assert r.exit_code == 0 and json.loads(r.output.strip().splitlines()[-1])["label"] == "high"


def test_model_file_errors(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    r = subprocess.run(
        [sys.executable, "-m", "serkit.cli", "predict", str(junk), "--model", str(junk)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "not" in r.stderr


def test_bench_cli_bad_protocol(toy_model, tmp_path):
    model, root = toy_model
    m = tmp_path / "m.jsonl"
    _run("prepare", "folder", root, "--out", m, "--speaker-regex", r"^(spk\d+)_")
    r = _run(
        "bench",
        "--manifest",
        m,
        "--model",
        "logreg",
        "--frontend",
        "logmel",
        "--protocol",
        "random-split",
        "--out",
        tmp_path / "o",
    )
    assert r.exit_code == 2 and "unknown protocol" in r.stderr
    r = _run(
        "bench",
        "--manifest",
        m,
        "--model",
        "linear",
        "--set",
        "model.hidden=999",
        "--out",
        tmp_path / "o",
    )
    assert r.exit_code == 2 and "unknown config key" in r.stderr and "hidden" in r.stderr


def test_cli_stays_thin_and_lists_the_registries():
    from pathlib import Path

    import serkit.cli

    assert all(
        len(f.read_text().splitlines()) < 250 for f in Path(serkit.cli.__file__).parent.glob("*.py")
    )
    r = _run("info")
    from serkit.estimators import MODELS

    assert r.exit_code == 0 and all(name in r.output for name in MODELS)


def test_prepare_reports_nothing_found(tmp_path):
    (tmp_path / "empty").mkdir()
    r = _run("prepare", "emodb", tmp_path / "empty", "--out", tmp_path / "m.jsonl")
    assert r.exit_code == 2 and "no usable emodb utterances" in r.stderr


def test_reproduce_dry_run_and_info_list_the_splits(tmp_path):
    r = _run(
        "reproduce",
        "ravdess",
        "--manifest",
        tmp_path / "r.jsonl",
        "--out",
        tmp_path / "rep",
        "--dry-run",
    )
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert any(x.startswith("serkit tune") and "--model reslstm-sa" in x for x in lines)
    assert any("folds:emobox-ravdess6" in x and "--model mll" in x for x in lines)
    assert not (tmp_path / "rep").exists()  # a dry run writes nothing
    r = _run(
        "reproduce",
        "ravdess",
        "--manifest",
        tmp_path / "r.jsonl",
        "--out",
        tmp_path / "rep",
        "--table-only",
    )
    assert (
        r.exit_code == 0
        and "not run yet" in r.output
        and (tmp_path / "rep" / "reproduce.md").exists()
    )
    r = runner.invoke(
        app, ["reproduce", "nonesuch", "--manifest", "x", "--out", str(tmp_path / "x")]
    )
    assert r.exit_code == 2 and "no reproduction" in r.output
    info = _run("info").output
    assert "emobox-ravdess6" in info and "reproductions: ravdess" in info
