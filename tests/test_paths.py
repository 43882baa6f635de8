"""Issue 29, "right answers on every path": whole-file answers over speech windows, every engine
the same at any length, bad input as error rows, the README's Python block as pasted, model cards
that lead with the right number, model files that fail with one clear error, and the adapt and
embed entry points. Synthetic audio only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import serkit
from serkit.audio.synth import tone_clip
from serkit.cli import app
from serkit.core.errors import AudioError, ConfigError, SerkitError
from serkit.deploy.runner import Runner, WholeFile

SR = 16000
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rec():
    return serkit.load("default")


class _PitchRunner(Runner):
    """A back-end whose answer is the pitch band of the signal: 'low' under 200 Hz, else 'high'
    (confidence 0.9), so a long recording's parts have known answers."""

    labels = ["high", "low"]
    sample_rate = target_rate = SR
    speech_check = False

    def probabilities(self, signals):
        out = []
        for x, rate, _ in signals:
            spec = np.abs(np.fft.rfft(x))
            f0 = np.argmax(spec) * rate / x.size
            out.append([0.1, 0.9] if f0 < 200 else [0.9, 0.1])
        return np.array(out)


def _sine(seconds, f, amp=0.3):
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * f * t)).astype(np.float32)


def test_whole_file_windows_layout():
    wf = WholeFile(single_s=10, window_s=4, min_window_s=1)
    assert wf.spans(int(13.5 * SR), SR) == [
        (0, 4 * SR),
        (4 * SR, 8 * SR),
        (8 * SR, 12 * SR),
        (12 * SR, int(13.5 * SR)),
    ]
    assert wf.spans(int(12.5 * SR), SR)[-1] == (
        8 * SR,
        int(12.5 * SR),
    )  # a 0.5 s tail joins the last window
    x = np.arange(int(12.5 * SR), dtype=np.float32)
    blocks = np.array_split(x, 7)  # any block sizes give the same windows
    cut = list(wf.cut(blocks, SR))
    assert [(int(w[0]), int(w[-1]) + 1) for w in cut] == wf.spans(x.size, SR)


def test_long_recording_answer_is_the_majority_of_its_parts(tmp_path):
    """Item 2: seven 'low' parts and three 'high' ones -> 'low', from a file, an array and bytes."""
    parts = [_sine(3.0, 150 if i not in (2, 5, 8) else 400) for i in range(10)]
    x = np.concatenate([np.concatenate([p, np.zeros(SR // 3, np.float32)]) for p in parts])
    r = _PitchRunner()
    f = tmp_path / "long.wav"
    sf.write(f, x, SR, subtype="FLOAT")
    answers = [r.predict(f), r.predict(x, sr=SR), r.predict(f.read_bytes())]
    for a in answers:
        assert (
            a.label == "low" and a.windows == len(WholeFile().spans(x.size, SR)) and a.windows > 1
        )
        assert a.duration == pytest.approx(x.size / SR, abs=1e-3)
    assert answers[0].probabilities == pytest.approx(answers[1].probabilities, abs=1e-6)
    short = r.predict(_sine(3.0, 400), sr=SR)  # a clip: one pass, as today
    assert short.windows == 1 and short.label == "high"


def test_whole_file_weights_windows_by_their_speech():
    """Windows without speech do not count; the answer is their speech-weighted mean."""

    class Speechy(_PitchRunner):
        speech_check = True

        def _speech(self, x, rate):  # a loud window is all speech, a quiet one none
            return x.size / rate if np.abs(x).max() > 0.05 else 0.0

    x = np.concatenate(
        [_sine(8.0, 400, amp=0.01), _sine(4.0, 150), _sine(4.0, 400, amp=0.01)]
    )  # quiet "high"
    p = Speechy().predict(x, sr=SR)
    assert p.label == "low" and p.windows == 1 and p.speech_s == pytest.approx(4.0, abs=0.05)
    silent = Speechy().predict(np.zeros(12 * SR, np.float32) + 1e-4, sr=SR)
    assert silent.state == "no_speech" and silent.windows == 0


def test_default_model_long_file_equals_the_windowed_aggregate(rec, tmp_path):
    x = np.concatenate([tone_clip(3.0, seed=i, f0=110 + 30 * i) for i in range(5)])  # 15 s
    p = rec.predict(x, sr=SR)
    spans = rec.whole_file.spans(x.size, SR)
    wins = rec.classify([(x[a:b], SR, "w") for a, b in spans])
    w = np.array([q.speech_s for q in wins])
    keep = w >= rec.min_speech_s
    want = (
        np.array([[q.probabilities[k] for k in rec.labels] for q in wins])[keep] * w[keep, None]
    ).sum(0) / w[keep].sum()
    assert p.windows == int(keep.sum()) and np.allclose(
        [p.probabilities[k] for k in rec.labels], want, atol=1e-6
    )
    f = tmp_path / "x.wav"
    sf.write(f, x, SR, subtype="FLOAT")
    q = rec.predict(f)
    assert max(abs(q.probabilities[k] - p.probabilities[k]) for k in rec.labels) < 1e-5


@pytest.mark.parametrize("seconds", [5, 31, 90])
def test_every_engine_gives_the_same_answer_at_any_length(rec, tmp_path, seconds):
    """Item 3: PyTorch and the ONNX runner (the CLI's cached export) agree to 1e-3."""
    from serkit.deploy.onnx_full import export_full_onnx
    from serkit.deploy.runtime import OnnxRecognizer

    onnx = tmp_path / "m.onnx"
    export_full_onnx(
        rec.model, rec.frontend.spec(), rec.labels, onnx, calibration=rec.card.get("calibration")
    )
    ort = OnnxRecognizer(onnx)
    reps = int(np.ceil(seconds / 3.0))
    x = np.concatenate([tone_clip(3.0, seed=i % 7, f0=100 + 25 * (i % 7)) for i in range(reps)])[
        : seconds * SR
    ]
    f = tmp_path / "x.wav"
    sf.write(f, x, SR, subtype="FLOAT")
    a, b = rec.predict(f), ort.predict(f)
    assert a.label == b.label and a.windows == b.windows
    assert max(abs(a.probabilities[k] - b.probabilities[k]) for k in rec.labels) < 1e-3


def test_cli_timeline_with_uncertain_windows_prints_every_row(tmp_path):
    """Item 1: an 'uncertain' window used to end the timeline with KeyError 'uncertain'."""
    f = tmp_path / "long.wav"
    sf.write(f, np.concatenate([tone_clip(3.0, seed=i) for i in range(4)]), SR)
    r = CliRunner().invoke(
        app,
        [
            "predict",
            str(f),
            "--timeline",
            "--window",
            "2",
            "--hop",
            "1",
            "--vad",
            "none",
            "--min-confidence",
            "0.999",
            "--engine",
            "torch",
        ],
    )
    assert r.exit_code == 0, r.output
    rows = [line for line in r.output.splitlines() if " s: " in line]
    assert len(rows) == 11 and all("uncertain, top " in line for line in rows)
    r = CliRunner().invoke(
        app, ["predict", str(f), "--timeline", "--csv", "--vad", "none", "--engine", "torch"]
    )
    head = r.output.splitlines()[0].split(",")
    assert (
        head[:7] == ["source", "start", "end", "label", "state", "top", "confidence"]
        and "valence" in head
    )


def _truncated(path: Path):
    sf.write(path, tone_clip(2.0), SR, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_bad_files_are_errors_with_reasons_never_silent_or_hanging(tmp_path):
    """Item 4: truncated data, a huge float amplitude, a 1 Hz header, a dangling link, a FIFO."""
    from serkit.audio.io import load_audio

    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "good.wav", tone_clip(1.0), SR)
    _truncated(folder / "cut.wav")
    sf.write(folder / "loud.wav", tone_clip(1.0) * 1e6, SR, subtype="FLOAT")
    sf.write(folder / "slow.wav", np.zeros(2000, np.float32) + 0.1, 1, subtype="PCM_16")
    os.symlink(folder / "gone.wav", folder / "dangling.wav")
    os.mkfifo(folder / "pipe.wav")
    reasons = {
        "cut.wav": "truncated WAV",
        "loud.wav": "peak amplitude",
        "slow.wav": "below 4000 Hz",
        "dangling.wav": "dangling symbolic link",
        "pipe.wav": "named pipe",
    }
    for name, why in reasons.items():
        with pytest.raises(AudioError, match=why):
            load_audio(folder / name)
    sf.write(
        tmp_path / "hot.wav", tone_clip(1.0) * 1.5, SR, subtype="FLOAT"
    )  # just over 1: clipped, answered
    assert np.abs(load_audio(tmp_path / "hot.wav")).max() <= 1.0
    r = subprocess.run(
        [sys.executable, "-m", "serkit.cli", "predict", str(folder), "--json", "--engine", "torch"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 1
    assert '"good.wav"' not in r.stdout and "good.wav" in r.stdout and r.stdout.count("\n") == 1
    for name, why in reasons.items():
        assert re.search(rf"{name}: .*{why}", r.stderr), (name, r.stderr[-2000:])


def test_predict_batch_answers_the_others_when_one_input_is_bad(rec, tmp_path):
    """Item 5."""
    good = tmp_path / "good.wav"
    sf.write(good, tone_clip(1.0), SR)
    (tmp_path / "empty.wav").write_bytes(b"")
    rows = rec.predict_batch(
        [good, tmp_path / "empty.wav", tone_clip(2.0), tmp_path / "missing.wav"], sr=SR
    )
    assert [r.state for r in rows] == [rows[0].state, "error", rows[2].state, "error"]
    assert rows[0].state != "error" and rows[2].state != "error"
    assert rows[1].source.endswith("empty.wav") and rows[1].error and rows[1].to_dict()["error"]
    assert "not found" in rows[3].error
    assert rows[0].probabilities == pytest.approx(rec.predict(good).probabilities, abs=1e-5)


def _readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_every_readme_python_block_runs_as_pasted(tmp_path, monkeypatch):
    """Item 6: the README's Python runs on synthetic audio in an empty folder."""
    blocks = _readme_python_blocks()
    assert blocks
    monkeypatch.chdir(tmp_path)
    for name in ("speech.wav", "a.wav", "b.wav"):
        sf.write(name, tone_clip(2.5, seed=len(name)), SR)
    (tmp_path / "broken.wav").write_bytes(b"RIFF junk")
    sf.write(
        "meeting.wav", np.concatenate([tone_clip(3.0, seed=i) for i in range(4)]), 44100 // 2 * 2
    )
    (tmp_path / "my_recordings").mkdir()
    from serkit.audio.synth import espeak_available, espeak_clip

    for i in range(8):  # >= 10 s of speech in all (espeak-ng when there, else voiced tones)
        if espeak_available():
            y, rate = espeak_clip(
                f"Recording number {i}. I am reading a few ordinary words to adapt the model."
            )
            sf.write(f"my_recordings/r{i}.wav", y, rate)
        else:
            sf.write(
                f"my_recordings/r{i}.wav",
                np.concatenate([tone_clip(2.5, seed=i * 3 + k) for k in range(3)]),
                SR,
            )
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102 - our own README
    assert (tmp_path / "mine.pt").is_file()


def _readme_serkit_commands() -> list[list[str]]:
    import shlex

    text = (ROOT / "README.md").read_text()
    cmds = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        block = block.replace("\\\n", " ")
        env = {}
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            m = re.match(r"^([A-Z]+)=(\S+)$", line)
            if m:
                env[m.group(1)] = m.group(2)
                continue
            if not line.startswith("serkit "):
                continue
            for k, v in env.items():
                line = line.replace(f"${k}", v)
            cmds.append(shlex.split(line.split(" > ")[0].split(" | ")[0])[1:])
    return cmds


def test_every_readme_serkit_command_parses():
    """Item 6, the shell side: each `serkit ...` line of README names a command and options that
    exist (parsed by the CLI itself, not run: some take corpora and hours)."""
    import typer.main

    cli = typer.main.get_command(app)
    cmds = _readme_serkit_commands()
    assert len(cmds) > 20
    for args in cmds:
        if "..." in args:  # an elided example ("--labels ...")
            continue
        name, rest = args[0], args[1:]
        assert name in cli.commands, f"README names `serkit {name}`, which does not exist"
        cli.commands[name].make_context(name, list(rest), resilient_parsing=False)


def test_model_card_headline_is_the_mean_over_held_out_corpora(rec):
    """Item 7: the headline is the LOCO mean over held-out corpora, not the pooled UA."""
    from fastapi.testclient import TestClient

    from serkit.deploy.serve import ServeConfig, card_headline, create_app

    bm = rec.card["benchmark"]
    h = card_headline(rec.card)
    assert (
        h["metric"] == "UA, mean over held-out corpora"
        and h["mean"] == bm["ua_corpus_mean"]["mean"]
    )
    assert h["mean"] != bm["ua"]["mean"] and set(h["per_corpus"]) == set(bm["ua_per_corpus"])
    m = (
        TestClient(create_app(ServeConfig(), recognizers={"default": rec}))
        .get("/v1/models")
        .json()["models"][0]
    )
    assert (
        m["headline"]["mean"] == bm["ua_corpus_mean"]["mean"]
        and "non-commercial research use" in m["terms"]
    )
    assert set(m["headline"]["per_class_recall"]) == set(
        rec.labels
    )  # the bundled card carries per-class recall
    html = (ROOT / "serkit" / "deploy" / "web" / "index.html").read_text()
    assert "headline" in html and "non-commercial" not in html  # the page shows the card's words


def _damaged_copy(tmp_path, name, change):
    import torch

    from serkit.deploy.bundles import BUNDLES
    from serkit.estimators.io import read_model_file

    blob = read_model_file(BUNDLES["default"].path())
    blob = {
        "format": blob["format"],
        "header": dict(blob["header"]),
        "tensors": dict(blob["tensors"]),
    }
    change(blob)
    if isinstance(blob["header"], dict):
        import json

        blob["header"] = json.dumps(blob["header"])
    out = tmp_path / f"{name}.pt"
    torch.save(blob, out)
    return out


def _first(blob):
    """The first tensor of more than one value (cutting it to one is a real change)."""
    return next(k for k, v in blob["tensors"].items() if v.numel() > 1)


@pytest.mark.parametrize(
    "name,change,why",
    [
        (
            "shape",
            lambda b: b["tensors"].update({_first(b): b["tensors"][_first(b)][:1]}),
            "damaged model file",
        ),
        ("missing", lambda b: b["tensors"].pop(_first(b)), "damaged model file"),
        (
            "extra",
            lambda b: b["tensors"].update({"surprise": __import__("torch").zeros(3)}),
            "damaged model file",
        ),
        ("header", lambda b: b.update({"header": "{not json"}), "header is not JSON"),
        (
            "nan",
            lambda b: b["tensors"].update({_first(b): b["tensors"][_first(b)] * float("nan")}),
            "non-finite",
        ),
        (
            "path",
            lambda b: b["header"].update(
                {"frontend": {"name": "compact", "config": {"path": "/etc/passwd"}}}
            ),
            "not an existing .safetensors",
        ),
    ],
)
def test_damaged_model_files_give_one_clear_error(tmp_path, name, change, why):
    """Item 14: no traceback from the CLI or the loader; NaN weights and arbitrary paths refused."""
    f = _damaged_copy(tmp_path, name, change)
    with pytest.raises(SerkitError, match=why):
        serkit.load(f)
    wav = tmp_path / "a.wav"
    sf.write(wav, tone_clip(1.0), SR)
    r = CliRunner().invoke(app, ["predict", str(wav), "--model", str(f), "--engine", "torch"])
    assert r.exit_code != 0 and why in r.output and "Traceback" not in r.output


def test_load_names_the_bundles_and_info_lists_them():
    """Item 10."""
    with pytest.raises(ConfigError, match="default"):
        serkit.load("no-such-model")
    r = CliRunner().invoke(app, ["info"])
    assert (
        r.exit_code == 0
        and "bundles" in r.output
        and "default:" in r.output
        and "emodb:" in r.output
    )


def test_embed_returns_the_vector_the_head_reads(rec, tmp_path):
    """Item 10: the embedding is what the output layer sees: its logits reproduce the answer."""
    import torch

    x = tone_clip(2.0, seed=4)
    for r in (rec, serkit.load("tiny")):  # logreg (the default) and a torch head
        v = r.embed(x, sr=SR)
        if hasattr(r.model, "net"):
            out = next(m for n, m in r.model.net.named_modules() if n.endswith("out"))
            with torch.no_grad():
                logits = out(torch.from_numpy(v)[None]).numpy()[0]
        else:
            lr = r.model.pipe[-1]
            logits = v @ lr.coef_.T + lr.intercept_
        raw = r.model.predict_proba(r.features([r.signal(x, SR)]))[0]
        assert (
            v.dtype == np.float32
            and v.ndim == 1
            and np.allclose(np.exp(logits) / np.exp(logits).sum(), raw, atol=1e-5)
        )
    v = rec.embed(x, sr=SR)
    wavs = []
    for i in range(2):
        sf.write(tmp_path / f"{i}.wav", tone_clip(1.5, seed=i), SR)
        wavs.append(str(tmp_path / f"{i}.wav"))
    r = CliRunner().invoke(app, ["predict", *wavs, "--embed", str(tmp_path / "e.npy"), "--csv"])
    assert r.exit_code == 0, r.output
    e = np.load(tmp_path / "e.npy")
    assert e.shape == (2, v.size) and (tmp_path / "e.npy.ids.txt").read_text().split() == wavs


def test_a_users_model_file_gets_the_cached_onnx_fast_path(rec, tmp_path, monkeypatch):
    """Item 9: any .pt (here an adapted default) is exported once, keyed by its digest."""
    from serkit.deploy.batch import onnx_cache_path, open_runner
    from serkit.deploy.runtime import OnnxRecognizer

    monkeypatch.setenv("SERKIT_ONNX_CACHE", str(tmp_path / "onnx"))
    mine = serkit.load("default")
    mine.adapt_min_speech_s = 1.0
    mine.adapt([tone_clip(3.0, seed=i) for i in range(3)], sr=SR)
    mine.save(tmp_path / "mine.pt")
    first = open_runner(str(tmp_path / "mine.pt"), engine="auto")
    assert not isinstance(first, OnnxRecognizer) and onnx_cache_path(tmp_path / "mine.pt").is_file()
    second = open_runner(str(tmp_path / "mine.pt"), engine="auto")
    assert isinstance(second, OnnxRecognizer)
    x = tone_clip(2.0, seed=9)
    a, b = first.predict(x, sr=SR), second.predict(x, sr=SR)
    assert max(abs(a.probabilities[k] - b.probabilities[k]) for k in a.probabilities) < 1e-4


def test_new_cards_carry_per_class_recall_and_per_corpus_ece():
    """Item 7: what `serkit train --results RUN` writes into a card from now on."""
    from serkit.deploy.bundles import card_headline
    from serkit.testing import toy_result

    res = toy_result(["anger", "sadness"], {"anger": 0.8, "sadness": 0.4})
    rec = res.benchmark_record()
    assert rec["per_class_recall"] == {"anger": 0.8, "sadness": 0.4}
    h = card_headline({"benchmark": rec})
    assert h["metric"] == "UA" and h["per_class_recall"] == {"anger": 0.8, "sadness": 0.4}


def test_cli_http_and_python_give_one_answer_for_a_long_recording(rec, tmp_path):
    """Item 2/3: the whole-file answer of a 15 s file is the same from Python (path, array),
    `serkit predict --json` (PyTorch and the cached ONNX engine) and `POST /v1/predict`."""
    import json

    from fastapi.testclient import TestClient

    from serkit.deploy.serve import ServeConfig, create_app

    x = np.concatenate([tone_clip(3.0, seed=i, f0=110 + 30 * i) for i in range(5)])
    f = tmp_path / "long.wav"
    sf.write(f, x, SR, subtype="FLOAT")
    want = rec.predict(f)
    assert want.windows > 1
    answers = [rec.predict(x, sr=SR).probabilities]
    for engine in ("torch", "onnx"):
        r = CliRunner().invoke(app, ["predict", str(f), "--json", "--engine", engine])
        assert r.exit_code == 0, r.output
        line = json.loads(next(ln for ln in r.output.splitlines() if ln.startswith("{")))
        assert line["windows"] == want.windows
        answers.append(line["probabilities"])
    client = TestClient(create_app(ServeConfig(), recognizers={"default": rec}))
    body = client.post("/v1/predict", files={"file": ("long.wav", f.read_bytes())}).json()
    assert body["windows"] == want.windows
    answers.append(body["probabilities"])
    for got in answers:
        assert max(abs(got[k] - want.probabilities[k]) for k in rec.labels) < 1e-3
