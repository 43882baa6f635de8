import numpy as np
import pytest
import torch

from serkit.errors import ModelMismatchError, SerkitError
from serkit.features import build_frontend
from serkit.models import Split, build_model
from serkit.models.io import check_compatible, load_model, save_model


@pytest.fixture
def saved(tmp_path):
    rng = np.random.default_rng(0)
    feats = [rng.normal(size=(1, 10, 80)).astype(np.float32) for _ in range(8)]
    m = build_model("pts-snn", {"pool": 1, "hidden": 8, "train": {"epochs": 1}}, 2, 1, 80)
    m.fit(Split(feats, np.arange(8) % 2, [None] * 8, [str(i) for i in range(8)]), None, 0)
    p = tmp_path / "m.pt"
    save_model(p, m, build_frontend("logmel"), ["a", "b"], {"note": "test"})
    return p, m, feats


def test_round_trip_gives_same_predictions(saved):
    p, m, feats = saved
    m2, fe, labels, blob = load_model(p)
    assert labels == ["a", "b"] and fe.name == "logmel" and blob["provenance"]["note"] == "test"
    assert np.allclose(m.predict_proba(feats), m2.predict_proba(feats), atol=1e-6)


def test_other_frontend_or_labels_refused(saved, tmp_path):
    p, _, _ = saved
    _, _, _, blob = load_model(p)
    with pytest.raises(ModelMismatchError, match="frontend"):
        check_compatible(blob, frontend_name="whisper-tiny")
    with pytest.raises(ModelMismatchError, match="labels"):
        check_compatible(blob, labels=["x", "y"])
    blob["frontend"]["config"]["pool"] = 1  # a model file whose frontend settings changed
    bad = tmp_path / "bad.pt"
    torch.save(blob, bad)
    with pytest.raises(ModelMismatchError, match="features would not match"):
        load_model(bad)
    junk = tmp_path / "junk.pt"
    torch.save({"hello": 1}, junk)
    with pytest.raises(SerkitError, match="not a serkit model"):
        load_model(junk)
