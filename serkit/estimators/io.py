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


def save_model(
    path: str | Path,
    model: Model,
    frontend: Frontend,
    labels: list[str],
    provenance: dict,
    card: dict | None = None,
) -> None:
    """Write ``model`` (fitted), its frontend spec, labels, provenance and an optional model
    card."""
    header = {
        "model": Component(model.name, model.config).to_dict(),
        "n_layers": model.n_layers,
        "dim": model.dim,
        "labels": list(labels),
        "frontend": frontend.spec(),
        "frontend_fingerprint": frontend.fingerprint(),
        "provenance": provenance,
        "card": card or {},
    }
    tensors = {
        k: (v if isinstance(v, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(v)))
        .detach()
        .cpu()
        for k, v in model.state().items()
    }
    buf = io.BytesIO()
    torch.save(
        {"format": FORMAT, "header": json.dumps(header, default=str), "tensors": tensors}, buf
    )
    atomic_write_bytes(path, buf.getvalue())


def read_model_file(path: str | Path) -> dict:
    """The file's ``{"format", "header" (parsed), "tensors"}``; refuses pickles and other files."""
    path = Path(path)
    if not path.is_file():
        raise SerkitError(f"{path}: model file not found")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise SerkitError(
            f"{path}: refused: the file carries pickled Python objects, which could run code "
            f"when opened; serkit model files ({FORMAT}) hold only tensors and JSON"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any other read failure is one clear message
        raise SerkitError(f"{path}: not a readable serkit model ({type(exc).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        found = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise SerkitError(
            f"{path}: not a serkit model file of format {FORMAT} (found {found!r}); "
            "files of serkit-model/1 carried a pickle and are no longer read: retrain with serkit "
            "train"
        )
    try:
        header = json.loads(blob["header"])
        if not isinstance(header, dict):
            raise ValueError("not a JSON object")
    except (KeyError, TypeError, ValueError) as exc:
        raise SerkitError(
            f"{path}: damaged model file: its header is not JSON ({type(exc).__name__})"
        ) from None
    if not isinstance(blob.get("tensors"), dict):
        raise SerkitError(f"{path}: damaged model file: no tensors")
    return {**blob, "header": header}


def _check_frontend_paths(path: Path, spec: dict) -> None:
    """A model file may name frontend weights (``compact`` trained on a user's student) only as
    an existing ``.safetensors`` file: never an arbitrary path for serkit to open."""
    cfg = spec.get("config") or {}
    ref = cfg.get("path") if isinstance(cfg, dict) else None
    name = str(spec.get("name", ""))
    if name.startswith("compact:"):
        ref = name[len("compact:") :]
    if ref and not name.startswith("hf:"):
        p = Path(str(ref))
        if p.suffix != ".safetensors" or not p.is_file():
            raise SerkitError(
                f"{path}: refused: its frontend names {str(ref)!r}, which is not an existing "
                ".safetensors student file"
            )


def load_model(path: str | Path) -> tuple[Model, Frontend, list[str], dict]:
    """Returns ``(model, frontend, labels, header)``. A damaged file (header fields missing or of
    the wrong type, tensors missing, extra or of the wrong shape, non-finite weights) is one
    :class:`SerkitError` naming the file, never a traceback."""
    blob = read_model_file(path)
    h = blob["header"]
    try:
        spec = h["frontend"]
        _check_frontend_paths(Path(path), spec)
        cfg = (
            spec["config"]
            if not spec["name"].startswith("hf:")
            else {k: v for k, v in spec["config"].items() if k != "path"}
        )
        frontend = build_frontend(spec["name"], cfg)
        if frontend.fingerprint() != h["frontend_fingerprint"]:
            raise ModelMismatchError(
                f"{path}: trained on frontend {spec} but this serkit builds "
                f"{frontend.spec()}; features would not match"
            )
        labels = h["labels"]
        if (
            not isinstance(labels, list)
            or not labels
            or not all(isinstance(x, str) for x in labels)
        ):
            raise ValueError("labels must be a list of names")
        model = build_model(h["model"], len(labels), int(h["n_layers"]), int(h["dim"]))
        bad = sorted(
            k
            for k, v in blob["tensors"].items()
            if isinstance(v, torch.Tensor)
            and v.is_floating_point()
            and not bool(torch.isfinite(v).all())
        )
        if bad:
            raise SerkitError(f"{path}: refused: non-finite (NaN/inf) weights in {bad[:3]}")
        model.load_state(blob["tensors"])
    except SerkitError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as exc:
        what = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise SerkitError(f"{path}: damaged model file ({type(exc).__name__}: {what})") from None
    return model, frontend, labels, h
