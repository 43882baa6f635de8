"""``serkit train``: fit one model on a whole manifest (validation speakers held out for early
stopping) and save it with its frontend, labels, cost, provenance and model card."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from serkit.core.config import to_dict
from serkit.core.cost import CLIP_S, Cost
from serkit.core.errors import ConfigError
from serkit.core.io import seed_everything
from serkit.estimators import FitReport, build_model
from serkit.estimators.io import save_model
from serkit.experiment.config import ExperimentConfig, RunConfig, describe_train_norm
from serkit.experiment.dataset import fit_val_split, load_dataset


@dataclass
class TrainResult:
    """What ``serkit train`` saved: labels, the fit report and the cost per 3 s clip."""

    labels: list[str]
    fit: FitReport
    cost: Cost


def calibrate(model, val, min_confidence: float) -> dict:
    """Temperature fitted on the validation speakers' predictions (of the model fitted before any
    refit on them: :attr:`Model.val_proba`), ECE before/after on them, and
    the abstention threshold the runners apply (calibrated top probability below it:
    ``uncertain``) with the validation coverage it gives."""
    from serkit.core.calibration import apply_temperature, coverage_at, ece, fit_temperature

    p = model.validation_proba(val)
    t = fit_temperature(p, val.labels)
    q = apply_temperature(p, t)
    return {
        "temperature": t,
        "fitted_on": f"{len(val.labels)} validation clips ({len(set(val.speakers))} speakers)",
        "ece_val_before": ece(p, val.labels),
        "ece_val_after": ece(q, val.labels),
        "min_confidence": min_confidence,
        "val_coverage": round(coverage_at(q, min_confidence), 4),
    }


def train_model(
    cfg: ExperimentConfig,
    out: str | Path,
    seed: int = 0,
    provenance: dict | None = None,
    run: RunConfig | None = None,
    card: dict | None = None,
    log=print,
    min_confidence: float = 0.4,
) -> TrainResult:
    """Fit ``cfg.model`` on every utterance of the manifest (``cfg.val_fraction`` of the
    speakers held out for early stopping and then refitted, as in bench) and save it to ``out``."""
    if cfg.normalize == "speaker":
        raise ConfigError(
            "normalize='speaker' is an evaluation protocol (serkit bench / tune): a saved model "
            "cannot carry a new speaker's statistics; train with normalize=none or corpus"
        )
    # no protocol check: a final fit tests on no fold (a corpus with rule-derived labels, which
    # a protocol refuses to test on, trains here like any other)
    data = load_dataset(cfg, run or RunConfig(), log, check_protocol=False)
    seed_everything(seed)
    idx = list(range(len(data.utts)))
    fit_idx, val_idx = fit_val_split(data.utts, idx, seed, cfg)
    model = build_model(cfg.model, len(data.labels), data.n_layers, data.dim)
    t0 = time.time()
    v_fit = v_val = None
    if cfg.augment.name != "none":  # the same variants a bench fold trains on
        if cfg.augment.name == "covada":
            raise ConfigError(
                "augment.name=covada is a two-model fit that only serkit bench runs; train with "
                "noise, domain or eam"
            )
        from serkit.training.augment import PER_CLIP

        bank, _ = data.augment_bank(
            cfg.augment,
            seed,
            fit_idx + val_idx if cfg.augment.name in PER_CLIP else None,
            progress=(run or RunConfig()).progress,
        )
        v_fit = data.bank_variants(bank, fit_idx, fit_idx)
        v_val = data.bank_variants(bank, val_idx, fit_idx + val_idx)
    val = data.fit_split(val_idx, cfg.train_norm, v_val, pool=idx) if val_idx else None
    report = model.fit(data.fit_split(fit_idx, cfg.train_norm, v_fit, pool=idx), val, seed)
    calibration = calibrate(model, val, min_confidence) if val_idx else {}
    domain = None
    if cfg.normalize == "corpus":  # from now on raw features, standardised for a domain
        st = data.normalizer.mean_stats()
        model.set_domain(st.mean, st.std)
        model.adapt_balance = cfg.adapt_balance  # adapt then also balances its answers
        domain = {
            "normalize": "corpus",
            "unadapted_statistics": "the mean of the training corpora's frame statistics "
            f"({', '.join(sorted(data.normalizer.stats))})",
            "training_clips": describe_train_norm(cfg.train_norm),
            "adapt": "serkit adapt / adapt='online' move them toward the user's speech"
            + (
                f", and add {cfg.adapt_balance:g} x the shrinkage weight x the per-class offsets "
                "that balance its answers on that speech"
                if cfg.adapt_balance
                else ""
            ),
        }
    sample = data.split(idx[:32])
    cost = model.cost(sample.feats, [u.duration for u in data.utts[:32]]).with_encoder(
        data.encoder_macs(CLIP_S), data.dsp_macs(CLIP_S)
    )
    prov = dict(provenance or {})
    prov.update(
        corpus=",".join(sorted({u.corpus for u in data.utts})),
        n_utterances=len(data.utts),
        n_speakers=len({u.speaker for u in data.utts}),
        seed=seed,
        fit=report.to_dict(),
        cost=cost.to_dict(),
        fit_s=round(time.time() - t0, 2),
        val_speakers=data.speakers(val_idx),
        experiment=to_dict(cfg.to_dict()),
        **({"standardisation": domain} if domain else {}),
    )
    parts = model.cost_parts(sample.feats, [u.duration for u in data.utts[:32]])
    if parts is not None:  # multimodal: energy per part and the text encoder's, per 3 s clip
        prov.update(cost_parts=parts, text_encoder_macs=data.text_encoder_macs(idx, CLIP_S))
    card = {
        "model": cfg.model.name,
        "frontend": cfg.frontend.name,
        "labels": data.labels,
        "training_data": {
            "corpora": sorted({u.corpus for u in data.utts}),
            "languages": sorted({u.language or "?" for u in data.utts}),
            "utterances": len(data.utts),
            "speakers": len({u.speaker for u in data.utts}),
        },
        "benchmark": prov.get("benchmark"),
        "licence": "the weights inherit the terms of the training corpora",
        "calibration": calibration,
        **(card or {}),
    }
    save_model(out, model, data.frontend, data.labels, prov, card)
    return TrainResult(data.labels, report, cost)
