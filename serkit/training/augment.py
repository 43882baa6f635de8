"""Energy-Adaptive Mixup (EAM) on waveforms, and a cached bank of mixed variants.

Mixing (:func:`eam_mix`), for a target utterance ``x_i`` (label ``y_i``) and a partner ``x_j``:

1. segment length ``L = u * N_i`` with ``u ~ U[min_frac, max_frac]`` (``max_frac`` < 0.5: the
   segment is always shorter than half the target), capped at the partner's length;
   a random segment ``s`` of ``x_j`` is added at a random position ``p`` of ``x_i``;
2. ``SNR ~ U[snr_low, snr_high]`` dB (default -5..10) of the target over the segment:
   ``scale = sqrt(P_i / (10^(SNR/10) P_j))`` with ``P_i`` the mean power of ``x_i`` over the
   covered region and ``P_j`` the mean power of ``s``;
3. soft label ``y = (1 - lam) y_i + lam y_j`` with

       lam = rho * r,   rho = L / N_i  (fraction of the target's time covered),
                        r   = 1 / (1 + 10^(SNR/10))  (the partner's share of the energy
                              inside the covered region: P_j' / (P_i + P_j'))

   so a loud, long insert moves the label more than a quiet, short one; ``lam < max_frac``.

Edge cases (never NaN): a silent partner segment (``P_j = 0``) adds nothing (``lam = 0``); a
silent covered region of the target (``P_i = 0``) uses the target's whole-utterance power, and
a fully silent target takes the segment at its own level (``r = 1``); a target shorter than
``min_samples`` is returned unchanged.

The bank (:func:`build_eam_bank`): for every utterance ``K`` mixes with partners from *other
speakers*, re-encoded by the frozen frontend once and cached on disk (content keys: both
files' bytes, seed, variant index, settings), so the encoder cost is paid once per seed, not
per epoch or per fold. A fold uses only the variants whose partner is among its *fit*
utterances (:func:`usable_variants`): test-fold and validation audio never enter training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from serkit.core.io import text_digest


@dataclass
class AugmentConfig:
    """``name``: ``none``, ``eam`` (mixup of two speakers), ``covada`` (speaker attributes
    altered, label kept: :func:`build_transform_bank`; a bench trains a first model and gives the
    altered copies of only its ``select_frac`` most confident correct training clips to a second,
    CO-VADA style), ``noise`` (white / pink noise at SNR ~ U[snr_low, snr_high] dB, label
    kept) or ``domain`` (speed, pitch, gain and one channel effect: what differs between
    corpora, label kept; :func:`serkit.audio.corrupt.perturb_domain`; the variants of a clip do
    not depend on the bench seed, so seeds share them). ``variants``: versions per utterance
    in the bank (how often a torch head trains on one instead of the clean clip is its
    ``train.augment_prob``; ``logreg`` adds every variant as a training row). Segment length
    as a fraction of the target (``eam``)."""

    name: Literal["none", "eam", "covada", "noise", "domain"] = "none"
    variants: int = 4
    snr_low: float = -5.0
    snr_high: float = 10.0
    min_frac: float = 0.1
    max_frac: float = 0.45
    min_samples: int = 1600
    select_frac: float = 0.3

    def __post_init__(self):
        if not 0 < self.select_frac <= 1:
            from serkit.core.errors import ConfigError

            raise ConfigError(f"augment.select_frac must be in (0, 1], got {self.select_frac}")


@dataclass
class Variant:
    partner: str  # utterance id mixed in
    lam: float  # partner's label weight
    feats: np.ndarray  # (L, T, D), same T as the clean target


def eam_mix(
    x_i: np.ndarray, x_j: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig | None = None
):
    """Mix a segment of ``x_j`` into ``x_i`` (1-D float arrays, same rate).

    Returns ``(mixed (N_i,) float32, lam, info)`` with ``info`` = position, length, snr_db,
    scale, rho, r. See the module docstring for the formula.
    """
    cfg = cfg or AugmentConfig(name="eam")
    x_i = np.asarray(x_i, np.float32)
    x_j = np.asarray(x_j, np.float32)
    n_i, n_j = x_i.size, x_j.size
    info = {"pos": 0, "length": 0, "snr_db": None, "scale": 0.0, "rho": 0.0, "r": 0.0}
    if n_i < cfg.min_samples or n_j == 0:
        return x_i.copy(), 0.0, info
    frac = rng.uniform(cfg.min_frac, min(cfg.max_frac, 0.4999))
    length = int(min(n_j, max(1, int(frac * n_i))))
    pos = int(rng.integers(0, n_i - length + 1))
    src = int(rng.integers(0, n_j - length + 1))
    seg = x_j[src : src + length].astype(np.float64)
    snr = float(rng.uniform(cfg.snr_low, cfg.snr_high))
    p_j = float(np.mean(seg**2))
    if not p_j > 0:
        return x_i.copy(), 0.0, {**info, "snr_db": snr}
    p_i = float(np.mean(x_i[pos : pos + length].astype(np.float64) ** 2))
    if not p_i > 0:
        p_i = float(np.mean(x_i.astype(np.float64) ** 2))
    if p_i > 0:
        scale = float(np.sqrt(p_i / (10 ** (snr / 10) * p_j)))
        r = 1.0 / (1.0 + 10 ** (snr / 10))
    else:  # silent target: the segment at its own level is all there is
        scale, r = 1.0, 1.0
    mixed = x_i.astype(np.float64)
    mixed[pos : pos + length] += scale * seg
    rho = length / n_i
    lam = float(rho * r)
    return (
        mixed.astype(np.float32),
        lam,
        {"pos": pos, "length": length, "snr_db": snr, "scale": scale, "rho": rho, "r": r},
    )


def soft_label(y_i: int, y_j: int, lam: float, n_classes: int) -> np.ndarray:
    """``(1 - lam) onehot(y_i) + lam onehot(y_j)`` as float32 ``(C,)``."""
    t = np.zeros(n_classes, np.float32)
    t[y_i] += 1.0 - lam
    t[y_j] += lam
    return t


def _plan(utts, cfg: AugmentConfig, seed: int) -> list[tuple[str, str, int]]:
    """``(target id, partner id, mix seed)``: ``cfg.variants`` partners per utterance, drawn from
    other speakers."""
    by_id = {u.id: u for u in utts}
    ids = sorted(by_id)
    rng = np.random.default_rng(seed)
    plan = []
    for uid in ids:
        spk = by_id[uid].speaker
        others = [v for v in ids if v != uid and (spk is None or by_id[v].speaker != spk)]
        for _ in range(cfg.variants if others else 0):
            plan.append((uid, others[int(rng.integers(len(others)))], int(rng.integers(2**31))))
    return plan


class _Sources:
    """Decoded audio (``None`` when unusable) and content digests of the utterances, memoised."""

    def __init__(self, utts, frontend, cache):
        from serkit.audio.io import AudioConfig

        self.by_id, self.cache, self._audio = {u.id: u for u in utts}, cache, {}
        self.acfg = AudioConfig(sample_rate=frontend.sample_rate)

    def audio(self, uid):
        from serkit.audio.io import load_audio
        from serkit.core.errors import AudioError

        if uid not in self._audio:
            u = self.by_id[uid]
            try:
                self._audio[uid] = load_audio(u.audio, self.acfg, u.start, u.end, return_rate=True)
            except AudioError:
                self._audio[uid] = None
        return self._audio[uid]

    def key(self, uid: str, pid: str, s: int, cfg: AugmentConfig) -> str:
        """Content key of one mix: both files' bytes and bounds, the seed and the settings."""

        def part(v):
            u = self.by_id[v]
            key = self.cache._digest(u.audio) if self.cache is not None else u.audio
            return f"{key}|{u.start}|{u.end}"

        settings = (
            f"{cfg.snr_low}|{cfg.snr_high}|{cfg.min_frac}|{cfg.max_frac}|{cfg.min_samples}|v1"
        )
        return text_digest(f"eam|{part(uid)}|{part(pid)}|{s}|{settings}")


def _encode(
    todo, src: _Sources, frontend, cfg, cache, bank, stats, progress: bool, batch: int = 16
) -> None:
    """Mix and encode the variants not in the cache, 16 at a time; store them in ``bank``."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc="EAM bank", disable=not progress or not todo, unit="mix")
    for b in range(0, len(todo), batch):
        part = todo[b : b + batch]
        mixes = [
            eam_mix(src.audio(uid)[0], src.audio(pid)[0], np.random.default_rng(s), cfg)[:2]
            for uid, pid, s, _ in part
        ]
        rates = {src.audio(uid)[1] for uid, *_ in part}
        if len(rates) == 1:
            feats = frontend.extract_batch([m for m, _ in mixes], rates.pop())
        else:
            feats = [frontend.extract(m, src.audio(p[0])[1]) for (m, _), p in zip(mixes, part)]
        for (uid, pid, _s, key), (_, lam), f in zip(part, mixes, feats):
            if cache is not None:
                cache.put_key(frontend, key, f)
            bank.setdefault(uid, []).append(
                Variant(pid, lam, f.astype(np.float16) if np.abs(f).max() < 6e4 else f)
            )
            stats["encoded"] += 1
        bar.update(len(part))
    bar.close()


def build_eam_bank(
    utts, frontend, cfg: AugmentConfig, seed: int, cache=None, progress: bool = False
) -> tuple[dict[str, list[Variant]], dict]:
    """``K = cfg.variants`` mixed variants per utterance (partners from other speakers),
    re-encoded by ``frontend`` and cached. Returns ``(bank: id -> [Variant], stats)``; stats:
    planned, encoded, cached, failed, seconds."""
    t0 = time.time()
    plan, src = _plan(utts, cfg, seed), _Sources(utts, frontend, cache)
    bank: dict[str, list[Variant]] = {}
    stats = {"planned": len(plan), "encoded": 0, "cached": 0, "failed": 0}
    todo = []
    for uid, pid, s in plan:
        if src.audio(uid) is None or src.audio(pid) is None:
            stats["failed"] += 1
            continue
        key = src.key(uid, pid, s, cfg)
        hit = cache.get_key(frontend, key) if cache is not None else None
        if hit is not None:  # only the label weight is needed: recompute it (cheap, no encoder)
            lam = eam_mix(src.audio(uid)[0], src.audio(pid)[0], np.random.default_rng(s), cfg)[1]
            bank.setdefault(uid, []).append(Variant(pid, lam, hit))
            stats["cached"] += 1
        else:
            todo.append((uid, pid, s, key))
    _encode(todo, src, frontend, cfg, cache, bank, stats, progress)
    stats["seconds"] = round(time.time() - t0, 2)
    return bank, stats


def usable_variants(
    bank: dict[str, list[Variant]],
    target_ids: list[str],
    partner_ids: list[str],
    labels_of: dict[str, int],
    n_classes: int,
) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Per target utterance (in order): its variants whose partner is in ``partner_ids``, as
    ``(feats, soft label (C,))``. The bench passes a fold's fit utterances as partners, so
    test-fold (and validation) audio never enters training."""
    allowed = set(partner_ids)
    out = []
    for uid in target_ids:
        out.append(
            [
                (v.feats, soft_label(labels_of[uid], labels_of[v.partner], v.lam, n_classes))
                for v in bank.get(uid, [])
                if v.partner in allowed
            ]
        )
    return out


TRANSFORM_VERSION = "v2"

PER_CLIP = ("noise", "domain")
"""Augmentations whose variants depend on their own clip only (label kept): a run needs the
variants of the clips it trains on and nothing else."""


def transform_variant(
    wav: np.ndarray, sr: int, cfg: AugmentConfig, k: int, seed: int, speaker_f0: float | None = None
) -> np.ndarray:
    """The ``k``-th label-preserving version of ``wav`` (N,) for ``cfg.name``:

    - ``covada``: the voice moved across the median-F0 split
    (:func:`serkit.audio.voice.opposite_shift`)
      with strength ``1 - 0.5 k / variants`` (the first variant the full shift). The direction
      comes from ``speaker_f0``, the speaker's median F0 over all their clips (a speaker id, not
      a demographic label): a clip's own F0 would follow its emotion (aroused male speech in
      EmoDB often has a median F0 above 165 Hz and would be lowered, not raised);
    - ``noise``: white (even ``k``) or pink (odd ``k``) noise at SNR ~ U[snr_low, snr_high] dB
      drawn with ``seed`` (audiomentations' ``AddColorNoise``);
    - ``domain``: :func:`serkit.audio.corrupt.perturb_domain` with ``seed``.
    """
    x = np.asarray(wav, np.float32)
    if cfg.name == "covada":
        from serkit.audio.voice import alter_voice, median_f0, opposite_shift

        f0 = speaker_f0 if speaker_f0 is not None else median_f0(x, sr)
        return alter_voice(x, sr, opposite_shift(f0, 1.0 - 0.5 * k / max(cfg.variants, 1)))
    if cfg.name == "noise":
        from serkit.audio.corrupt import add_noise

        rng = np.random.default_rng(seed)
        return add_noise(
            x,
            sr,
            "white" if k % 2 == 0 else "pink",
            float(rng.uniform(cfg.snr_low, cfg.snr_high)),
            seed,
        )
    if cfg.name == "domain":
        from serkit.audio.corrupt import perturb_domain

        return perturb_domain(x, sr, seed)[0]
    raise ValueError(f"augment {cfg.name!r} has no waveform transform")


def _clip_seed(cfg: AugmentConfig, uid: str, k: int, seed: int) -> int:
    """The seed of variant ``k`` of clip ``uid``: ``domain`` variants depend on the clip only
    (every bench seed reuses them), the others on the bench ``seed`` too."""
    if cfg.name == "domain":
        return (int(text_digest(f"domain|{uid}")[:8], 16) + 7919 * k) % 2**31
    return seed * 1000003 + k + 7919 * len(uid)


def build_transform_bank(
    utts, frontend, cfg: AugmentConfig, seed: int, cache=None, progress: bool = False
) -> tuple[dict[str, list[Variant]], dict]:
    """``cfg.variants`` label-preserving versions per utterance (:func:`transform_variant`),
    re-encoded by ``frontend`` and cached (content key: file bytes, bounds, variant index, seed
    for ``noise``, settings). A variant's ``partner`` is its own utterance (``lam = 0``), so
    :func:`usable_variants` gives a fold only the variants of its own fit clips."""
    from tqdm.auto import tqdm

    t0 = time.time()
    src = _Sources(utts, frontend, cache)
    bank: dict[str, list[Variant]] = {}
    stats = {"planned": len(utts) * cfg.variants, "encoded": 0, "cached": 0, "failed": 0}
    settings = f"{cfg.name}|{cfg.variants}|{TRANSFORM_VERSION}" + (
        f"|{cfg.snr_low}|{cfg.snr_high}|{seed}" if cfg.name == "noise" else ""
    )
    todo = []
    for u in sorted(utts, key=lambda u: u.id):
        if src.audio(u.id) is None:
            stats["failed"] += cfg.variants
            continue
        base = f"{cache._digest(u.audio) if cache is not None else u.audio}|{u.start}|{u.end}"
        for k in range(cfg.variants):
            own = f"|{u.id}" if cfg.name == "domain" else ""  # its variants follow the clip's id
            key = text_digest(f"transform|{base}|{k}|{settings}{own}")
            hit = cache.get_key(frontend, key) if cache is not None else None
            if hit is not None:
                bank.setdefault(u.id, []).append(Variant(u.id, 0.0, hit))
                stats["cached"] += 1
            else:
                todo.append((u.id, k, key))
    spk_f0 = _speaker_f0(utts, src) if cfg.name == "covada" and todo else {}
    bar = tqdm(
        total=len(todo), desc=f"{cfg.name} bank", disable=not progress or not todo, unit="clip"
    )
    for b in range(0, len(todo), 16):
        part = todo[b : b + 16]
        wavs = []
        for uid, k, _key in part:
            wav, sr = src.audio(uid)
            wavs.append(
                (
                    transform_variant(
                        wav,
                        sr,
                        cfg,
                        k,
                        _clip_seed(cfg, uid, k, seed),
                        spk_f0.get(src.by_id[uid].speaker),
                    ),
                    sr,
                )
            )
        rates = {sr for _, sr in wavs}
        feats = (
            frontend.extract_batch([w for w, _ in wavs], rates.pop())
            if len(rates) == 1
            else [frontend.extract(w, sr) for w, sr in wavs]
        )
        for (uid, _k, key), f in zip(part, feats):
            if cache is not None:
                cache.put_key(frontend, key, f)
            bank.setdefault(uid, []).append(
                Variant(uid, 0.0, f.astype(np.float16) if np.abs(f).max() < 6e4 else f)
            )
            stats["encoded"] += 1
        bar.update(len(part))
    bar.close()
    stats["seconds"] = round(time.time() - t0, 2)
    return bank, stats


def _speaker_f0(utts, src: _Sources) -> dict[str, float]:
    """Per speaker: the median of their clips' median F0 (Hz; speakers without a voiced clip
    are left out and their clips use their own F0)."""
    from serkit.audio.voice import median_f0

    per: dict[str, list[float]] = {}
    for u in utts:
        a = src.audio(u.id)
        if u.speaker is None or a is None:
            continue
        f0 = median_f0(a[0], a[1])
        if f0 is not None:
            per.setdefault(u.speaker, []).append(f0)
    return {s: float(np.median(v)) for s, v in per.items()}


def build_bank(utts, frontend, cfg: AugmentConfig, seed: int, cache=None, progress: bool = False):
    """The bank of ``cfg.name``: :func:`build_eam_bank` or :func:`build_transform_bank`."""
    if cfg.name == "eam":
        return build_eam_bank(utts, frontend, cfg, seed, cache, progress)
    return build_transform_bank(utts, frontend, cfg, seed, cache, progress)
