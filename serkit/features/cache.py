"""Content-addressed on-disk feature cache and the batched extraction driver.

Key = SHA-1 of (frontend spec, audio file bytes, segment bounds): a changed frontend config,
frontend version or audio file gives a new key, so it is re-extracted; an unchanged one is
read back and nothing is computed. Files are written atomically (temp file + rename), so an
interrupted run never leaves a truncated entry.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from serkit.audio.io import AudioConfig, load_audio
from serkit.core.errors import AudioError
from serkit.core.io import atomic_save_npy, file_digest, text_digest
from serkit.data.manifest import Utterance
from serkit.features.base import Frontend


def default_cache_dir() -> Path:
    return Path(os.environ.get("SERKIT_CACHE", Path.home() / ".cache" / "serkit" / "features"))


class FeatureCache:
    """``root/<frontend>-<fingerprint[:12]>/<key[:2]>/<key>.npy``; values stored as float16
    (float32 when a value would overflow float16)."""

    def __init__(self, root: str | Path | None = None, dtype: str = "float16"):
        self.root = Path(root) if root else default_cache_dir()
        self.dtype = np.dtype(dtype)
        self._digests: dict[tuple, str] = {}
        self.hits = 0
        self.misses = 0

    def _digest(self, path: str) -> str:
        st = os.stat(path)
        memo = (path, st.st_size, st.st_mtime_ns)
        if memo not in self._digests:
            self._digests[memo] = file_digest(path)
        return self._digests[memo]

    def path_for(self, frontend: Frontend, utt: Utterance) -> Path:
        fp = frontend.fingerprint()
        key = text_digest(f"{fp}|{self._digest(utt.audio)}|{utt.start}|{utt.end}")
        return (
            self.root
            / f"{frontend.name.replace(':', '_').replace('/', '_')}-{fp[:12]}"
            / key[:2]
            / f"{key}.npy"
        )

    def path_for_key(self, frontend: Frontend, key: str) -> Path:
        """Entry for derived audio (e.g. an augmented mix) named by a content ``key``."""
        fp = frontend.fingerprint()
        k = text_digest(f"{fp}|derived|{key}")
        return (
            self.root
            / f"{frontend.name.replace(':', '_').replace('/', '_')}-{fp[:12]}"
            / k[:2]
            / f"{k}.npy"
        )

    def get_key(self, frontend: Frontend, key: str) -> np.ndarray | None:
        return self._load(self.path_for_key(frontend, key))

    def put_key(self, frontend: Frontend, key: str, feats: np.ndarray) -> None:
        self._save(self.path_for_key(frontend, key), feats)

    def _save(self, p: Path, feats: np.ndarray) -> None:
        out = (
            feats.astype(self.dtype)
            if np.abs(feats).max(initial=0) < 6e4
            else feats.astype(np.float32)
        )
        atomic_save_npy(p, out)

    @staticmethod
    def _load(p: Path) -> np.ndarray | None:
        if not p.exists():
            return None
        try:
            return np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError):
            return None  # damaged entry: treat as a miss, it is rewritten

    def get(self, frontend: Frontend, utt: Utterance) -> np.ndarray | None:
        return self._load(self.path_for(frontend, utt))

    def put(self, frontend: Frontend, utt: Utterance, feats: np.ndarray) -> None:
        self._save(self.path_for(frontend, utt), feats)


@dataclass
class ExtractionResult:
    """``features``: id -> ``(L, T, D)`` array; ``failed``: (id, reason) for skipped files."""

    features: dict[str, np.ndarray]
    failed: list[tuple[str, str]] = field(default_factory=list)
    extracted: int = 0
    cached: int = 0


def extract_features(
    frontend: Frontend,
    utts: Iterable[Utterance],
    cache: FeatureCache | None = None,
    batch_size: int = 16,
    progress: bool = True,
    audio: AudioConfig | None = None,
) -> ExtractionResult:
    """Features for every utterance, read from ``cache`` when present, else extracted in batches.

    Unreadable or invalid audio is reported in ``failed`` and skipped; the run completes.
    """
    utts = list(utts)
    acfg = audio or AudioConfig()
    acfg = AudioConfig(
        sample_rate=frontend.sample_rate,
        min_duration_s=acfg.min_duration_s,
        max_duration_s=acfg.max_duration_s,
        mono=acfg.mono,
    )
    res = ExtractionResult({})
    if not frontend.reads_audio:  # text-only data: a placeholder per utterance, no file opened
        res.features = {u.id: frontend.extract(np.zeros(1, np.float32), 16000) for u in utts}
        return res
    todo: list[Utterance] = []
    for u in utts:
        try:
            hit = cache.get(frontend, u) if cache else None
        except FileNotFoundError:
            res.failed.append((u.id, f"{u.audio}: file not found"))
            continue
        except OSError as exc:
            res.failed.append((u.id, f"{u.audio}: cannot read ({exc.strerror})"))
            continue
        if hit is not None:
            res.features[u.id] = hit
            res.cached += 1
        else:
            todo.append(u)
    bar = tqdm(
        total=len(todo),
        desc=f"extract {frontend.name}",
        disable=not progress or not todo,
        unit="utt",
    )
    for k in range(0, len(todo), batch_size):
        batch = todo[k : k + batch_size]
        wavs, ok, rate = [], [], None
        for u in batch:
            try:
                x, sr = load_audio(u.audio, acfg, u.start, u.end, return_rate=True)
            except AudioError as exc:
                res.failed.append((u.id, str(exc)))
                continue
            if rate is not None and sr != rate:  # native-rate frontend: flush per rate
                _run(frontend, wavs, ok, rate, cache, res)
                wavs, ok = [], []
            rate = sr
            wavs.append(x)
            ok.append(u)
        if wavs:
            _run(frontend, wavs, ok, rate, cache, res)
        bar.update(len(batch))
    bar.close()
    return res


def _run(frontend, wavs, utts, sr, cache, res) -> None:
    try:
        feats = frontend.extract_batch(wavs, sr)
    except Exception:  # one bad item must not sink the batch: retry one at a time
        feats = []
        for w, u in zip(wavs, utts):
            try:
                feats.append(frontend.extract(w, sr))
            except Exception as exc:  # noqa: BLE001 - reported per file, run continues
                feats.append(None)
                res.failed.append(
                    (u.id, f"{u.audio}: feature extraction failed ({type(exc).__name__}: {exc})")
                )
    for f, u in zip(feats, utts):
        if f is None:
            continue
        if not np.all(np.isfinite(f)):
            res.failed.append((u.id, f"{u.audio}: frontend produced non-finite features"))
            continue
        if cache:
            cache.put(frontend, u, f)
        res.features[u.id] = (
            f.astype(cache.dtype) if cache and np.abs(f).max(initial=0) < 6e4 else f
        )
        res.extracted += 1
