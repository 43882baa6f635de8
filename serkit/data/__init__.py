"""Data: the one manifest format (JSONL of :class:`~serkit.data.manifest.Utterance`), one
recipe module per corpus, and evaluation protocols as data (speaker-independent folds)."""
