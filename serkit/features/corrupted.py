"""Features of corrupted copies of clips (:mod:`serkit.audio.corrupt`), cached by content.

A clip's corruption seed is derived from its id and a fixed base (not the bench seed): every
model, seed and run sees the *same* corrupted clip, so UA-versus-SNR curves of different models
compare like with like, and the encoder pays for each (clip, condition) once.
"""

from __future__ import annotations

import time
import zlib
from pathlib import Path

import numpy as np

from serkit.audio.corrupt import corrupt, parse_corruption
from serkit.audio.io import AudioConfig, load_audio
from serkit.core.errors import AudioError, ConfigError
from serkit.core.io import text_digest

VERSION = "v1"
SEED_BASE = 20261202


def clip_seed(uid: str, spec: str) -> int:
    """The corruption seed of clip ``uid`` under ``spec`` (stable across runs and machines)."""
    return (SEED_BASE + zlib.crc32(f"{uid}|{spec}".encode())) % 2**31


def _key(cache, utt, spec: str, pools_id: str) -> str:
    return text_digest(
        f"corrupt|{cache._digest(utt.audio)}|{utt.start}|{utt.end}|{spec}|"
        f"{clip_seed(utt.id, spec)}|"
        f"{pools_id}|{VERSION}"
    )


def load_pool(
    paths: list[str | Path], sr: int, max_clips: int = 200, min_s: float = 0.5
) -> list[np.ndarray]:
    """Waveforms at ``sr`` from audio files (sorted, the first ``max_clips`` usable ones);
    unreadable or shorter than ``min_s`` files are skipped."""
    out = []
    for p in sorted(str(x) for x in paths):
        if len(out) >= max_clips:
            break
        try:
            w = load_audio(p, AudioConfig(sample_rate=sr))
        except AudioError:
            continue
        if w.size >= min_s * sr:
            out.append(w)
    return out


def _spread(paths: list, k: int = 200) -> list:
    """At most ``k`` of ``paths`` spread evenly over the sorted list (many speakers / places,
    not the first few folders)."""
    if len(paths) <= k:
        return list(paths)
    return [paths[int(i)] for i in np.linspace(0, len(paths) - 1, k)]


class Pools:
    """Babble speech and real noise recordings for the corruptions that need them; ``id``
    names their content (it enters the cache key)."""

    def __init__(
        self,
        babble: list[np.ndarray] | None = None,
        noise: list[np.ndarray] | None = None,
        ident: str = "",
    ):
        self.babble, self.noise, self.id = babble or [], noise or [], ident

    @classmethod
    def from_sources(
        cls, babble_utts, noise_dir: str, sr: int, exclude_speakers: set[str]
    ) -> Pools:
        """Babble from utterances whose speaker is not in ``exclude_speakers`` (never the test
        speakers); noise from every audio file under ``noise_dir``, or the files a glob pattern
        matches (``corpora/emospeech/**/background-*.wav``)."""
        import glob

        from serkit.data.corpora.base import AUDIO_EXTS

        b_paths = sorted(
            {u.audio for u in (babble_utts or []) if u.speaker not in exclude_speakers}
        )
        if noise_dir and any(ch in noise_dir for ch in "*?["):
            n_paths = sorted(
                Path(p) for p in glob.glob(str(Path(noise_dir).expanduser()), recursive=True)
            )
        else:
            n_paths = (
                sorted(
                    p
                    for p in Path(noise_dir).expanduser().rglob("*")
                    if p.suffix.lower() in AUDIO_EXTS
                )
                if noise_dir
                else []
            )
        if noise_dir and not n_paths:
            raise ConfigError(f"{noise_dir}: no audio files for the background-noise pool")
        babble, noise = load_pool(_spread(b_paths), sr), load_pool(_spread(n_paths), sr)
        ident = text_digest(
            "|".join(b_paths[:200]) + "#" + "|".join(str(p) for p in n_paths[:200])
        )[:16]
        return cls(babble, noise, ident)


def extract_corrupted(
    frontend, utts, specs: list[str], cache, pools: Pools, progress: bool = False
) -> dict:
    """Corrupt every clip of ``utts`` under every spec, encode with ``frontend`` and cache.
    Returns stats per spec (encoded, cached, failed, seconds). Unreadable clips are counted as
    failed (the clean dataset has already dropped them)."""
    from tqdm.auto import tqdm

    sr = frontend.sample_rate or 16000
    stats = {}
    for spec in specs:
        c = parse_corruption(spec)
        if c.kind == "babble" and not pools.babble:
            raise ConfigError(
                "babble corruption needs babble speech of other speakers: set babble to a manifest"
            )
        if c.kind == "background" and not pools.noise:
            raise ConfigError(
                "background corruption needs real noise recordings: set noise_dir to a folder"
            )
        t0 = time.time()
        st = {"encoded": 0, "cached": 0, "failed": 0}
        todo = []
        for u in utts:
            if cache.path_for_key(frontend, _key(cache, u, c.spec, pools.id)).exists():
                st["cached"] += 1
            else:
                todo.append(u)
        bar = tqdm(
            total=len(todo), desc=f"corrupt {c.spec}", disable=not progress or not todo, unit="clip"
        )
        for b in range(0, len(todo), 16):
            part, wavs = [], []
            for u in todo[b : b + 16]:
                try:
                    w = load_audio(u.audio, AudioConfig(sample_rate=sr), u.start, u.end)
                except AudioError:
                    st["failed"] += 1
                    continue
                part.append(u)
                wavs.append(corrupt(w, sr, c, clip_seed(u.id, c.spec), pools.babble, pools.noise))
            for u, f in zip(part, frontend.extract_batch(wavs, sr) if wavs else []):
                cache.put_key(frontend, _key(cache, u, c.spec, pools.id), f)
                st["encoded"] += 1
            bar.update(len(todo[b : b + 16]))
        bar.close()
        st["seconds"] = round(time.time() - t0, 2)
        stats[c.spec] = st
    return stats


def load_corrupted(frontend, cache, utt, spec: str, pools: Pools) -> np.ndarray:
    """The cached features ``(L, T, D)`` of ``utt`` under ``spec`` (after
    :func:`extract_corrupted`)."""
    f = cache.get_key(frontend, _key(cache, utt, parse_corruption(spec).spec, pools.id))
    if f is None:
        raise ConfigError(
            f"{utt.id}: no corrupted features for {spec} in the cache (extract_corrupted first)"
        )
    return f
