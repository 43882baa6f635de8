"""Conformance batteries (as scikit-learn's ``check_estimator``): every registered model and
frontend must pass them; ``tests/test_conformance.py`` runs them over the whole registries."""

from __future__ import annotations

import json

import numpy as np
import torch

from serkit.core.config import Component
from serkit.core.cost import Cost
from serkit.core.errors import ConfigError
from serkit.estimators import build_model, model_component
from serkit.features import build_frontend, frontend_component
from serkit.testing.dummies import toy_split

#: small settings so the battery runs in seconds (any model accepts them or ignores none)
FAST = {"train": {"epochs": 3, "patience": 3}}


def _fast(name: str) -> dict:
    comp = model_component(name)
    extra = dict(FAST) if hasattr(comp.config, "train") else {}
    if hasattr(comp.config, "hidden"):
        extra["hidden"] = 16
    return {"name": name, **extra}


def check_model(name: str, n_layers: int = 3, dim: int = 16) -> None:
    """Raise ``AssertionError`` (or the model's own error) unless model ``name``: gives
    probabilities that sum to 1; predicts a batch as it predicts each clip alone; is the same
    model from the same seed; survives ``state()`` -> ``load_state()`` with arrays / tensors
    only; refuses an unknown config key; reports a complete :class:`~serkit.core.cost.Cost`."""
    from serkit.estimators import MODELS

    dim = getattr(MODELS[name], "conformance_dim", None) or dim  # models bound to one encoder width
    n_layers = getattr(MODELS[name], "conformance_layers", None) or n_layers  # ... or to one state
    rng = np.random.default_rng(0)
    train, val, test = (toy_split(rng, n_per=k, n_layers=n_layers, dim=dim) for k in (12, 4, 3))
    if "text" in MODELS[name].modalities:  # transcripts of 2-7 tokens, every fifth one missing
        from serkit.nn.multimodal import Bimodal

        for sp in (train, val, test):
            sp.feats = [
                Bimodal(
                    f, None if i % 5 == 4 else rng.normal(size=(2 + i % 6, 384)).astype(np.float32)
                )
                for i, f in enumerate(sp.feats)
            ]
    spec = _fast(name)

    def fitted(seed=0):
        m = build_model(spec, 2, n_layers, dim)
        m.fit(train, val, seed)
        return m

    m = fitted()
    p = m.predict_proba(test.feats)
    assert p.shape == (len(test), 2) and np.all(np.isfinite(p)), (
        f"{name}: probabilities of shape {p.shape}"
    )
    assert np.allclose(p.sum(1), 1.0, atol=1e-5), f"{name}: probabilities do not sum to 1"
    single = np.concatenate([m.predict_proba([f]) for f in test.feats])
    assert np.allclose(p, single, atol=1e-5), (
        f"{name}: batched prediction differs from one clip at a time"
    )
    assert np.allclose(p, fitted().predict_proba(test.feats), atol=1e-6), (
        f"{name}: same seed, different model"
    )
    state = m.state()
    assert all(isinstance(v, (np.ndarray, torch.Tensor)) for v in state.values()), (
        f"{name}: state holds objects"
    )
    m2 = build_model(spec, 2, n_layers, dim)
    m2.load_state(state)
    assert np.allclose(p, m2.predict_proba(test.feats), atol=1e-6), (
        f"{name}: save/load changes predictions"
    )
    try:
        model_component({**spec, "no_such_setting": 1})
    except ConfigError:
        pass
    else:
        raise AssertionError(f"{name}: an unknown config key was accepted")
    c = m.cost(test.feats, [1.0] * len(test))
    assert (
        isinstance(c, Cost)
        and c.params_trainable > 0
        and c.macs_head + c.acs_head + c.sops_head > 0
    ), f"{name}: incomplete cost {c}"
    assert c.clip_s == 3.0 and c.energy_head_mj > 0


def check_frontend(name: str, seconds: tuple[float, ...] = (0.7, 1.3)) -> None:
    """Raise ``AssertionError`` unless frontend ``name`` maps waveforms to finite float32
    ``(L, T, D)`` with ``L == len(layer_names)`` and ``D == dim``; extracts a batch as each
    clip alone; has a JSON spec whose fingerprint is stable and excludes execution settings;
    and refuses an unknown config key."""
    from serkit.audio.synth import tone_clip

    fe = build_frontend(name)
    sr = fe.sample_rate or 16000
    wavs = [tone_clip(s, sr=sr, seed=i) for i, s in enumerate(seconds)]
    feats = fe.extract_batch(wavs, sr)
    for f, w in zip(feats, wavs):
        assert f.ndim == 3 and f.dtype == np.float32 and np.all(np.isfinite(f)), (
            f"{name}: bad features {f.shape}"
        )
        assert f.shape[0] == len(fe.layer_names) and f.shape[2] == fe.dim, (
            f"{name}: shape {f.shape}"
        )
        assert np.allclose(f, fe.extract(w, sr), atol=1e-3), f"{name}: batched extraction differs"
    if fe.frame_rate:
        assert feats[1].shape[1] > feats[0].shape[1], f"{name}: longer audio, not more frames"
    spec = fe.spec()
    json.dumps(spec)
    assert build_frontend(name).fingerprint() == fe.fingerprint(), f"{name}: fingerprint not stable"
    assert not set(fe.execution_fields) & set(spec["config"]), (
        f"{name}: execution settings in the spec"
    )
    try:
        frontend_component({"name": name, "no_such_setting": 1})
    except ConfigError:
        pass
    else:
        raise AssertionError(f"{name}: an unknown config key was accepted")
    assert isinstance(frontend_component(name), Component)
