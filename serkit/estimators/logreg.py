"""``logreg``: logistic regression on mean+std pooled features (the baseline).

For multi-layer frontends the layer is chosen per training fold by an inner speaker-grouped
cross-validation over the *training* speakers only (``layer: auto``), or fixed (``layer: 2``),
or all layers are concatenated (``layer: concat``). The fitted state is plain arrays (scaler
statistics, coefficients), so a model file holds no pickle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from serkit.core.cost import Cost
from serkit.core.errors import ConfigError
from serkit.data.protocols import single_class_corpora
from serkit.estimators.base import FitReport, Model, Moments, Split, register
from serkit.estimators.layer_choice import pooled_stats, select_layer
from serkit.training.augment import PER_CLIP

CONCAT = -1  # the stored layer code of ``layer: concat``


class PooledLogReg(torch.nn.Module):
    """A fitted ``logreg`` as a torch head: ``(1, L, T, D)`` states (the layers it reads) ->
    mean and population std over frames -> its scaler -> its linear map -> logits ``(1, C)``
    (classes it never saw get -inf: probability 0, as :meth:`LogReg.predict_proba`)."""

    def __init__(self, state: dict, n_classes: int):
        super().__init__()
        f64 = {k: np.asarray(state[k], np.float64) for k in ("scaler_mean", "scaler_scale")}
        coef, b = np.asarray(state["coef"]), np.asarray(state["intercept"])
        if coef.shape[0] == 1:  # binary: sigmoid(l) = softmax([0, l])
            coef, b = np.concatenate([np.zeros_like(coef), coef]), np.concatenate([[0.0], b])
        full_w = np.zeros((n_classes, coef.shape[1]))
        full_b = np.full(n_classes, -np.inf)
        cls = np.asarray(state["classes"]).astype(int)
        full_w[cls], full_b[cls] = coef, b
        # fold the scaler into the linear map: ((v - m) / s) W^T + b = v (W / s)^T + (b - W m / s)
        w = full_w / f64["scaler_scale"]
        self.register_buffer("weight", torch.tensor(w, dtype=torch.float32))
        bias = np.where(np.isfinite(full_b), full_b - w @ f64["scaler_mean"], -1e9)
        self.register_buffer("bias", torch.tensor(bias, dtype=torch.float32))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        v = torch.cat([x.mean(2), x.std(2, unbiased=False)], dim=-1)  # (1, L, 2D)
        return v.reshape(v.shape[0], -1) @ self.weight.T + self.bias


@dataclass
class LogRegConfig:
    """``C``: inverse L2 strength, or ``auto``: chosen from ``C_grid`` together with the layer
    by the inner cross-validation; ``class_weight``: ``balanced`` (UA is the metric) or ``none``;
    ``layer``: ``auto`` | ``concat`` | an index; ``inner_folds``: speaker folds for ``auto``;
    ``inner_groups``: ``speaker`` (speaker-grouped inner folds) or ``corpus`` (leave one
    TRAINING corpus out when the training data has several: choices made for corpora not seen;
    the held-out corpus of an outer ``loco`` fold is never involved)."""

    C: float | Literal["auto"] = 1.0
    class_weight: Literal["balanced", "none"] = "balanced"
    layer: int | Literal["auto", "concat"] = "auto"
    inner_folds: int = 3
    max_iter: int = 3000
    C_grid: list[float] = field(default_factory=lambda: [0.001, 0.01, 0.1, 1.0])
    inner_groups: Literal["speaker", "corpus"] = "speaker"


def _variant_rows(split: Split, offset: int) -> list[tuple[int, np.ndarray, int]]:
    """``(clip row, variant's pooled statistics (L, 2D), label)`` of every augmented variant of
    ``split`` (rows counted from ``offset``; pooled as read, so a view computed on demand is
    never held whole). A logistic regression takes hard labels, so only label-preserving
    variants are accepted (soft label one-hot: ``noise``, ``domain``)."""
    rows = []
    for i, vs in enumerate(split.variants or []):
        for f, soft in vs:
            soft = np.asarray(soft)
            if soft.max() < 0.999:
                raise ConfigError(
                    "logreg trains on label-preserving variants only (augment.name noise or "
                    "domain), not on mixed ones with soft labels (eam)"
                )
            rows.append((offset + i, pooled_stats([f])[0], int(soft.argmax())))
    return rows


@register
class LogReg(Model):
    name = "logreg"
    config_cls = LogRegConfig
    # label-preserving variants become extra training rows (hard labels: no mixup)
    supports_augment = PER_CLIP

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.pipe = None
        self.layer: int | str | None = None

    def _pipe(self, C: float | None = None):
        cw = None if self.config.class_weight == "none" else self.config.class_weight
        C = (
            C
            if C is not None
            else (self.C if getattr(self, "C", None) is not None else self.config.C)
        )
        C = (
            C if isinstance(C, (int, float)) else 1.0
        )  # (a loaded model: C only mattered for fitting)
        return make_pipeline(
            StandardScaler(),
            LogisticRegression(C=C, class_weight=cw, max_iter=self.config.max_iter),
        )

    def _x(self, pooled: np.ndarray, layer) -> np.ndarray:
        return pooled.reshape(len(pooled), -1) if layer == "concat" else pooled[:, layer]

    def fit(self, train: Split, val: Split | None, seed: int) -> FitReport:
        # no early stopping: the final fit uses all training-fold speakers (fit + validation)
        p, y, spk = pooled_stats(train.feats), train.labels, list(train.speakers)
        n_fit = len(p)
        if val is not None and len(val):
            p, y = np.concatenate([p, pooled_stats(val.feats)]), np.concatenate([y, val.labels])
            spk += list(val.speakers)
        cfg = self.config
        groups, folds, train_only = spk, cfg.inner_folds, set()
        if cfg.inner_groups == "corpus" and train.corpora is not None:
            corp = list(train.corpora) + (list(val.corpora) if val is not None and len(val) else [])
            # a single-class corpus (BAVED's neutral level) or one with rule-derived labels
            # (baved-weak) trains in every inner part and is never held out: its inner UA would
            # be one class's recall, or a score against a rule
            train_only = single_class_corpora(corp, y.tolist()) | (
                set(train.train_only) & set(corp)
            )
            tested = len(set(corp)) - len(train_only)
            if tested >= 2:  # leave one training corpus out
                groups, folds = corp, tested
            else:
                train_only = set()
        # augmented variants (label-preserving: noise, domain): extra training rows that follow
        # their clip (same group in the inner folds, never scored there)
        aug_rows = _variant_rows(train, 0) + (
            _variant_rows(val, n_fit) if val is not None and len(val) else []
        )
        extra = None
        if aug_rows:
            src = np.array([i for i, _, _ in aug_rows])
            extra = (
                np.stack([f for _, f, _ in aug_rows]),
                np.array([c for _, _, c in aug_rows], y.dtype),
                [groups[i] or f"u{i}" for i in src],
            )
        choice, scores = cfg.layer, {}
        self.C = None
        if cfg.C == "auto":  # C (and the layer, when auto) by the inner folds, training data only
            if not cfg.C_grid:
                raise ConfigError("logreg C: auto needs a non-empty C_grid")
            if choice == "concat":
                raise ConfigError("logreg C: auto is for layer auto or an index, not concat")
            cand = list(range(p.shape[1])) if choice == "auto" else [choice]
            best = None
            for c in cfg.C_grid:
                _, sc0 = select_layer(
                    p[:, cand],
                    y,
                    groups,
                    folds,
                    lambda c=c: self._pipe(c),
                    extra=None if extra is None else (extra[0][:, cand], extra[1], extra[2]),
                    train_only=train_only,
                )
                sc = {cand[k]: v for k, v in sc0.items()}
                layer = max(sc, key=sc.get)
                scores.update({f"C={c:g}/layer={k}": v for k, v in sc.items()})
                top = max(sc.values())
                if best is None or top > best[0] + 1e-9:  # ties keep the stronger regularisation
                    best = (top, c, layer)
            _, self.C, chosen_layer = best
            if choice == "auto":
                choice = chosen_layer
        if choice == "auto" and p.shape[1] > 1:  # inner folds over the training speakers only
            self.layer, scores = select_layer(
                p, y, groups, folds, self._pipe, extra=extra, train_only=train_only
            )
        elif choice == "auto":
            self.layer = 0
        elif choice == "concat":
            self.layer = "concat"
        elif not 0 <= choice < p.shape[1]:
            raise ConfigError(
                f"logreg layer {choice} out of range (frontend has {p.shape[1]} layers)"
            )
        else:
            self.layer = choice
        self.val_proba = None
        if (
            len(p) > n_fit and len(set(y[:n_fit].tolist())) > 1
        ):  # held-out validation predictions, for calibration
            x_h, y_h = self._x(p[:n_fit], self.layer), y[:n_fit]
            if extra is not None:  # the fit clips' variants join, as in the final fit
                own = src < n_fit
                x_h = np.concatenate([x_h, self._x(extra[0][own], self.layer)])
                y_h = np.concatenate([y_h, extra[1][own]])
            held = self._pipe().fit(x_h, y_h)
            self.val_proba = np.zeros((len(p) - n_fit, self.n_classes))
            self.val_proba[:, held.classes_] = held.predict_proba(self._x(p[n_fit:], self.layer))
        x_all, y_all = self._x(p, self.layer), y
        if extra is not None:
            x_all = np.concatenate([x_all, self._x(extra[0], self.layer)])
            y_all = np.concatenate([y_all, extra[1]])
        self.pipe = self._pipe().fit(x_all, y_all)
        self.domain = self.inner = None
        return FitReport(
            layer=self.layer, inner_val_ua={str(k): v for k, v in scores.items()}, chosen_C=self.C
        )

    # --- the domain standardisation ------------------------------------------------------
    # A model trained on features standardised per corpus (``normalize: corpus``) takes raw
    # features once :meth:`set_domain` gives it the frame statistics of the domain it answers
    # for. Frame standardisation then mean+std pooling is an affine map of the raw pooled
    # statistics ([(m - mu) / sd, s / sd]), so the domain folds exactly into the scaler:
    # mean_ = [mu + sd * a_m, sd * a_s], scale_ = [sd * b_m, sd * b_s] with (a, b) the scaler
    # fitted on the standardised training clips (kept as ``inner_*``).
    domain: tuple[np.ndarray, np.ndarray] | None = None  # (mean, std), each (L, D)
    inner: tuple[np.ndarray, np.ndarray] | None = None  # (mean, scale) of the fitted scaler

    def states_read(self) -> list[int]:
        """The frontend layers this model reads (``(L, T, D)`` indices)."""
        return list(range(self.n_layers)) if self.layer == "concat" else [int(self.layer)]

    def set_domain(self, mean: np.ndarray, std: np.ndarray) -> None:
        """The model was fitted on frames standardised per domain; from now on it takes raw
        ``(L, T, D)`` features and standardises them with ``mean`` / ``std`` (each ``(L, D)`` or
        ``(L, 1, D)``, all frontend layers). :meth:`adapt` then re-estimates these."""
        mean = np.asarray(mean, np.float64).reshape(self.n_layers, -1)
        std = np.asarray(std, np.float64).reshape(self.n_layers, -1)
        if self.inner is None:
            scaler = self.pipe[0]
            self.inner = (np.array(scaler.mean_), np.array(scaler.scale_))
        self.domain = (mean, std)
        a, b = (x.reshape(len(self.states_read()), 2, -1) for x in self.inner)
        mu, sd = mean[self.states_read()], std[self.states_read()]
        m = np.stack([mu + sd * a[:, 0], sd * a[:, 1]], 1).reshape(-1)
        sc = np.stack([sd * b[:, 0], sd * b[:, 1]], 1).reshape(-1)
        scaler = self.pipe[0]
        scaler.mean_, scaler.scale_, scaler.var_ = m, sc, sc**2

    def adapt_moments(self, feats: list[np.ndarray]) -> Moments:
        """Moments of what the standardisation is estimated from: with a domain
        (:meth:`set_domain`), the frames of every layer (``(L, D)`` sums); otherwise ``feats``'
        pooled statistics (one vector per clip: what the scaler is fitted on)."""
        if not feats:
            raise ConfigError("adapt needs at least one clip")
        if self.domain is not None:  # frames of every layer, (L, D) sums
            total = Moments.of(feats[0], axis=1)
            for f in feats[1:]:
                total = total + Moments.of(f, axis=1)
            # and each clip's raw pooled statistics (what the folded scaler reads): for balancing
            # (all of them here; a running sum, online adaptation, keeps the most recent)
            total.clips = self._x(pooled_stats(feats), self.layer).astype(np.float32)
            return total
        return Moments.of(self._x(pooled_stats(feats), self.layer))

    def adapt_from(self, moments: Moments) -> dict:
        """With a domain: the domain's frame mean/std from ``moments``, folded into the scaler;
        otherwise the scaler's mean/variance from ``moments`` (coefficients kept either way)."""
        if self.domain is not None:
            mean, std = moments.mean_std(var_floor=1e-10)
            self.set_domain(mean, std)
            return {
                "standardize": "the domain's frame mean/std (per-corpus model)",
                "frames": moments.n,
            }
        scaler = self.pipe[0]
        mean, std = moments.mean_std(var_floor=0.0)
        scaler.mean_, scaler.var_ = mean, std**2
        scaler.scale_ = np.where(scaler.var_ > 1e-12, np.sqrt(scaler.var_), 1.0)
        return {"standardize": "scaler mean/variance of the pooled statistics", "clips": moments.n}

    #: share (0-1) of the answer-balancing offsets an adaptation adds (``adapt_balance`` of
    #: the experiment that trained it; kept in the state when set)
    adapt_balance: float = 0.0

    def adapt_toward(self, moments: Moments, weight: float = 1.0, base: dict | None = None) -> dict:
        """The standardisation blended as every model does; then, with a domain and
        ``adapt_balance``, per-class offsets join the intercept: ``adapt_balance * weight * b``,
        ``b`` the offsets under which the answers on the adaptation clips (``moments.clips``,
        under the blended standardisation) are balanced
        (:func:`~serkit.core.calibration.balancing_offsets`): a domain shift cannot make one
        class vanish, and little speech moves the answers little."""
        info = super().adapt_toward(moments, weight, base)
        clips = moments.clips
        if self.domain is None or not self.adapt_balance or clips is None or not len(clips):
            return info
        from serkit.core.calibration import balancing_offsets

        lr = self.pipe[-1]
        z = self.pipe.decision_function(np.asarray(clips, np.float64))
        binary = z.ndim == 1  # one logit: the classes' logits are [0, z]
        off = balancing_offsets(np.stack([np.zeros_like(z), z], 1) if binary else z)
        off = self.adapt_balance * weight * off  # per class, as added to the logits
        lr.intercept_ = lr.intercept_ + (np.array([off[1] - off[0]]) if binary else off)
        return {
            **info,
            "balance": {
                "share": self.adapt_balance,
                "clips": len(clips),
                "offsets": {str(c): round(float(v), 4) for c, v in zip(lr.classes_.tolist(), off)},
            },
        }

    def torch_head(self) -> PooledLogReg:
        """This fitted model as a torch module on the states it reads (ONNX export, gradients)."""
        return PooledLogReg(self.state(), self.n_classes).eval()

    def embedding(self, feats: list[np.ndarray]) -> np.ndarray:
        """``(N, F)``: the standardised pooled statistics, the vector the linear map reads."""
        return self.pipe[0].transform(self._x(pooled_stats(feats), self.layer)).astype(np.float32)

    def predict_proba(self, feats: list[np.ndarray]) -> np.ndarray:
        proba = self.pipe.predict_proba(self._x(pooled_stats(feats), self.layer))
        out = np.zeros((len(feats), self.n_classes))
        out[:, self.pipe.classes_] = proba  # classes absent from training get probability 0
        return out

    def cost(self, feats, durations) -> Cost:
        """Per clip: pooling (T*D adds for the mean, T*D MACs for the variance), scaler, logits."""
        lr = self.pipe[-1]
        d_in = lr.coef_.shape[1]
        frames = np.array([f.shape[1] for f in feats], dtype=float)
        per_s = float(np.mean(frames / np.maximum(np.array(durations, dtype=float), 1e-3)))
        d = d_in // 2
        fixed = d_in + d_in * lr.coef_.shape[0]  # per clip, whatever its length
        c = Cost.per_clip(lr.coef_.size + lr.intercept_.size, per_s * d, per_s * d)
        return Cost(c.params_trainable, c.macs_head + fixed, c.acs_head)

    def state(self) -> dict:
        scaler, lr = self.pipe[0], self.pipe[-1]
        return {
            "layer": np.array([CONCAT if self.layer == "concat" else int(self.layer)]),
            "scaler_mean": scaler.mean_,
            "scaler_scale": scaler.scale_,
            "scaler_var": scaler.var_,
            "coef": lr.coef_,
            "intercept": lr.intercept_,
            "classes": lr.classes_,
            **(
                {}
                if self.domain is None
                else {
                    "domain_mean": self.domain[0],
                    "domain_std": self.domain[1],
                    "inner_mean": self.inner[0],
                    "inner_scale": self.inner[1],
                }
            ),
            **({"adapt_balance": np.array([self.adapt_balance])} if self.adapt_balance else {}),
        }

    _KEYS = ("layer", "scaler_mean", "scaler_scale", "scaler_var", "coef", "intercept", "classes")
    _DOMAIN_KEYS = ("domain_mean", "domain_std", "inner_mean", "inner_scale")

    def load_state(self, state: dict) -> None:
        keys = set(state) - {"adapt_balance"}
        want = set(self._KEYS) | (set(self._DOMAIN_KEYS) if "domain_mean" in keys else set())
        if keys != want:
            raise ValueError(
                f"logreg state: missing {sorted(want - keys)}, unexpected {sorted(keys - want)}"
            )
        f = int(np.asarray(state["coef"]).shape[-1])
        shapes = {k: tuple(np.shape(state[k])) for k in keys if k != "layer"}
        ok = (
            all(shapes[k] == (f,) for k in ("scaler_mean", "scaler_scale", "scaler_var"))
            and shapes["intercept"] == (np.shape(state["coef"])[0],)
            and shapes["classes"][0]
            in ((2,) if shapes["intercept"] == (1,) else shapes["intercept"])
            and all(
                shapes[k] == (self.n_layers, self.dim)
                for k in ("domain_mean", "domain_std")
                if k in keys
            )
            and all(shapes[k] == (f,) for k in ("inner_mean", "inner_scale") if k in keys)
        )
        if not ok:
            raise ValueError(f"logreg state: inconsistent shapes {shapes}")
        code = int(np.asarray(state["layer"]).ravel()[0])
        self.layer = "concat" if code == CONCAT else code
        self.pipe = self._pipe()
        scaler, lr = self.pipe[0], self.pipe[-1]
        scaler.mean_, scaler.scale_, scaler.var_ = (
            np.asarray(state[k], np.float64) for k in ("scaler_mean", "scaler_scale", "scaler_var")
        )
        scaler.n_features_in_ = scaler.mean_.size
        scaler.n_samples_seen_ = 1
        lr.coef_, lr.intercept_ = (
            np.asarray(state["coef"], np.float64),
            np.asarray(state["intercept"], np.float64),
        )
        lr.classes_ = np.asarray(state["classes"]).astype(np.int64)
        lr.n_features_in_ = lr.coef_.shape[1]
        self.domain = self.inner = None
        self.adapt_balance = (
            float(np.asarray(state["adapt_balance"]).ravel()[0])
            if "adapt_balance" in state
            else 0.0
        )
        if "domain_mean" in state:  # the composed scaler above is already consistent with it
            self.domain = tuple(
                np.asarray(state[k], np.float64) for k in ("domain_mean", "domain_std")
            )
            self.inner = tuple(
                np.asarray(state[k], np.float64) for k in ("inner_mean", "inner_scale")
            )
