import math

import numpy as np
import pytest
import torch

from serkit.nn.neurons import ATan, FastSigmoid, PLIFNode, Sigmoid


def test_hard_reset_membrane_trace_by_hand():
    # tau = 2: H = V + (X - V) / 2; threshold 1; hard reset to 0
    n = PLIFNode(1, init_tau=2.0, v_threshold=1.0, v_reset=0.0)
    n.record = True
    x = torch.tensor([1.5, 1.5, 1.5, 0.0, 3.0]).reshape(5, 1, 1)
    s = n(x)
    # V: 0.75 (no spike), 1.125 -> spike -> 0, 0.75, 0.375, 1.6875 -> spike -> 0
    assert s.flatten().tolist() == [0, 1, 0, 0, 1]
    assert torch.allclose(n.last_v.flatten(), torch.tensor([0.75, 0.0, 0.75, 0.375, 0.0]))


def test_soft_reset_keeps_residual():
    n = PLIFNode(1, init_tau=2.0, v_threshold=1.0, v_reset=None)
    n.record = True
    s = n(torch.tensor([1.5, 1.5]).reshape(2, 1, 1))
    # V1 = 0.75; H2 = 1.125 -> spike, V2 = 0.125
    assert s.flatten().tolist() == [0, 1]
    assert n.last_v.flatten()[1].item() == pytest.approx(0.125)


def test_bias_voltage_shifts_firing():
    n = PLIFNode(1, init_tau=2.0)
    x = torch.zeros(6, 1, 1)
    assert n(x).sum() == 0
    assert n(x, bias=torch.tensor([[2.5]])).sum() > 0  # the same input fires with a bias


def test_spikes_are_binary_and_gradients_reach_tau_and_bias():
    torch.manual_seed(0)
    for sg in (ATan(), Sigmoid(), FastSigmoid()):
        n = PLIFNode(8, init_tau=2.0, tau_per_channel=True, surrogate=sg)
        x = torch.randn(10, 4, 8, requires_grad=True)
        bias = torch.zeros(4, 8, requires_grad=True)
        s = n(x, bias)
        assert set(torch.unique(s).tolist()) <= {0.0, 1.0}
        s.sum().backward()
        assert n.w.grad is not None and n.w.grad.abs().sum() > 0
        assert bias.grad is not None and bias.grad.abs().sum() > 0
        assert x.grad.abs().sum() > 0


def test_tau_parametrisation_and_step_state():
    n = PLIFNode(1, init_tau=3.0)
    assert n.tau.item() == pytest.approx(3.0)
    n.step(torch.tensor([[0.9]]))
    assert n.v is not None
    v1 = n.v.clone()
    n.step(torch.tensor([[0.9]]))
    assert n.v.item() > v1.item()  # state kept between single steps
    n.reset()
    assert n.v is None
    with pytest.raises(ValueError):
        PLIFNode(1, init_tau=1.0)


def test_atan_surrogate_derivative_value():
    x = torch.tensor([0.0, 0.5], requires_grad=True)
    ATan(alpha=2.0)(x).sum().backward()
    expected = [2.0 / 2 / (1 + (math.pi / 2 * 2.0 * v) ** 2) for v in (0.0, 0.5)]
    assert np.allclose(x.grad.numpy(), expected)
