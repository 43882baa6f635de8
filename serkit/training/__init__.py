"""Training: the loop for torch heads, losses, and waveform augmentation (EAM)."""
