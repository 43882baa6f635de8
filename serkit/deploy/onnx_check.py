"""Check an exported ONNX file against PyTorch on real audio."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from serkit.audio.io import AudioConfig, load_audio
from serkit.audio.mel import log_mel
from serkit.core.errors import AudioError


def check_full_onnx(
    rec, onnx_path: str | Path, audio: list[str], min_layer_weight: float = 0.0, threads: int = 1
) -> dict:
    """Compare ``onnx_path`` with the PyTorch pipeline it was exported from (same layers) and
    with the recogniser itself (all its layers), clip by clip.

    Returns ``clips``, ``max_abs_diff`` (ONNX vs exported PyTorch pipeline, probabilities),
    ``top1_agreement`` (same pair), ``top1_agreement_vs_model`` (ONNX vs the full PyTorch
    recogniser: what truncation and quantisation keep), ``onnx_ms_median`` (encoder + head,
    log-mel excluded), ``skipped``.
    """
    import torch

    from serkit.deploy.onnx_full import build_pipeline, torch_probs
    from serkit.deploy.runtime import OnnxRecognizer

    pipe, _ = build_pipeline(rec.model, rec.frontend.spec(), min_layer_weight)
    ort = OnnxRecognizer(onnx_path, threads=threads)
    cfg = AudioConfig(sample_rate=16000, max_duration_s=30.0)
    p_pipe, p_onnx, p_model, times, skipped = [], [], [], [], 0
    for a in audio:
        try:
            wav = load_audio(a, cfg)
        except AudioError:
            skipped += 1
            continue
        mel = log_mel(wav)
        with torch.no_grad():
            p_pipe.append(torch_probs(pipe, [mel])[0])
        t0 = time.perf_counter()
        p_onnx.append(ort.predict_mel(mel))
        times.append(time.perf_counter() - t0)
        pr = rec.predict(wav, sr=16000)
        p_model.append([pr.probabilities[lab] for lab in rec.labels])
    p_pipe, p_onnx, p_model = np.array(p_pipe), np.array(p_onnx), np.array(p_model)
    if not len(p_onnx):
        raise AudioError(str(onnx_path), "no usable clip to check against")
    return {
        "clips": int(len(p_onnx)),
        "quantization": ort.meta.quantization,
        "max_abs_diff": float(np.abs(p_onnx - p_pipe).max()),
        "top1_agreement": float((p_onnx.argmax(1) == p_pipe.argmax(1)).mean()),
        "top1_agreement_vs_model": float((p_onnx.argmax(1) == p_model.argmax(1)).mean()),
        "onnx_ms_median": round(float(np.median(times)) * 1000, 2),
        "skipped": skipped,
    }
