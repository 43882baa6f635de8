import numpy as np
import pytest
import torch

from serkit.core.errors import ModelMismatchError, SerkitError
from serkit.estimators import Split, build_model
from serkit.estimators.io import FORMAT, load_model, read_model_file, save_model
from serkit.features import build_frontend


@pytest.fixture(params=["pts-snn", "logreg"])
def saved(tmp_path, request):
    rng = np.random.default_rng(0)
    feats = [rng.normal(size=(1, 10, 80)).astype(np.float32) for _ in range(8)]
    spec = (
        {"name": "pts-snn", "pool": 1, "hidden": 8, "train": {"epochs": 1}}
        if request.param == "pts-snn"
        else "logreg"
    )
    m = build_model(spec, 2, 1, 80)
    m.fit(
        Split(feats, np.arange(8) % 2, [f"s{i % 2}" for i in range(8)], [str(i) for i in range(8)]),
        None,
        0,
    )
    p = tmp_path / "m.pt"
    save_model(
        p, m, build_frontend("logmel"), ["a", "b"], {"note": "test"}, card={"licence": "MIT"}
    )
    return p, m, feats


def test_round_trip_gives_same_predictions(saved):
    p, m, feats = saved
    m2, fe, labels, header = load_model(p)
    assert labels == ["a", "b"] and fe.name == "logmel" and header["provenance"]["note"] == "test"
    assert header["card"] == {"licence": "MIT"} and header["model"]["name"] == m.name
    assert np.allclose(m.predict_proba(feats), m2.predict_proba(feats), atol=1e-6)


def test_model_files_hold_tensors_and_json_only(saved):
    p, _, _ = saved
    blob = torch.load(p, weights_only=True)  # would raise on any pickled object
    assert blob["format"] == FORMAT and isinstance(blob["header"], str)
    assert all(isinstance(t, torch.Tensor) for t in blob["tensors"].values())


class _Payload:
    def __reduce__(self):  # what a malicious file would carry
        return (print, ("this code ran on load",))


def test_a_file_carrying_a_pickled_object_is_refused(tmp_path, saved, capsys):
    p, _, _ = saved
    blob = torch.load(p, weights_only=True)
    blob["tensors"]["extra"] = _Payload()
    evil = tmp_path / "evil.pt"
    torch.save(blob, evil)
    with pytest.raises(SerkitError, match="pickled Python objects"):
        load_model(evil)
    assert "this code ran" not in capsys.readouterr().out


def test_other_frontend_or_labels_refused(saved, tmp_path):
    p, _, _ = saved
    blob = read_model_file(p)
    blob["header"]["frontend"]["config"]["pool"] = 7  # a model file whose frontend settings changed
    import json

    bad = tmp_path / "bad.pt"
    torch.save({**blob, "header": json.dumps(blob["header"])}, bad)
    with pytest.raises(ModelMismatchError, match="features would not match"):
        load_model(bad)
    junk = tmp_path / "junk.pt"
    torch.save({"hello": 1}, junk)
    with pytest.raises(SerkitError, match="not a serkit model"):
        load_model(junk)
    with pytest.raises(SerkitError, match="not found"):
        load_model(tmp_path / "missing.pt")
