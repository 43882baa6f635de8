"""``--device cpu|cuda|auto`` (issue 29 item 10): a clear error without CUDA, the same answers
on the CPU as before, and (on a machine with CUDA only) the same answers on the GPU."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from serkit.audio.synth import tone_clip
from serkit.cli import app
from serkit.core.device import get_device, resolve, set_device, using
from serkit.core.errors import ConfigError

SR = 16000
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")


def test_device_resolution_and_clear_errors():
    assert resolve("cpu") == "cpu" and get_device() == "cpu"
    with pytest.raises(ConfigError, match="device must be one of"):
        resolve("gpu")
    if not torch.cuda.is_available():
        assert resolve("auto") == "cpu"
        with pytest.raises(ConfigError, match="no CUDA device"):
            set_device("cuda")
        assert get_device() == "cpu"


def test_cli_device_flags(tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(wav, tone_clip(2.0), SR)
    plain = CliRunner().invoke(app, ["predict", str(wav), "--json", "--engine", "torch"])
    on_cpu = CliRunner().invoke(
        app, ["predict", str(wav), "--json", "--engine", "torch", "--device", "cpu"]
    )
    assert (
        plain.exit_code == on_cpu.exit_code == 0
        and plain.output.split('"seconds"')[0] == on_cpu.output.split('"seconds"')[0]
    )
    for cmd in (
        ["predict", str(wav)],
        ["train", "--manifest", "x.jsonl", "--out", str(tmp_path / "m.pt")],
        ["bench", "--manifest", "x.jsonl", "--out", str(tmp_path / "b")],
    ):
        r = CliRunner().invoke(app, [*cmd, "--device", "cuda"])
        if torch.cuda.is_available():
            continue
        assert r.exit_code != 0 and "no CUDA device" in r.output and "Traceback" not in r.output


@cuda
def test_predict_and_training_on_cuda_equal_the_cpu(tmp_path):
    import serkit
    from serkit.experiment.config import RunConfig, load_experiment
    from serkit.experiment.train import train_model
    from serkit.testing import toy_manifest

    rec = serkit.load("default")
    x = tone_clip(3.0, seed=2)
    cpu = rec.predict(x, sr=SR).probabilities
    with using("cuda"):
        gpu = rec.predict(x, sr=SR).probabilities
    assert max(abs(cpu[k] - gpu[k]) for k in cpu) < 1e-3
    m = toy_manifest(tmp_path, speakers=3)
    cfg = load_experiment(None, ["frontend=logmel"], manifest=str(m), model="attnpool")
    run = RunConfig(progress=False, cache_dir=str(tmp_path / "cache"))
    with using("cuda"):
        info = train_model(cfg, tmp_path / "g.pt", run=run, log=lambda *a: None)
    assert info.labels and np.isfinite(info.cost.params_trainable)
    assert next(serkit.load(tmp_path / "g.pt").model.net.parameters()).device.type == "cpu"
