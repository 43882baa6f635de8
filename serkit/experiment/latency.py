"""CPU latency of one configured model on a 3 s clip (recorded in every bench result)."""

from __future__ import annotations

import time

import numpy as np

from serkit.estimators import build_model
from serkit.experiment.config import ExperimentConfig
from serkit.experiment.dataset import Dataset
from serkit.nn.multimodal import Bimodal


def measure_latency(cfg: ExperimentConfig, data: Dataset, n: int = 10) -> tuple[float, float, str]:
    """CPU latency for one 3 s clip (one torch thread): frontend + head, and head alone (median
    ms). The model is fitted on a few noisy copies of the clip's features: an untrained model
    of the same shape costs the same time."""
    import torch

    from serkit.audio.synth import tone_clip
    from serkit.estimators import Split

    torch.set_num_threads(1)
    sr = data.frontend.sample_rate or 16000
    wav = tone_clip(3.0, sr=sr)
    feats = data.frontend.extract(wav, sr)
    model = build_model(cfg.model, len(data.labels), feats.shape[0], feats.shape[2])
    rng = np.random.default_rng(0)
    toy = [
        feats + rng.normal(0, 0.1, feats.shape).astype(np.float32)
        for _ in range(2 * len(data.labels))
    ]
    text = next((u.text for u in data.utts if u.text), None) if data.text is not None else None

    def item(f, t=None):  # a multimodal model reads the clip's transcript too
        if data.text is None:
            return f
        return Bimodal(
            f,
            t if t is not None else data.text_encoder.encode(text).states,
            True,
            data.text_encoder.dim,
        )

    states = data.text_encoder.encode(text).states if data.text is not None else None
    toy = [item(f, states) for f in toy]
    toy_y = np.arange(len(toy)) % len(data.labels)
    model.fit(
        Split(
            toy, toy_y, [f"s{i % 2}" for i in range(len(toy))], [str(i) for i in range(len(toy))]
        ),
        None,
        0,
    )
    t_full, t_head = [], []
    for _ in range(n):
        a = time.perf_counter()
        f = item(
            data.frontend.extract(wav, sr)
        )  # (the text encoder runs here for a multimodal model)
        b = time.perf_counter()
        model.predict_proba([item(f.audio, states) if data.text is not None else f])
        c = time.perf_counter()
        t_full.append(c - a)
        t_head.append(c - b)
    return (
        round(1000 * float(np.median(t_full)), 2),
        round(1000 * float(np.median(t_head)), 3),
        "median of 10 runs, 3 s clip, 1 CPU thread, frontend + head (file read excluded)",
    )
