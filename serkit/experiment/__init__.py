"""Experiments on top of the library: configs (experiment vs run), the one dataset path, the
fold executor, ``bench`` / ``tune`` / ``train``, typed results, metrics and reports."""
