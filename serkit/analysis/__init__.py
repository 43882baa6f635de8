"""Analyses of trained models and bench runs beyond accuracy (issue 17): fairness audits,
robustness curves, dimensional arousal / valence, explanations. Above the experiment and
deploy layers (it reads their results and runs their models); below the CLI."""
