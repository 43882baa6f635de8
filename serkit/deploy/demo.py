"""``serkit demo``: the bundled model on a few synthesised utterances (espeak-ng), or a file."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import soundfile as sf

from serkit.audio.synth import espeak_available, espeak_clip, tone_clip

LINES = [
    ("calm", "The meeting is at ten tomorrow morning.", 140, 40),
    ("fast-high", "I cannot believe you did that again!", 230, 85),
    ("slow-low", "I miss the old house. Nothing is the same.", 95, 20),
]


def demo_clips(folder: Path) -> tuple[list[Path], str]:
    """Write the demo clips into ``folder``: espeak-ng speech, or synthetic tones without it.
    Returns the files and what they are."""
    clips = []
    if espeak_available():
        for name, text, speed, pitch in LINES:
            x, sr = espeak_clip(text, voice="en", speed=speed, pitch=pitch)
            clips.append(folder / f"espeak_{name}.wav")
            sf.write(clips[-1], x, sr)
        return clips, "espeak-ng speech"
    for name, f0, rate in [("low", 110, 3.0), ("high", 260, 6.0)]:
        clips.append(folder / f"tone_{name}.wav")
        sf.write(clips[-1], tone_clip(2.5, f0=f0, rate_hz=rate), 16000)
    return clips, "synthetic tones (espeak-ng not installed)"


def run_demo(rec, audio: Path | None = None) -> Iterator[str]:
    """Lines about the model, then per clip (``audio``, or the synthesised ones) its prediction
    and what it cost."""
    from serkit.deploy.batch import format_prediction

    yield from describe(rec)
    with tempfile.TemporaryDirectory() as tmp:
        clips = [audio] if audio is not None else demo_clips(Path(tmp))[0]
        for c in clips:
            pred = rec.predict(c)
            pred.source = Path(c).name
            cost = rec.cost(pred.duration)
            yield format_prediction(pred)
            yield (
                f"    cost: {cost.params_trainable:,} trainable params; head {cost.macs_head:,} "
                "MACs = "
                f"{cost.energy_head_mj:.5f} mJ; encoder {cost.energy_encoder_mj:.3f} mJ"
                + (
                    ""
                    if cost.energy_gate_mj is None
                    else f"; speech check {cost.energy_gate_mj:.3f} mJ"
                )
                + (
                    ""
                    if cost.energy_total_mj is None
                    else f"; whole pipeline {cost.energy_total_mj:.3f} mJ"
                )
                + " (45 nm)"
            )


def describe(rec) -> list[str]:
    """The model card as lines: what the model is, its training data and licences, how it was
    measured, its calibration, intended use and limits (from its file and its bundle entry,
    never typed in here)."""
    from serkit.deploy.bundles import bundle_of

    lines = [f"model: {rec.model.name} on {rec.frontend.spec()['name']}, labels {rec.labels}"]
    b = bundle_of(getattr(rec, "path", None))
    if b is not None:
        lines += [
            f"bundle {b.name!r}: {b.description}",
            f"training data: {b.training_data}",
            f"licence: {b.licence}",
        ]
    bm = rec.provenance.get("benchmark", {})
    if bm:
        ua = bm.get("ua_corpus_mean") or bm.get("ua") or {}
        what = "UA, mean over held-out corpora," if bm.get("ua_corpus_mean") else "UA"
        lines.append(
            f"trained on {rec.provenance.get('corpus')}; {bm.get('protocol')} {what} "
            f"{ua.get('mean'):.3f} +- "
            f"{ua.get('std'):.3f} ({len(bm.get('seeds') or [])} seeds)"
        )
        if bm.get("ua_per_corpus"):
            per = ", ".join(f"{c} {m['mean']:.3f}" for c, m in bm["ua_per_corpus"].items())
            lines.append(
                f"  per held-out corpus: {per}; mean {bm['ua_corpus_mean']['mean']:.3f} +- "
                f"{bm['ua_corpus_mean']['std']:.3f}"
            )
        for k, v in (bm.get("adapted_ua_corpus_mean") or {}).items():
            lines.append(
                f"  after `serkit adapt` ({k[5:]} unlabelled clips per corpus): mean "
                f"{v['mean']:.3f}"
            )
    cal = rec.card.get("calibration") or {}
    if cal:
        lines.append(
            f"calibration: temperature {cal['temperature']} (fitted on {cal['fitted_on']}); "
            "answers below "
            f"{cal['min_confidence']} confidence are 'uncertain'; silence/noise is 'no_speech'"
        )
    if b is not None and b.intended_use:
        lines += [f"intended use: {b.intended_use}", f"limits: {b.limits}"]
    return lines
