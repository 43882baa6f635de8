"""Model files without pickle: one ``.pt`` holding tensors and a JSON header.

Layout (``torch.save`` of a dict of plain types, read back with ``weights_only=True``, which
refuses any pickled Python object)::

    {"format": "serkit-model/2", "header": "<JSON: model spec, shapes, labels, frontend spec,
     frontend fingerprint, provenance, model card>", "tensors": {name: tensor}}

Opening a model file from someone else therefore runs no code of theirs.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
import torch

from serkit.core.config import Component
from serkit.core.errors import ModelMismatchError, SerkitError
from serkit.core.io import atomic_write_bytes
from serkit.estimators.base import Model, build_model
from serkit.features import Frontend, build_frontend

FORMAT = "serkit-model/2"


def save_model(path: str | Path, model: Model, frontend: Frontend, labels: list[str], provenance: dict,
               card: dict | None = None) -> None:
    """Write ``model`` (fitted), its frontend spec, labels, provenance and an optional model card."""
    header = {
        "model": Component(model.name, model.config).to_dict(),
        "n_layers": model.n_layers, "dim": model.dim, "labels": list(labels),
        "frontend": frontend.spec(), "frontend_fingerprint": frontend.fingerprint(),
        "provenance": provenance, "card": card or {},
    }
    tensors = {k: (v if isinstance(v, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(v))).detach().cpu()
               for k, v in model.state().items()}
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "header": json.dumps(header, default=str), "tensors": tensors}, buf)
    atomic_write_bytes(path, buf.getvalue())


def read_model_file(path: str | Path) -> dict:
    """The file's ``{"format", "header" (parsed), "tensors"}``; refuses pickles and other files."""
    path = Path(path)
    if not path.is_file():
        raise SerkitError(f"{path}: model file not found")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise SerkitError(f"{path}: refused: the file carries pickled Python objects, which could run code "
                          f"when opened; serkit model files ({FORMAT}) hold only tensors and JSON") from None
    except Exception as exc:  # noqa: BLE001 - any other read failure is one clear message
        raise SerkitError(f"{path}: not a readable serkit model ({type(exc).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        found = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise SerkitError(f"{path}: not a serkit model file of format {FORMAT} (found {found!r}); "
                          "files of serkit-model/1 carried a pickle and are no longer read: retrain with serkit train")
    return {**blob, "header": json.loads(blob["header"])}


def load_model(path: str | Path) -> tuple[Model, Frontend, list[str], dict]:
    """Returns ``(model, frontend, labels, header)``."""
    blob = read_model_file(path)
    h = blob["header"]
    spec = h["frontend"]
    cfg = spec["config"] if not spec["name"].startswith("hf:") else {k: v for k, v in spec["config"].items() if k != "path"}
    frontend = build_frontend(spec["name"], cfg)
    if frontend.fingerprint() != h["frontend_fingerprint"]:
        raise ModelMismatchError(f"{path}: trained on frontend {spec} but this serkit builds "
                                 f"{frontend.spec()}; features would not match")
    model = build_model(h["model"], len(h["labels"]), h["n_layers"], h["dim"])
    model.load_state(blob["tensors"])
    return model, frontend, h["labels"], h


def check_compatible(header: dict, frontend_name: str | None = None, labels: list[str] | None = None) -> None:
    """Refuse a model used with another frontend or label set than it was trained on."""
    if frontend_name and header["frontend"]["name"] != frontend_name:
        raise ModelMismatchError(f"model was trained on frontend {header['frontend']['name']!r}, not {frontend_name!r}")
    if labels is not None and list(labels) != list(header["labels"]):
        raise ModelMismatchError(f"model labels {header['labels']} differ from the requested {list(labels)}")
