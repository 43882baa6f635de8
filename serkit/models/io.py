"""Saving and loading trained models (one ``.pt`` file: weights, configs, labels, frontend, provenance)."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from serkit.config import to_dict
from serkit.errors import ModelMismatchError, SerkitError
from serkit.features import Frontend, build_frontend
from serkit.models.base import Model, build_model
from serkit.utils import atomic_write_bytes

FORMAT = "serkit-model/1"


def save_model(path: str | Path, model: Model, frontend: Frontend, labels: list[str], provenance: dict) -> None:
    blob = {
        "format": FORMAT,
        "model": model.name,
        "model_config": to_dict(model.config),
        "n_layers": model.n_layers,
        "dim": model.dim,
        "labels": list(labels),
        "frontend": frontend.spec(),
        "frontend_fingerprint": frontend.fingerprint(),
        "state": model.state(),
        "provenance": provenance,
    }
    buf = io.BytesIO()
    torch.save(blob, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_model(path: str | Path) -> tuple[Model, Frontend, list[str], dict]:
    """Returns ``(model, frontend, labels, blob)``; refuses files that are not serkit models."""
    path = Path(path)
    if not path.exists():
        raise SerkitError(f"{path}: model file not found")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is one clear message
        raise SerkitError(f"{path}: not a readable serkit model ({type(exc).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise SerkitError(f"{path}: not a serkit model file (expected format {FORMAT})")
    spec = blob["frontend"]
    name = spec["name"]
    cfg = spec["config"] if not name.startswith("hf:") else {k: v for k, v in spec["config"].items() if k != "path"}
    frontend = build_frontend(name, cfg)
    if frontend.fingerprint() != blob["frontend_fingerprint"]:
        raise ModelMismatchError(f"{path}: trained on frontend {spec} but this serkit builds "
                                 f"{frontend.spec()}; features would not match")
    model = build_model(blob["model"], blob["model_config"], len(blob["labels"]), blob["n_layers"], blob["dim"])
    model.load_state(blob["state"])
    return model, frontend, blob["labels"], blob


def check_compatible(blob: dict, frontend_name: str | None = None, labels: list[str] | None = None) -> None:
    """Refuse a model used with another frontend or label set than it was trained on."""
    if frontend_name and blob["frontend"]["name"] != frontend_name:
        raise ModelMismatchError(f"model was trained on frontend {blob['frontend']['name']!r}, not {frontend_name!r}")
    if labels is not None and list(labels) != list(blob["labels"]):
        raise ModelMismatchError(f"model labels {blob['labels']} differ from the requested {list(labels)}")
