"""ResLSTM-SA (residual LSTM with soft attention) and the LSTM-SA baseline.

ResLSTM-SA (Krasnoproshin & Vashkevich, DSPA 2026, arXiv 2606.03359)::

    x (T, 46) -> LSTM1 (46 -> 46) -> (+ x) -> BatchNorm(46) -> LSTM2 (46 -> H)
      -> soft attention  a_t = softmax_t(u^T h_t),  c = sum_t a_t h_t
      -> BatchNorm(H) -> Dropout -> Linear(H -> C)

``lstm-sa`` is the published baseline (Mirsamadi et al., ICASSP 2017): one LSTM (46 -> H) with
the same soft attention and classifier. ``reslstm-sa`` with ``residual: false`` keeps both LSTMs
and drops only the skip connection (the pure residual ablation).

Parameter counts match the paper's (8 RAVDESS classes, PyTorch LSTMs with two bias vectors,
BatchNorm affine weights, attention vector ``u`` without bias): h32 27,988, h64 46,772,
h128 108,916 (tested).

Initialisation as published: Xavier-normal input weights, orthogonal recurrent weights, zero
biases except the forget gate, whose total bias (``b_ih + b_hh``) starts at 1; Xavier-normal
``u``; Xavier-uniform classifier, zero bias.

Padding: LSTMs are unidirectional, so trailing padding never changes the outputs at real
frames; attention and the residual BatchNorm only see real frames (masks), so a padded batch
gives the same logits as one clip at a time (tested).
"""

from __future__ import annotations

import torch
from torch import nn

from serkit.nn.counting import add_macs
from serkit.nn.layers import MaskedBatchNorm


def init_lstm_(lstm: nn.LSTM, forget_bias: float = 1.0) -> None:
    """Xavier-normal input weights, orthogonal recurrent weights, forget-gate bias ``forget_bias``
    (PyTorch gate order i, f, g, o; the bias is put in ``b_ih``, ``b_hh`` stays 0)."""
    h = lstm.hidden_size
    for layer in range(lstm.num_layers):
        nn.init.xavier_normal_(getattr(lstm, f"weight_ih_l{layer}"))
        nn.init.orthogonal_(getattr(lstm, f"weight_hh_l{layer}"))
        b_ih, b_hh = getattr(lstm, f"bias_ih_l{layer}"), getattr(lstm, f"bias_hh_l{layer}")
        nn.init.zeros_(b_ih)
        nn.init.zeros_(b_hh)
        with torch.no_grad():
            b_ih[h : 2 * h] = forget_bias


class ResLSTMSAHead(nn.Module):
    """``forward(z (N, T, D), mask (N, T))`` -> logits ``(N, C)``.

    Args:
        hidden: ``H``, size of the attention LSTM.
        dropout: dropout before the classifier.
        residual: add the input to LSTM1's output (ResLSTM-SA); ``False``: plain stacked LSTMs.
        single: one LSTM only (the LSTM-SA baseline); ``residual`` is then ignored.
    """

    def __init__(
        self,
        dim: int,
        n_classes: int,
        hidden: int = 64,
        dropout: float = 0.1,
        residual: bool = True,
        single: bool = False,
    ):
        super().__init__()
        self.residual, self.single = residual and not single, single
        if not single:
            self.lstm1 = nn.LSTM(dim, dim, batch_first=True)
            self.bn1 = MaskedBatchNorm(dim)
        self.lstm2 = nn.LSTM(dim, hidden, batch_first=True)
        self.u = nn.Parameter(torch.empty(hidden))
        self.bn2 = nn.BatchNorm1d(hidden)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_classes)
        self.init_published()

    def init_published(self) -> None:
        for lstm in [self.lstm2] if self.single else [self.lstm1, self.lstm2]:
            init_lstm_(lstm)
        with torch.no_grad():  # xavier-normal of u seen as an (H, 1) matrix
            self.u.normal_(0.0, (2.0 / (self.u.numel() + 1)) ** 0.5)
        nn.init.xavier_uniform_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def attention(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``h: (N, T, H)`` -> context ``(N, H)`` and weights ``(N, T)`` (0 on padding)."""
        s = (h @ self.u).masked_fill(~mask, float("-inf"))
        a = torch.softmax(s, dim=1)
        add_macs(self, macs=2 * h.numel())  # scores + weighted sum
        return torch.einsum("nt,nth->nh", a, h), a

    def forward(self, z: torch.Tensor, mask: torch.Tensor, return_attention: bool = False):
        m = mask.unsqueeze(-1).to(z.dtype)
        z = z * m
        if not self.single:
            h1, _ = self.lstm1(z)
            if self.residual:
                h1 = h1 + z
            # MaskedBatchNorm works on (T, N, D): statistics over real frames only
            z = self.bn1(h1.transpose(0, 1), m.transpose(0, 1)).transpose(0, 1) * m
        h2, _ = self.lstm2(z)
        c, a = self.attention(h2, mask)
        logits = self.out(self.drop(self.bn2(c)))
        return (logits, a) if return_attention else logits
