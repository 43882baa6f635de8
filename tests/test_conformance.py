"""The conformance batteries of :mod:`serkit.testing` over the whole model and frontend
registries, and the layer contract of the package."""

import subprocess
import sys
from pathlib import Path

import pytest

from serkit.estimators import MODELS
from serkit.features import FRONTENDS
from serkit.testing import check_frontend, check_model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_conforms(name):
    check_model(name)


@pytest.mark.parametrize("name", sorted(FRONTENDS))
def test_every_registered_frontend_conforms(name):
    check_frontend(name)


def test_the_battery_can_fail():
    """A model that breaks the protocol (here: its probabilities do not sum to 1) is caught."""
    from serkit.estimators.logreg import LogReg

    class Broken(LogReg):
        name = "broken"

        def predict_proba(self, feats):
            return super().predict_proba(feats) * 2

    MODELS["broken"] = Broken
    try:
        with pytest.raises(AssertionError, match="sum to 1"):
            check_model("broken")
    finally:
        del MODELS["broken"]


def test_layers_import_only_downward():
    """import-linter's layers contract (pyproject.toml), the same check ``make lint`` runs."""
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.skip("import-linter not installed (pip install 'serkit[dev]')")
    r = subprocess.run([str(exe)], capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 0 and "0 broken" in r.stdout, r.stdout[-2000:]
