"""Single-file ONNX export: Whisper log-mel frames -> class probabilities, encoder included.

Graph: ``mel (1, 80, T)`` (T <= 3000 frames = 30 s, dynamic) -> the Whisper tiny.en encoder
rebuilt in torch from the bundled weights -> the hidden states the head uses, stacked
``(1, L, T/2, 384)`` -> frame pooling -> the head (training-fold standardisation included) ->
``probs (1, C)``. Label names, sample rate, log-mel settings, frontend spec and provenance are
stored in the ONNX metadata, so :mod:`serkit.deploy.runtime` needs nothing but the file.

Truncation: the encoder is cut after the last block whose state the head reads. With
``min_layer_weight`` > 0, layers whose *learned* softmax weight is below it are dropped first
(the remaining weights renormalise), which can remove the upper blocks; the caller reports the
speed gained and the agreement kept.

``int8``: dynamic quantisation (onnxruntime ``quantize_dynamic``: int8 weights of MatMul/Gemm,
activations quantised per batch at run time; for the Whisper graphs also the conv front, for
the compact student only MatMul/Gemm: its pointwise projections).
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from serkit.core.errors import SerkitError
from serkit.deploy.onnx_meta import OnnxMeta, write_metadata
from serkit.estimators.torch_head import TorchHeadModel
from serkit.features.whisper_torch import WhisperEncoder
from serkit.nn.layers import HeadPipeline, pool_frames_torch

WHISPER_FRONTENDS = ("whisper-tiny", "whisper-tiny-layers", "whisper-base", "whisper-base-layers")
MEL_FRONTENDS = (*WHISPER_FRONTENDS, "compact", "logmel")


class _MelFrames(nn.Module):
    """``mel (1, 80, T)`` -> ``[(1, T, 80)]``: raw log-mel frames as the one "state"
    (``ft-compact``)."""

    def forward(self, mel: torch.Tensor) -> list[torch.Tensor]:
        return [mel.transpose(1, 2)]


class FullPipeline(nn.Module):
    """``forward(mel (1, 80, T))`` -> ``probs (1, C)``."""

    def __init__(self, encoder: nn.Module, states: list[int], pool: int, net: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.states = list(states)
        self.pool = int(pool)
        self.net = net

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        hs = self.encoder(mel)
        x = torch.stack([hs[i] for i in self.states], dim=1)  # (1, L, T', D)
        x = pool_frames_torch(x, self.pool)
        mask = torch.ones_like(x[:, 0, :, 0], dtype=torch.bool)
        return torch.softmax(self.net(x, mask), dim=-1)


def _logreg_pipeline(model, frontend_spec: dict) -> tuple[FullPipeline, dict]:
    """A Whisper frontend's encoder cut after the state(s) ``logreg`` reads, + its head."""
    from serkit.features.whisper import VARIANTS, model_dir
    from serkit.features.whisper_weights import read_encoder_weights

    name = frontend_spec["name"]
    variant = "base" if name.startswith("whisper-base") else "tiny.en"
    total = VARIANTS[variant]["blocks"]
    if name in ("whisper-tiny", "whisper-base"):
        raise SerkitError(
            "full ONNX export of logreg needs a *-layers frontend (the final state carries "
            "CTranslate2's final LayerNorm)"
        )
    states = list(frontend_spec["config"].get("layers") or range(total + 1))
    states = [states[i] for i in model.states_read()]
    enc = WhisperEncoder(
        read_encoder_weights(str(model_dir(variant) / "model.bin")), n_layers=max(states)
    )
    pipe = FullPipeline(enc, states, 1, model.torch_head()).eval()
    return pipe, {
        "states": states,
        "encoder_blocks": max(states),
        "encoder_blocks_total": total,
        "dropped_layer_weights": [],
    }


def _drop_light_layers(
    net: HeadPipeline, states: list[int], min_w: float
) -> tuple[nn.Module, list[int], list[float]]:
    """Remove layers whose learned weight < ``min_w`` (never all); returns a new net. A head
    with a fixed choice (an index, or ``auto``) keeps exactly the states it uses, whatever
    ``min_w``."""
    fz = net.featurizer
    w = fz.weights().numpy()
    if fz.logits is None:
        keep = fz.used()
    elif min_w > 0:
        keep = [i for i, v in enumerate(w) if v >= min_w] or [int(np.argmax(w))]
    else:
        keep = list(range(len(w)))
    if len(keep) == len(w):
        return net, states, []
    dropped = [float(w[i]) for i in range(len(w)) if i not in keep] if fz.logits is not None else []
    net = copy.deepcopy(net)
    net.featurizer.restrict(keep)
    net.norm.restrict(keep)
    return net, [states[i] for i in keep], dropped


def build_pipeline(
    model, frontend_spec: dict, min_layer_weight: float = 0.0
) -> tuple[FullPipeline, dict]:
    """The exportable torch pipeline of a trained head and facts about it."""
    name = frontend_spec["name"]
    if name not in MEL_FRONTENDS:
        raise SerkitError(
            f"full ONNX export needs a log-mel frontend ({', '.join(MEL_FRONTENDS)}); "
            f"this model uses {name!r}"
        )
    if model.name == "logreg" and name in WHISPER_FRONTENDS:
        return _logreg_pipeline(model, frontend_spec)
    if not isinstance(model, TorchHeadModel):
        raise SerkitError(
            "full ONNX export supports torch heads (linear, mlp, attnpool, reslstm-sa, pts-snn, "
            "...) and logreg on a Whisper frontend; "
            f"{model.name!r} is not one"
        )
    from serkit.estimators.pts_snn import PTSSNN

    if isinstance(
        model, PTSSNN
    ):  # the PLIF loop would unroll to the example's length: wrong for any other
        raise SerkitError(
            f"{model.name!r} has no single-file ONNX export (its spiking time loop is exported "
            "only "
            "with a dynamic length by --head-only: encoder states -> probabilities)"
        )
    if name == "compact":
        return _compact_pipeline(model, frontend_spec, min_layer_weight)
    if name == "logmel":  # a model that carries its own (fine-tuned) encoder: ft-compact
        if int(frontend_spec.get("config", {}).get("pool", 2)) != 1 or model.name != "ft-compact":
            raise SerkitError(
                "full ONNX export from the logmel frontend is for ft-compact (frontend.pool=1), "
                f"not {model.name!r}"
            )
        pipe = FullPipeline(_MelFrames(), [0], 1, copy.deepcopy(model.net)).eval()
        blocks = max(model.body.pretrained.config.taps)
        return pipe, {
            "states": ["log-mel"],
            "encoder_blocks": blocks,
            "encoder_blocks_total": blocks,
            "dropped_layer_weights": [],
            "encoder": "compact",
            "quantize_ops": ["MatMul", "Gemm"],
        }
    from serkit.features.whisper import VARIANTS, model_dir
    from serkit.features.whisper_weights import read_encoder_weights

    variant = "base" if name.startswith("whisper-base") else "tiny.en"
    total = VARIANTS[variant]["blocks"]
    if name in ("whisper-tiny", "whisper-base"):
        states = [total]  # final block + final LayerNorm (the CTranslate2 output)
    else:
        states = list(frontend_spec["config"].get("layers") or range(total + 1))
    net, states, dropped = _drop_light_layers(model.net, states, min_layer_weight)
    n_blocks = max(states)
    enc = WhisperEncoder(
        read_encoder_weights(str(model_dir(variant) / "model.bin")), n_layers=n_blocks
    )
    pipe = FullPipeline(enc, states, model.config.pool, copy.deepcopy(net)).eval()
    return pipe, {
        "states": states,
        "encoder_blocks": n_blocks,
        "encoder_blocks_total": total,
        "dropped_layer_weights": dropped,
    }


def _compact_pipeline(
    model, frontend_spec: dict, min_layer_weight: float
) -> tuple[FullPipeline, dict]:
    """The distilled student in place of Whisper: its taps are the states; blocks after the
    last tap used are cut."""
    from serkit.features.base import build_frontend
    from serkit.features.compact_net import CompactNet, CompactNetConfig

    fe = build_frontend(frontend_spec["name"], frontend_spec.get("config", {}))
    taps = [fe.arch.taps[i] for i in fe.layer_indices]
    net, kept, dropped = _drop_light_layers(model.net, list(range(len(taps))), min_layer_weight)
    used = [taps[i] for i in kept]
    cfg = CompactNetConfig(**{**fe.arch.to_dict(), "taps": used})
    student = CompactNet(cfg)
    student.load_state_dict(
        fe.net.state_dict(), strict=False
    )  # blocks past the last tap are not built
    pipe = FullPipeline(
        student.eval(), list(range(len(used))), model.config.pool, copy.deepcopy(net)
    ).eval()
    return pipe, {
        "states": used,
        "encoder_blocks": max(used),
        "encoder_blocks_total": fe.arch.blocks,
        "dropped_layer_weights": dropped,
        "encoder": "compact",
        "quantize_ops": ["MatMul", "Gemm"],
    }


def export_full_onnx(
    model,
    frontend_spec: dict,
    labels: list[str],
    out: str | Path,
    int8: bool = False,
    min_layer_weight: float = 0.0,
    provenance: dict | None = None,
    calibration: dict | None = None,
) -> dict:
    """Write the single-file ONNX model; returns facts (path, size, states, blocks)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pipe, facts = build_pipeline(model, frontend_spec, min_layer_weight)
    mel = torch.randn(1, 80, 300)
    fp32 = out if not int8 else out.with_suffix(".fp32.tmp.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            pipe,
            (mel,),
            str(fp32),
            input_names=["mel"],
            output_names=["probs"],
            dynamic_axes={"mel": {2: "T"}},
            opset_version=17,
            dynamo=False,
        )
    if int8:
        # the compact student: MatMul only (its convolutions are depthwise or tiny, and
        # onnxruntime's dynamic ConvInteger is slower than the float convolution)
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # the head's own matrix stays float: tiny, and a pooled-statistics head (logreg) reads
        # inputs of very different scales that per-tensor activation quantisation would blur
        head = (
            [
                n.name
                for n in onnx.load(str(fp32), load_external_data=False).graph.node
                if n.name.startswith("/net/") and n.op_type in ("MatMul", "Gemm")
            ]
            if model.name == "logreg"
            else None
        )
        quantize_dynamic(
            str(fp32),
            str(out),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=facts.get("quantize_ops"),
            nodes_to_exclude=head,
        )
        fp32.unlink()
    write_metadata(
        out,
        OnnxMeta(
            kind="full",
            labels=list(labels),
            model=model.name,
            frontend=frontend_spec,
            input="mel (1, 80, T): Whisper log-mel (n_fft 400, hop 160, 80 Slaney bins, log10 "
            "clamp 8, (x+4)/4), T <= 3000",
            encoder_blocks=facts["encoder_blocks"],
            states=facts["states"],
            pool=int(getattr(model.config, "pool", 1)),
            quantization="int8-dynamic" if int8 else "fp32",
            provenance=provenance or {},
            calibration=calibration or {},
        ),
    )
    return {"path": str(out), "bytes": out.stat().st_size, **facts, "int8": int8}


@torch.no_grad()
def torch_probs(pipe: FullPipeline, mels: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([pipe(torch.from_numpy(m[None])).numpy() for m in mels])
