"""What every estimator built around one torch network shares (``self.net``): probabilities
from logits, state as the network's tensors, the refit's epoch count, how many test clips the
cost is counted on. :class:`~serkit.estimators.torch_head.TorchHeadModel` and
:class:`~serkit.estimators.eavs_tf.EAVSTF` build on it."""

from __future__ import annotations

import dataclasses

import numpy as np
from torch import nn

from serkit.estimators.base import FitReport, Model
from serkit.training.trainer import TrainConfig, predict_logits

COST_CLIPS = 32
"""Test clips per fold whose forward pass is counted for the cost (operations per second of
audio)."""


class TorchNetModel(Model):
    """A :class:`Model` whose fitted state is ``self.net`` (an ``nn.Module``); subclasses give
    ``_prep(feats)`` (the network's inputs) and the fitting."""

    net: nn.Module

    def _prep(self, feats: list) -> list:
        raise NotImplementedError

    def predict_proba(self, feats: list) -> np.ndarray:
        logits = predict_logits(self.net, self._prep(feats))
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def refit_config(self, report: FitReport) -> TrainConfig:
        """The refit on fit + validation speakers: from scratch, for the best epoch count."""
        return dataclasses.replace(self.config.train, epochs=max(1, int(report.train.best_epoch)))

    def state(self) -> dict:
        return dict(self.net.state_dict())

    def load_state(self, state: dict) -> None:
        self.net.load_state_dict(state)
        self.net.eval()
