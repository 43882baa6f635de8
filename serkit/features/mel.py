"""Whisper log-mel; lives in :mod:`serkit.audio.mel` (numpy only, shared with the ONNX runtime)."""

from serkit.audio.mel import HOP, N_FFT, N_MELS, SAMPLE_RATE, log_mel, mel_filters  # noqa: F401
