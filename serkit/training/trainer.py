"""Training loop for torch heads: AdamW, class-weighted cross-entropy, early stopping on the
unweighted accuracy (UA) of validation speakers held out from the training fold."""

from __future__ import annotations

import copy
import dataclasses
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score
from torch import nn

from serkit.core.errors import ConfigError
from serkit.nn.multimodal import Bimodal, collate_bimodal
from serkit.training.losses import LossConfig, MultiLoss


@dataclass
class TrainConfig:
    """Optimisation settings shared by torch models.

    Attributes:
        epochs: maximum epochs.
        batch_size: utterances per step.
        lr, weight_decay: AdamW settings.
        patience: stop after this many epochs without a better validation UA.
        class_weighted: weight cross-entropy by inverse training class frequency.
        pretrained_lr_scale: learning-rate factor of pretrained modules being fine-tuned
            (parameters under an attribute named ``pretrained``, e.g. ``ft-block``'s block).
        crop_frames: during training, randomly crop longer utterances to this many frames
            (0 = never); evaluation always sees whole utterances.
        label_smoothing: cross-entropy label smoothing.
        layer_lr: learning rate of the layer-weight logits (no weight decay); 0 = ``lr``.
        refit: after early stopping on the validation speakers, retrain from scratch on
            training + validation speakers for the best epoch count (more data, same
            selection; the test fold is still never seen).
        optimizer: ``adamw`` (decoupled weight decay) or ``adam`` (weight decay as L2 in the
            gradient, as published ResLSTM-SA code uses ``torch.optim.Adam``).
        scheduler: ``onecycle`` (warm-up then cosine decay over ``epochs``),
            ``cosine-restarts`` (SGDR: cosine annealing restarted every ``t0`` epochs, the
            period multiplied by ``t_mult`` after each restart; stepped per batch),
            ``exponential`` (the rate times ``lr_decay`` per epoch, applied smoothly per batch;
            the published MLL schedule is 7/8 per epoch) or ``constant``.
        lr_decay: per-epoch factor of the ``exponential`` scheduler, in (0, 1].
        grad_clip: clip the global gradient norm to this value (0 = off).
        losses: the objective (:class:`serkit.training.losses.LossConfig`): cross-entropy by
            default; KL / focal / centre / SupCon terms with their weights.
        augment_prob: with augmentation variants (e.g. the EAM bank), the chance per
            utterance per epoch of training on a random variant (soft label) instead.
    """

    epochs: int = 40
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-2
    patience: int = 8
    class_weighted: bool = True
    pretrained_lr_scale: float = 0.1
    crop_frames: int = 0
    label_smoothing: float = 0.0
    layer_lr: float = 1e-2
    refit: bool = False
    optimizer: Literal["adamw", "adam"] = "adamw"
    scheduler: Literal["onecycle", "cosine-restarts", "exponential", "constant"] = "onecycle"
    t0: int = 10
    t_mult: int = 1
    lr_decay: float = 0.875
    grad_clip: float = 0.0
    losses: LossConfig = field(default_factory=LossConfig)
    augment_prob: float = 0.5


@dataclass
class TrainReport:
    """What one training run did: epochs run, the epoch kept (best validation UA; the last one
    without validation data, ``best_val_ua`` then ``None``) and, for multi-term objectives, the
    summed loss terms of the last epoch."""

    epochs: int
    best_epoch: int
    best_val_ua: float | None
    loss_parts_last_epoch: dict[str, float] | None = None


def collate(feats: list[np.ndarray], crop: int = 0, rng: np.random.Generator | None = None):
    """Pad ``(L, T_i, D)`` arrays into ``x: (N, L, T, D)`` float32 and ``mask: (N, T)``.

    Two-modality items (:class:`~serkit.nn.multimodal.Bimodal`) give a
    :class:`~serkit.nn.multimodal.BimodalBatch` as ``x`` (no cropping)."""
    if feats and isinstance(feats[0], Bimodal):
        return collate_bimodal(feats)
    if crop and rng is not None:
        out = []
        for f in feats:
            t = f.shape[1]
            if t > crop:
                s = int(rng.integers(0, t - crop + 1))
                f = f[:, s : s + crop]
            out.append(f)
        feats = out
    n = len(feats)
    L, _, D = feats[0].shape
    T = max(f.shape[1] for f in feats)
    x = np.zeros((n, L, T, D), np.float32)
    mask = np.zeros((n, T), bool)
    for i, f in enumerate(feats):
        x[i, :, : f.shape[1]] = f
        mask[i, : f.shape[1]] = True
    return torch.from_numpy(x), torch.from_numpy(mask)


def _length_bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator):
    """Random batches of similar length: shuffle, sort within windows of 8 batches, shuffle
    the batch order. Cuts padding (and the time steps a spiking head must run) on long-tailed
    data."""
    perm = rng.permutation(len(lengths))
    window = batch_size * 8
    batches = []
    for k in range(0, len(perm), window):
        chunk = perm[k : k + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        parts = [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
        if len(parts) > 1 and len(parts[-1]) == 1:  # no batch of one (BatchNorm needs two)
            last = parts.pop()  # (pop first: the index below must refer to the new last batch)
            parts[-1] = np.concatenate([parts[-1], last])
        if len(parts) == 1 and len(parts[0]) == 1 and batches:  # a last window of one item
            last = parts.pop()
            batches[-1] = np.concatenate([batches[-1], last])
        batches += parts
    for b in rng.permutation(len(batches)):
        yield batches[b]


@torch.no_grad()
def _to(x, dev: str):
    """A tensor, or a dataclass of tensors (a multimodal batch), on ``dev``."""
    if dev == "cpu" and not (isinstance(x, torch.Tensor) and x.device.type != "cpu"):
        return x
    if isinstance(x, torch.Tensor):
        return x.to(dev)
    if dataclasses.is_dataclass(x):
        return dataclasses.replace(
            x, **{f.name: _to(getattr(x, f.name), dev) for f in dataclasses.fields(x)}
        )
    return x


def predict_logits(model: nn.Module, feats: list[np.ndarray], batch_size: int = 32) -> np.ndarray:
    """Logits ``(N, C)`` in input order; batches are length-sorted to keep padding small."""
    from serkit.core.device import get_device

    dev = get_device()
    model.eval()
    first = next(model.parameters(), None)
    home = first.device if first is not None else torch.device("cpu")
    model.to(dev)
    order = np.argsort([f.shape[1] for f in feats], kind="stable")
    out = [None] * len(feats)
    try:
        for k in range(0, len(order), batch_size):
            idx = order[k : k + batch_size]
            x, m = collate([feats[i] for i in idx])
            logits = model(_to(x, dev), _to(m, dev)).detach().cpu().numpy()
            for j, i in enumerate(idx):
                out[i] = logits[j]
    finally:
        model.to(home)  # back where it was (models live on the CPU between calls)
    return np.stack(out)


def make_optimizer(groups: list[dict], cfg: TrainConfig, steps_per_epoch: int):
    """Optimizer and per-batch LR scheduler (or ``None``) for ``cfg``; ``groups`` carry their lr."""
    if cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(groups)
    elif cfg.optimizer == "adam":
        opt = torch.optim.Adam(groups)
    else:
        raise ConfigError(f"train.optimizer must be 'adamw' or 'adam', got {cfg.optimizer!r}")
    if cfg.scheduler == "onecycle":
        total = max(1, cfg.epochs * steps_per_epoch)
        if total < 4:  # too short to warm up and decay: constant rate
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
        else:
            # warm-up over 10 % of the steps, at least 2: torch's OneCycleLR divides by zero when
            # the warm-up ends on step 0 (exactly 10 steps with pct_start 0.1, e.g. a 1-epoch refit)
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt,
                max_lr=[g["lr"] for g in groups],
                total_steps=total,
                pct_start=max(0.1, 2.0 / total),
            )
    elif cfg.scheduler == "cosine-restarts":
        if cfg.t0 < 1 or cfg.t_mult < 1:
            raise ConfigError("train.t0 and train.t_mult must be >= 1")
        sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            opt, T_0=cfg.t0 * steps_per_epoch, T_mult=cfg.t_mult
        )
    elif cfg.scheduler == "exponential":
        if not 0 < cfg.lr_decay <= 1:
            raise ConfigError(f"train.lr_decay must be in (0, 1], got {cfg.lr_decay}")
        per_step = cfg.lr_decay ** (1.0 / max(1, steps_per_epoch))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: per_step**step)
    elif cfg.scheduler == "constant":
        sched = None
    else:
        raise ConfigError(
            f"train.scheduler must be onecycle, cosine-restarts, exponential or constant, "
            f"got {cfg.scheduler!r}"
        )
    return opt, sched


class BestWeights:
    """Early stopping: keeps the weights of the best-scoring epoch; ``update`` says when
    ``patience`` epochs in a row did not improve on it."""

    def __init__(self, model: nn.Module, patience: int):
        self.model, self.patience = model, patience
        self.score: float | None = None
        self.epoch, self.state, self.bad = 0, None, 0

    def update(self, score: float, epoch: int) -> bool:
        """Record ``epoch``'s validation ``score`` (higher is better); ``True`` = stop now."""
        if self.score is None or score > self.score:
            self.score, self.epoch, self.bad = score, epoch, 0
            self.state = copy.deepcopy(self.model.state_dict())
            return False
        self.bad += 1
        return self.bad >= self.patience

    def restore(self) -> None:
        """Load the best weights (no-op when no epoch was scored: the last one stays)."""
        if self.state is not None:
            self.model.load_state_dict(self.state)


def run_epochs(
    model: nn.Module,
    params: list,
    opt: torch.optim.Optimizer,
    sched,
    epochs: int,
    batches: Callable[[int], object],
    loss_of: Callable[[object], torch.Tensor | None],
    grad_clip: float = 0.0,
    after_epoch: Callable[[int, float], bool] | None = None,
    start_epoch: int = 0,
) -> int:
    """The one optimisation loop of serkit (classifiers, regressors, distillation).

    For each epoch ``start_epoch + 1 .. epochs``: ``model.train()``, then for every item of
    ``batches(epoch)``: ``loss_of(item)`` (``None`` = skip the item), zero grad, backward,
    clip the norm of ``params`` at ``grad_clip`` (0 = no clipping), optimiser step, scheduler
    step (per batch; ``sched`` may be ``None``). Then ``after_epoch(epoch, mean batch loss)``;
    ``True`` stops early. Returns the last epoch run."""
    epoch = start_epoch
    for epoch in range(start_epoch + 1, epochs + 1):
        model.train()
        total, n = 0.0, 0
        for item in batches(epoch):
            loss = loss_of(item)
            if loss is None:
                continue
            opt.zero_grad()
            loss.backward()
            if grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            opt.step()
            if sched is not None:
                sched.step()
            total += float(loss.detach())
            n += 1
        if after_epoch is not None and after_epoch(epoch, total / max(n, 1)):
            break
    return epoch


def _param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """Layer-weight logits at ``cfg.layer_lr`` without weight decay; pretrained modules (under an
    attribute named ``pretrained``) at ``cfg.lr * cfg.pretrained_lr_scale``; everything else at
    ``cfg.lr``."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    layer_params = [p for n, p in named if n.endswith("featurizer.logits")]
    pre = [p for n, p in named if ".pretrained." in f".{n}" and not n.endswith("featurizer.logits")]
    other = [
        p for n, p in named if not n.endswith("featurizer.logits") and ".pretrained." not in f".{n}"
    ]
    groups = [{"params": other, "lr": cfg.lr, "weight_decay": cfg.weight_decay}]
    if pre:
        groups.append(
            {
                "params": pre,
                "lr": cfg.lr * cfg.pretrained_lr_scale,
                "weight_decay": cfg.weight_decay,
            }
        )
    if layer_params:
        groups.append({"params": layer_params, "lr": cfg.layer_lr or cfg.lr, "weight_decay": 0.0})
    return groups


class _Objective:
    """The loss of one batch: ``loss_fn`` when given, else class-weighted cross-entropy, or
    :class:`MultiLoss` for soft labels / extra terms (reading the readout's input via a hook)."""

    def __init__(self, model, cfg: TrainConfig, labels, n_classes, loss_fn, soft: bool, readout):
        counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
        self.weight = None
        if cfg.class_weighted:
            w = np.where(
                counts > 0, counts.sum() / np.maximum(counts, 1) / max(1, (counts > 0).sum()), 0.0
            )
            self.weight = torch.tensor(w, dtype=torch.float32)
        self.loss_fn, self.cfg, self.multi, self.hook, self.captured = loss_fn, cfg, None, None, {}
        self.parts: dict[str, float] = {}
        if loss_fn is None and (cfg.losses != LossConfig() or soft):
            rep_dim = None
            if cfg.losses.needs_embedding:
                out = readout if readout is not None else getattr(model, "out", None)
                if not isinstance(out, nn.Linear):
                    raise ConfigError(
                        "centre / SupCon losses need a head whose final layer is a Linear named "
                        "'out'"
                    )
                rep_dim = out.in_features
                self.hook = out.register_forward_pre_hook(
                    lambda _m, inp: self.captured.__setitem__("h", inp[0])
                )
            self.multi = MultiLoss(
                cfg.losses, n_classes, counts, rep_dim, self.weight, cfg.label_smoothing
            )

    def param_groups(self) -> list[dict]:
        return (
            self.multi.param_groups(self.cfg.lr, self.cfg.weight_decay)
            if self.multi is not None
            else []
        )

    def __call__(self, logits, y, t):
        if self.loss_fn is not None:
            return self.loss_fn(logits, y)
        if self.multi is not None:
            loss, parts = self.multi(logits, t, self.captured.get("h"))
            for k, v in parts.items():
                self.parts[k] = self.parts.get(k, 0.0) + v
            return loss
        w = None if self.weight is None else self.weight.to(logits.device)
        return F.cross_entropy(logits, y, weight=w, label_smoothing=self.cfg.label_smoothing)

    def close(self) -> None:
        if self.hook is not None:
            self.hook.remove()


def _batch(feats, t_all, idx, variants, cfg: TrainConfig, rng):
    """One training batch: clean clips, each swapped for a random variant (soft label) with
    probability ``cfg.augment_prob``. Returns ``(x, mask, soft targets (B, C))``."""
    batch = [feats[i] for i in idx]
    t = t_all[idx].clone()
    if variants is not None:
        for b, i in enumerate(idx):
            if variants[i] and rng.random() < cfg.augment_prob:
                f, soft = variants[i][int(rng.integers(len(variants[i])))]
                batch[b] = f
                t[b] = torch.from_numpy(np.asarray(soft, np.float32))
    x, m = collate(batch, cfg.crop_frames, rng)
    return x, m, t


def _val_ua(model: nn.Module, val) -> float:
    pred = predict_logits(model, val[0]).argmax(1)
    with warnings.catch_warnings():  # validation speakers may lack a class (natural corpora)
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(val[1], pred)) if len(set(val[1])) > 0 else 0.0


def train_classifier(
    model: nn.Module,
    feats: list[np.ndarray],
    labels: np.ndarray,
    n_classes: int,
    cfg: TrainConfig,
    seed: int,
    val: tuple[list[np.ndarray], np.ndarray] | None = None,
    loss_fn: Callable | None = None,
    variants: list[list[tuple[np.ndarray, np.ndarray]]] | None = None,
    readout: nn.Module | None = None,
    soft_targets: np.ndarray | None = None,
) -> TrainReport:
    """Train ``model(x (N, L, T, D), mask (N, T)) -> logits (N, C)`` in place and keep the
    best-validation weights (early stopping after ``cfg.patience`` epochs without a better UA).

    Args:
        variants: optional per-utterance augmented versions ``(feats (L, T, D), soft label (C,))``
            (same ``T`` as the clean clip); each epoch an utterance is swapped for a random
            variant with probability ``cfg.augment_prob``.
        readout: the final ``Linear`` whose input is the pooled representation that centre /
            SupCon losses read (default: ``model.out``).
        soft_targets: ``(N, C)`` target distributions of the clean clips (label-distribution
            learning) instead of one-hot rows; the objective becomes :class:`MultiLoss`.

    The objective is ``loss_fn(logits, y)`` when given, else plain (class-weighted)
    cross-entropy, or :class:`~serkit.training.losses.MultiLoss` when ``cfg.losses`` asks for
    more than cross-entropy or variants bring soft labels. Parameters whose name ends in
    ``featurizer.logits`` (the layer weights) train at ``cfg.layer_lr`` without weight decay.
    """
    from serkit.core.device import get_device

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    dev = get_device()
    model.to(dev)
    if not (variants is not None and any(len(v) for v in variants)):
        variants = None
    objective = _Objective(
        model,
        cfg,
        labels,
        n_classes,
        loss_fn,
        variants is not None or soft_targets is not None,
        readout,
    )
    if objective.multi is not None:
        objective.multi.to(dev)
        if objective.multi.ce_weight is not None:
            objective.multi.ce_weight = objective.multi.ce_weight.to(dev)
    groups = _param_groups(model, cfg) + objective.param_groups()
    opt, sched = make_optimizer(groups, cfg, math.ceil(len(feats) / cfg.batch_size))
    y_all = torch.from_numpy(labels.astype(np.int64))
    t_all = (
        torch.from_numpy(np.asarray(soft_targets, np.float32))
        if soft_targets is not None
        else F.one_hot(y_all, n_classes).float()
    )
    lengths = np.array([f.shape[1] for f in feats])
    params = [p for g in groups for p in g["params"]]
    keeper = BestWeights(model, cfg.patience)

    def batches(epoch: int):
        objective.parts = {}
        return _length_bucketed_batches(lengths, cfg.batch_size, rng)

    def loss_of(idx):
        x, m, t = _batch(feats, t_all, idx, variants, cfg, rng)
        return objective(model(_to(x, dev), _to(m, dev)), _to(y_all[idx], dev), _to(t, dev))

    def after_epoch(epoch: int, _loss: float) -> bool:
        if val is None or len(val[0]) == 0:
            return False
        return keeper.update(_val_ua(model, val), epoch)

    try:
        epoch = run_epochs(
            model, params, opt, sched, cfg.epochs, batches, loss_of, cfg.grad_clip, after_epoch
        )
    finally:
        objective.close()
    keeper.restore()  # (without validation data the last epoch is kept as it is)
    model.to("cpu")
    model.eval()
    return TrainReport(
        epoch,
        keeper.epoch if keeper.score is not None else epoch,
        keeper.score,
        {k: round(v, 4) for k, v in objective.parts.items()} or None,
    )
