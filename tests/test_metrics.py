import numpy as np
import pytest

from serkit.core.cost import energy_mj
from serkit.experiment.metrics import classification_metrics, mean_std


def test_metrics_hand_computed():
    # class 0: 3 of 4 right; class 1: 1 of 2 right
    y = np.array([0, 0, 0, 0, 1, 1])
    p = np.array([0, 0, 0, 1, 1, 0])
    m = classification_metrics(y, p, 2)
    assert m["wa"] == pytest.approx(4 / 6)
    assert m["ua"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    # F1: class 0 precision 3/4 recall 3/4 -> 0.75; class 1 precision 1/2 recall 1/2 -> 0.5
    assert m["f1"] == pytest.approx(0.625)
    assert m["per_class_recall"] == pytest.approx([0.75, 0.5])
    assert m["confusion"] == [[3, 1], [1, 1]]


def test_mean_std_uses_sample_std():
    assert mean_std([0.8, 0.9]) == pytest.approx((0.85, np.std([0.8, 0.9], ddof=1)))
    assert mean_std([0.7]) == (0.7, 0.0)


def test_energy_convention():
    # 1e6 MACs at 4.6 pJ = 4.6 uJ = 0.0046 mJ; 1e6 ACs at 0.9 pJ = 0.0009 mJ
    assert energy_mj(1e6) == pytest.approx(0.0046)
    assert energy_mj(0, 1e6) == pytest.approx(0.0009)
    assert energy_mj(7.6e7) == pytest.approx(0.35, rel=0.01)  # the PTS-SNN paper's anchor
