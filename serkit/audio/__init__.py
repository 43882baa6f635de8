"""Audio input: reading, validation, resampling."""

from serkit.audio.io import AudioConfig, load_audio, prepare_signal

__all__ = ["AudioConfig", "load_audio", "prepare_signal"]
