"""``serkit export``: one ONNX file from a trained model, optionally checked against PyTorch on
a manifest's clips."""

from __future__ import annotations

import json
from pathlib import Path

from serkit.data.manifest import read_manifest


def export_model(
    rec,
    onnx: Path,
    int8: bool = False,
    head_only: bool = False,
    min_layer_weight: float = 0.0,
    check: str | None = None,
    check_clips: int = 0,
) -> dict:
    """Write ``onnx``; returns facts about the file and, with ``check`` (a manifest), the
    agreement with PyTorch on its clips (all, or the first ``check_clips``)."""
    from serkit.core.errors import ConfigError

    if getattr(rec, "reads_text", False):
        raise ConfigError(
            f"{rec.model.name} reads transcripts: ONNX export of multimodal models is not built "
            "yet "
            "(the PyTorch model, `serkit predict --asr` and `serkit serve` (a text form field) "
            "take both modalities)"
        )
    utts = read_manifest(check) if check else []
    if head_only:
        from serkit.deploy.onnx_snn import check_snn_onnx, export_snn_onnx
        from serkit.features import FeatureCache, extract_features

        path = export_snn_onnx(rec.model, rec.frontend.spec(), rec.labels, onnx)
        info = {"path": str(path), "bytes": path.stat().st_size, "kind": "head"}
        if utts:
            feats = extract_features(
                rec.frontend, utts[: check_clips or 20], FeatureCache(), progress=False
            ).features
            info["check"] = check_snn_onnx(rec.model, path, list(feats.values()))
        return info
    from serkit.deploy.onnx_check import check_full_onnx
    from serkit.deploy.onnx_full import export_full_onnx

    info = export_full_onnx(
        rec.model,
        rec.frontend.spec(),
        rec.labels,
        onnx,
        int8=int8,
        min_layer_weight=min_layer_weight,
        provenance=rec.provenance,
        calibration=rec.card.get("calibration"),
    )
    if utts:
        utts = utts[:check_clips] if check_clips else utts
        info["check"] = check_full_onnx(
            rec, onnx, [u.audio for u in utts], min_layer_weight=min_layer_weight
        )
        other = [u.audio for u in utts if u.label is not None and u.label not in rec.labels]
        if other:  # clips of classes the model cannot name: near-ties, reported apart
            own = [u.audio for u in utts if u.label in rec.labels]
            info["check_own_classes"] = (
                check_full_onnx(rec, onnx, own, min_layer_weight=min_layer_weight) if own else None
            )
            info["check_other_classes"] = check_full_onnx(
                rec, onnx, other, min_layer_weight=min_layer_weight
            )
    return {**info, "kind": "full"}


def describe_export(info: dict) -> str:
    """One line about a written file (and the check's JSON on a second line)."""
    line = f"wrote {info['path']} ({info['bytes'] / 1e6:.2f} MB, {info['kind']}"
    if info["kind"] == "full":
        line += (
            f", {'int8' if info['int8'] else 'fp32'}: encoder states {info['states']}, "
            f"{info['encoder_blocks']} "
            f"of {info['encoder_blocks_total']} "
            f"{'compact' if info.get('encoder') == 'compact' else 'Whisper'} blocks"
        )
    line += ")" + (
        f"; dropped layers with weights {info['dropped_layer_weights']}"
        if info.get("dropped_layer_weights")
        else ""
    )
    for key in ("check", "check_own_classes", "check_other_classes"):
        if info.get(key) is not None:
            line += f"\n{key}: " + json.dumps(info[key])
    return line
