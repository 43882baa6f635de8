"""Torch building blocks: operation counting, shared layers, the layer featurizer, spiking
neurons and the heads (plain ``nn.Module``s that take ``(N, T, D)`` frames and a mask).

Imports only :mod:`serkit.core` (checked by ``make lint``)."""
