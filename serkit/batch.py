"""Batch inference at scale: ``serkit.batch.predict_dataset(inputs, out, ...)`` on Ray Data
(see :mod:`serkit.deploy.ray_batch`)."""

from serkit.deploy.ray_batch import input_files, predict_dataset, predict_files

__all__ = ["input_files", "predict_dataset", "predict_files"]
