"""ONNX export of the spiking heads (``pts-snn``, ``snn-vanilla``, ``ann-twin``) with dynamic T.

The PLIF time loop is a scripted function, so the legacy TorchScript exporter writes it as an
ONNX ``Loop`` whose trip count is the input's time dimension: one file serves any length.

Graph: ``feats (1, L, T, D)`` -- encoder states already average-pooled by the model's ``pool``
(:func:`serkit.estimators.torch_head.pool_frames`) -- to ``probs (1, C)``, ``logits (1, C)`` and
``spikes (T, 1, 2H)`` (both spiking layers, for checking). Labels, frontend and pooling are
stored in the ONNX metadata.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from serkit.core.errors import SerkitError
from serkit.deploy.onnx_meta import OnnxMeta, write_metadata
from serkit.estimators.pts_snn import PTSSNN
from serkit.nn.layers import pool_frames


class _SNNExport(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, feats: torch.Tensor):
        mask = torch.ones(feats.shape[0], feats.shape[2], dtype=torch.bool)
        logits, s1, s2 = self.net.head.run(self.net.featurizer(self.net.norm(feats)), mask)
        return torch.softmax(logits, -1), logits, torch.cat([s1, s2], -1)


def export_snn_onnx(
    model, frontend_spec: dict, labels: list[str], out: str | Path, example_frames: int = 40
) -> Path:
    """Write ``out`` (.onnx) for a fitted PTS-SNN-family model; returns the path."""
    if not isinstance(model, PTSSNN):
        raise SerkitError(
            "--head-only export covers the spiking heads (pts-snn, snn-vanilla, ann-twin); drop "
            f"--head-only for the full export of {model.name!r}"
        )
    wrapper = _SNNExport(model.net).eval()
    x = torch.randn(1, model.n_layers, example_frames, model.dim)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (x,),
            str(out),
            input_names=["feats"],
            output_names=["probs", "logits", "spikes"],
            dynamic_axes={"feats": {2: "T"}, "spikes": {0: "T"}},
            opset_version=17,
            dynamo=False,
        )
    write_metadata(
        out,
        OnnxMeta(
            kind="head",
            labels=list(labels),
            model=model.name,
            frontend=frontend_spec,
            input="feats (1, L, T, D): encoder states average-pooled by 'pool'",
            pool=int(model.config.pool),
        ),
    )
    return out


def check_snn_onnx(model, path: str | Path, feats: list[np.ndarray]) -> dict:
    """Compare onnxruntime with PyTorch on real inputs: spike agreement and max |logit diff|."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wrapper = _SNNExport(model.net).eval()
    agree, total, max_diff = 0, 0, 0.0
    for f in feats:
        x = pool_frames(f, model.config.pool).astype(np.float32)[None]
        probs, logits, spikes = sess.run(None, {"feats": x})
        with torch.no_grad():
            _, tl, ts = wrapper(torch.from_numpy(x))
        agree += int(
            np.isclose(spikes, ts.numpy(), rtol=0, atol=1e-4).sum()
        )  # binary spikes: equality
        total += spikes.size
        max_diff = max(max_diff, float(np.abs(logits - tl.numpy()).max()))
    return {
        "spike_agreement": agree / max(total, 1),
        "logits_max_abs_diff": max_diff,
        "clips": len(feats),
    }
