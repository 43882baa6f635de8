"""Explanations linked to acoustic cues (``serkit explain MODEL FILE|MANIFEST --out DIR``).

For a clip and a trained model (:class:`~serkit.deploy.recognizer.Recognizer`):

1. **Saliency over time and mel bands** for the predicted class. *Gradient x input*: the
   log-probability of the class is differentiated through the head AND the torch-rebuilt
   Whisper encoder down to the 80-band log-mel input, ``|grad * (mel - mel.min())|`` summed
   over bands (time curve) or kept per band. Models without a torch path (sklearn heads,
   non-Whisper frontends) get occlusion only. *Occlusion* (model-agnostic check): the drop of
   the class probability when a 0.2 s window (hop 0.1 s) of the waveform is silenced.
2. **Salient regions**: the clip cut into 0.1 s segments, the top ``top_frac`` (20 %) by mean
   saliency kept and merged.
3. **Cues inside them** (:mod:`serkit.analysis.cues`: Praat and openSMILE), relative to the
   same speaker's neutral clips when the manifest has them, else to the corpus mean. Like is
   compared with like: a reference clip is measured on its loudest 20 % of 0.1 s segments
   (:func:`energy_segments`: salient regions are mostly voiced and loud), and the speaking-rate
   proxy always comes from whole clips. The corpus profile (whole clips by true label against
   whole neutral clips) is the data's own cue pattern, beside the model's.
4. **Faithfulness**: silencing the salient segments must cost the predicted class more
   probability than silencing as many random segments (same total length); over a manifest the
   ratio of mean drops with a clip-bootstrap 95 % interval.

Tensor shapes: mel ``(80, T)`` at 100 frames/s (16 kHz, hop 160); saliency ``(T,)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from serkit.analysis import cues as C
from serkit.audio.mel import log_mel
from serkit.core.errors import ConfigError

SR = 16000
FPS = 100
SEG_S = 0.1


@dataclass
class Explanation:
    """One clip's explanation (times in seconds)."""

    source: str
    label: str
    probabilities: dict[str, float]
    saliency: (
        np.ndarray
    )  # (T,) gradient x input (or occlusion when no gradient path), max-normalised
    occlusion: np.ndarray  # (T,) probability drop per frame
    band_saliency: np.ndarray | None  # (80, T)
    regions: list[tuple[float, float]]
    cues: dict[str, float]
    relative: dict[str, float] = field(default_factory=dict)
    reference: str = ""
    faithfulness: dict | None = None

    @property
    def summary(self) -> str:
        a, b = (self.regions[0][0], self.regions[-1][1]) if self.regions else (0.0, 0.0)
        return (
            C.describe(self.relative, self.label, a, b)
            if self.relative
            else f"{self.label}: no reference for cues"
        )

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "label": self.label,
            "probabilities": self.probabilities,
            "regions": [[round(a, 2), round(b, 2)] for a, b in self.regions],
            "cues": _round(self.cues),
            "relative": _round(self.relative),
            "reference": self.reference,
            "summary": self.summary,
            "faithfulness": self.faithfulness,
        }


def _round(d):
    return {k: (None if not np.isfinite(v) else round(float(v), 3)) for k, v in d.items()}


class Explainer:
    """Saliency, regions, cues and faithfulness for one recogniser (16 kHz frontends)."""

    def __init__(
        self, rec, top_frac: float = 0.2, occlusion_win_s: float = 0.2, occlusion_hop_s: float = 0.1
    ):
        from serkit.estimators.torch_head import TorchHeadModel

        if not 0 < top_frac < 1:
            raise ConfigError("top_frac must be in (0, 1)")
        if (rec.frontend.sample_rate or SR) != SR:
            raise ConfigError(f"explain: frontend {rec.frontend.name} does not run at 16 kHz")
        self.rec, self.top_frac = rec, top_frac
        self.win, self.hop = occlusion_win_s, occlusion_hop_s
        self.has_gradient = (
            (isinstance(rec.model, TorchHeadModel) or hasattr(rec.model, "torch_head"))
            and hasattr(rec.frontend, "encoder")
            and hasattr(rec.frontend, "layer_indices")
        )

    def proba(self, wavs: list[np.ndarray]) -> np.ndarray:
        """``(N, C)`` calibrated probabilities of 16 kHz waveforms: the numbers ``predict``
        gives."""
        return self.rec.calibrated_probabilities(
            [(np.asarray(w, np.float32), SR, "") for w in wavs]
        )

    def gradient(self, wav: np.ndarray, target: int) -> np.ndarray:
        """``(80, T)`` gradient x input of log p(target) w.r.t. the log-mel input."""
        import torch

        from serkit.nn.layers import pool_frames_torch

        fe, model = self.rec.frontend, self.rec.model
        mel0 = torch.from_numpy(log_mel(wav))
        mel = mel0.clone().requires_grad_(True)
        if mel.shape[1] > 3000:
            raise ConfigError(
                "explain: clips over 30 s are not supported by the gradient path; cut them first"
            )
        with torch.enable_grad():
            states = fe.encoder(mel[None], torch.tensor([mel.shape[1]]))
            t2 = (mel.shape[1] + 1) // 2
            layers = list(fe.layer_indices)
            if hasattr(model, "torch_head"):  # logreg: the states it reads, unpooled
                layers = [layers[i] for i in model.states_read()]
                net = model.torch_head()
            else:
                net = model.net.eval()
            x = torch.stack([states[s][0, :t2] for s in layers])[None]  # (1, L, T2, D)
            x = pool_frames_torch(x, getattr(model.config, "pool", 1))
            logits = net(x, torch.ones(1, x.shape[2], dtype=torch.bool))
            torch.log_softmax(logits, 1)[0, target].backward()
        g = mel.grad.detach().numpy()
        return np.abs(g * (mel0.numpy() - mel0.numpy().min()))

    def occlusion(self, wav: np.ndarray, target: int, base: float) -> np.ndarray:
        """``(T,)`` probability drop of ``target`` when each window is silenced (a frame gets the
        largest drop of the windows covering it)."""
        n = max(1, wav.size // 160)
        w, h = int(self.win * SR), int(self.hop * SR)
        starts = list(range(0, max(1, wav.size - w + 1), h)) or [0]
        copies = []
        for s in starts:
            y = wav.copy()
            y[s : s + w] = 0.0
            copies.append(y)
        drops = base - self.proba(copies)[:, target]
        curve = np.full(n, -np.inf)
        for s, d in zip(starts, drops):
            a, b = s // 160, min(n, (s + w) // 160 + 1)
            curve[a:b] = np.maximum(curve[a:b], d)
        return np.where(np.isfinite(curve), curve, 0.0)

    def segments(self, curve: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Mean saliency per 0.1 s segment, and the indices of the top ``top_frac`` of them."""
        k = int(SEG_S * FPS)
        n_seg = max(1, math.ceil(curve.size / k))
        seg = np.array([curve[i * k : (i + 1) * k].mean() for i in range(n_seg)])
        top = max(1, int(round(self.top_frac * n_seg)))
        return seg, sorted(np.argsort(-seg, kind="stable")[:top].tolist())

    @staticmethod
    def merge(idx: list[int], n_samples: int) -> list[tuple[float, float]]:
        """Segment indices -> merged ``(start, end)`` seconds."""
        out: list[list[float]] = []
        for i in idx:
            a, b = i * SEG_S, min((i + 1) * SEG_S, n_samples / SR)
            if out and abs(out[-1][1] - a) < 1e-9:
                out[-1][1] = b
            else:
                out.append([a, b])
        return [(a, b) for a, b in out]

    @staticmethod
    def silence(wav: np.ndarray, idx: list[int]) -> np.ndarray:
        y = wav.copy()
        k = int(SEG_S * SR)
        for i in idx:
            y[i * k : (i + 1) * k] = 0.0
        return y

    def faithfulness(
        self, wav, target: int, base: float, top: list[int], n_seg: int, rng, n_random: int = 5
    ) -> dict:
        """Probability drop of ``target`` when the salient segments are silenced, and the mean
        drop over ``n_random`` random sets of as many segments."""
        rand = [
            sorted(rng.choice(n_seg, size=len(top), replace=False).tolist())
            for _ in range(n_random)
        ]
        p = self.proba([self.silence(wav, top)] + [self.silence(wav, r) for r in rand])[:, target]
        return {
            "drop_salient": round(float(base - p[0]), 5),
            "drop_random": round(float(np.mean(base - p[1:])), 5),
        }

    def explain(
        self,
        wav: np.ndarray,
        source: str = "",
        reference: dict | None = None,
        ref_name: str = "",
        rng: np.random.Generator | None = None,
        with_bands: bool = True,
    ) -> Explanation:
        """Explain one 16 kHz clip (see the module docstring)."""
        wav = np.asarray(wav, np.float32)
        p = self.proba([wav])[0]
        target = int(np.argmax(p))
        occ = self.occlusion(wav, target, float(p[target]))
        bands = self.gradient(wav, target) if self.has_gradient else None
        sal = bands.sum(0) if bands is not None else occ.copy()
        sal = np.convolve(sal, np.ones(5) / 5, mode="same")
        sal = sal / sal.max() if sal.max() > 0 else sal
        seg, top = self.segments(sal)
        regions = self.merge(top, wav.size)
        k = int(SEG_S * SR)
        inside = np.concatenate([wav[i * k : (i + 1) * k] for i in top])
        cue = region_cues(wav, inside)
        if (
            not reference
        ):  # one clip, no speaker reference: salient regions against the rest of the clip
            rest = [i for i in range(seg.size) if i not in set(top)]
            if rest:
                reference = region_cues(
                    wav, np.concatenate([wav[i * k : (i + 1) * k] for i in rest])
                )
                ref_name = "the rest of this clip (no speaker reference given)"
        rel = C.relative(cue, reference) if reference else {}
        faith = self.faithfulness(
            wav, target, float(p[target]), top, seg.size, rng or np.random.default_rng(0)
        )
        return Explanation(
            source,
            self.rec.labels[target],
            {lab: round(float(v), 4) for lab, v in zip(self.rec.labels, p)},
            sal,
            occ,
            bands,
            regions,
            cue,
            rel,
            ref_name,
            faith,
        )


def energy_segments(wav: np.ndarray, frac: float = 0.2) -> np.ndarray:
    """The loudest ``frac`` of a clip's 0.1 s segments (by RMS), concatenated: how a reference
    clip is measured, so that salient regions (which tend to be voiced and loud) are compared
    with equally loud stretches of neutral speech, not with pauses."""
    k = int(SEG_S * SR)
    n = max(1, math.ceil(wav.size / k))
    rms = np.array(
        [np.sqrt(np.mean(np.asarray(wav[i * k : (i + 1) * k], np.float64) ** 2)) for i in range(n)]
    )
    top = sorted(np.argsort(-rms, kind="stable")[: max(1, int(round(frac * n)))].tolist())
    return np.concatenate([wav[i * k : (i + 1) * k] for i in top])


def region_cues(wav: np.ndarray, segments: np.ndarray) -> dict:
    """Cues of the concatenated ``segments`` audio, with the speaking-rate proxy of the whole
    clip (rate cannot be read from stitched stretches)."""
    c = C.measure(segments, SR)
    c["rate_per_s"] = C.measure_rate(wav, SR)
    return c


def plot_explanation(e: Explanation, wav: np.ndarray, path: Path) -> None:
    """Waveform with salient regions shaded, saliency curves, mel-band saliency, cue bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from serkit.experiment.report import save_figure

    t_w = np.arange(wav.size) / SR
    t_s = np.arange(e.saliency.size) / FPS
    rows = 3 if e.band_saliency is not None else 2
    fig = plt.figure(figsize=(10, 2.2 * rows + 0.4), dpi=110)
    gs = fig.add_gridspec(rows, 2, width_ratios=[3, 1])
    ax = fig.add_subplot(gs[0, 0])
    ax.plot(t_w, wav, lw=0.4, color="0.3")
    for a, b in e.regions:
        ax.axvspan(a, b, color="C3", alpha=0.25)
    ax.set_title(
        f"{Path(e.source).name or 'clip'}: {e.label} (p {e.probabilities[e.label]:.2f}); shaded = "
        "salient",
        fontsize=9,
    )
    ax.set_xlim(0, t_w[-1] if t_w.size else 1)
    ax2 = fig.add_subplot(gs[1, 0], sharex=ax)
    ax2.plot(
        t_s,
        e.saliency,
        color="C3",
        label="gradient x input" if e.band_saliency is not None else "occlusion",
    )
    occ = e.occlusion / e.occlusion.max() if e.occlusion.max() > 0 else e.occlusion
    ax2.plot(t_s[: occ.size], occ, color="C0", alpha=0.7, label="occlusion (prob. drop, scaled)")
    ax2.legend(fontsize=7)
    ax2.set_ylabel("saliency")
    if e.band_saliency is not None:
        ax3 = fig.add_subplot(gs[2, 0], sharex=ax)
        ax3.imshow(
            e.band_saliency,
            aspect="auto",
            origin="lower",
            cmap="magma",
            extent=(0, e.band_saliency.shape[1] / FPS, 0, 80),
        )
        ax3.set_ylabel("mel band")
        ax3.set_xlabel("time (s)")
    axc = fig.add_subplot(gs[:, 1])
    keys = [
        k
        for k in (
            "f0_mean_hz",
            "f0_range_st",
            "loudness",
            "rate_per_s",
            "hnr_db",
            "jitter_pct",
            "shimmer_pct",
        )
        if np.isfinite(e.relative.get(k, np.nan))
    ]
    vals = [e.relative[k] for k in keys]
    axc.barh(range(len(keys)), vals, color=["C3" if v > 0 else "C0" for v in vals])
    axc.set_yticks(range(len(keys)), [f"{k} ({C.UNITS[k]})" for k in keys], fontsize=7)
    axc.axvline(0, color="k", lw=0.5)
    ref = (e.reference or "no reference").replace(" (", "\n(").replace("; ", ";\n")
    axc.set_title(f"cues in salient regions vs\n{ref}", fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def explain_file(rec, path: Path, out: Path, top_frac: float = 0.2, seed: int = 0) -> Explanation:
    """One audio file: its explanation, figure ``explain_<stem>.png`` and ``explain_<stem>.json``
    in ``out`` (the salient regions' cues against the rest of the clip)."""
    from serkit.audio.io import AudioConfig, load_audio
    from serkit.core.io import atomic_write_json

    path, out = Path(path), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    wav = load_audio(path, AudioConfig(sample_rate=SR))
    e = Explainer(rec, top_frac).explain(wav, str(path), None, "", np.random.default_rng(seed))
    plot_explanation(e, wav, out / f"explain_{path.stem}.png")
    atomic_write_json(out / f"explain_{path.stem}.json", e.to_dict())
    return e


def _bootstrap_ratio(s: np.ndarray, r: np.ndarray, rng, n: int = 2000) -> list[float]:
    vals = []
    for _ in range(n):
        i = rng.integers(0, s.size, s.size)
        if r[i].mean() > 0:
            vals.append(s[i].mean() / r[i].mean())
    return (
        [round(float(np.percentile(vals, 2.5)), 3), round(float(np.percentile(vals, 97.5)), 3)]
        if vals
        else [None, None]
    )


def explain_manifest(
    rec, utts, out: Path, max_clips: int = 0, seed: int = 0, figures: int = 6, log=print
) -> dict:
    """Explain every clip of ``utts`` (or ``max_clips`` drawn with ``seed``): per-clip JSON
    lines, figures for the first ``figures``, the faithfulness ratio with a bootstrap CI, and
    per-class cue profiles (model: salient regions by predicted class; corpus: whole clips by
    true label) beside the literature's expected directions
    (:data:`serkit.analysis.cues.EXPECTED`)."""
    from serkit.audio.io import AudioConfig, load_audio
    from serkit.core.errors import AudioError
    from serkit.core.io import atomic_write_json, atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pick = list(range(len(utts)))
    if max_clips and max_clips < len(utts):
        pick = sorted(rng.choice(len(utts), size=max_clips, replace=False).tolist())
    wavs, failed = {}, []

    def audio(u):
        if u.id not in wavs:
            try:
                wavs[u.id] = load_audio(u.audio, AudioConfig(sample_rate=SR), u.start, u.end)
            except AudioError as exc:
                wavs[u.id] = None
                failed.append((u.id, str(exc)))
        return wavs[u.id]

    # references: each speaker's neutral clips (up to 10), else the corpus mean (up to 200 clips)
    refs: dict[str, tuple[dict, str]] = {}
    by_spk: dict[str, list] = {}
    for u in utts:
        if (u.label or "") == "neutral" and u.speaker:
            by_spk.setdefault(u.speaker, []).append(u)

    def ref_of(clips):
        ws = [w for w in (audio(x) for x in clips) if w is not None]
        seg = C.mean_cues([region_cues(w, energy_segments(w)) for w in ws]) if ws else None
        return seg, (C.mean_cues([C.measure(w, SR) for w in ws]) if ws else None), len(ws)

    whole_refs: dict[str, dict] = {}
    for spk, us in by_spk.items():
        seg, wh, n = ref_of(us[:10])
        if n:
            refs[spk] = (
                seg,
                f"speaker {spk}'s neutral clips ({n}; their loudest 20 % of 0.1 s segments)",
            )
            whole_refs[spk] = wh
    seg, wh, n = ref_of([utts[int(j)] for j in rng.permutation(len(utts))[:200]])
    corpus_ref = (seg, f"corpus mean ({n} clips; loudest 20 % of segments)")
    corpus_whole = wh
    ex = Explainer(rec)
    lines, s_drop, r_drop, prof_model, prof_data = [], [], [], {}, {}
    for n, i in enumerate(pick):
        u = utts[i]
        w = audio(u)
        if w is None:
            continue
        ref, ref_name = refs.get(u.speaker, corpus_ref)
        e = ex.explain(w, u.audio, ref, ref_name, rng)
        d = {"id": u.id, "truth": u.label, **e.to_dict()}
        lines.append(d)
        s_drop.append(e.faithfulness["drop_salient"])
        r_drop.append(e.faithfulness["drop_random"])
        prof_model.setdefault(e.label, []).append(e.relative)
        if u.label:
            prof_data.setdefault(u.label, []).append(
                C.relative(C.measure(w, SR), whole_refs.get(u.speaker, corpus_whole))
            )
        if n < figures:
            plot_explanation(e, w, out / f"explain_{u.id}.png")
        if (n + 1) % 25 == 0:
            log(f"explained {n + 1} / {len(pick)}")
    if not lines:
        raise ConfigError("no clip could be explained (every file unreadable?)")
    s_drop, r_drop = np.array(s_drop), np.array(r_drop)
    ratio = float(s_drop.mean() / r_drop.mean()) if r_drop.mean() > 0 else float("inf")
    res = {
        "model": rec.header.get("model", {}).get("name", "")
        if isinstance(rec.header, dict)
        else "",
        "clips": len(lines),
        "failed": failed[:20],
        "n_failed": len(failed),
        "gradient": ex.has_gradient,
        "top_frac": ex.top_frac,
        "faithfulness": {
            "drop_salient_mean": round(float(s_drop.mean()), 4),
            "drop_random_mean": round(float(r_drop.mean()), 4),
            "ratio": round(ratio, 3),
            "ratio_ci95": _bootstrap_ratio(s_drop, r_drop, rng),
            "salient_beats_random_share": round(float(np.mean(s_drop > r_drop)), 3),
            "definition": "mean probability drop of the predicted class when the top 20 % of 0.1 "
            "s segments "
            "(by saliency) are silenced, over the mean drop for 5 random sets of as many "
            "segments; 95 % CI from 2000 clip-bootstrap replicates",
        },
        "profiles": {
            "model_salient_by_predicted": _profiles(prof_model),
            "corpus_whole_by_label": _profiles(prof_data),
        },
    }
    res["agreement"] = _agreement(res["profiles"])
    atomic_write_json(out / "explain.json", res)
    import json

    atomic_write_text(out / "clips.jsonl", "".join(json.dumps(d) + "\n" for d in lines))
    atomic_write_text(out / "explain.md", _report(res))
    return res


def _profiles(groups: dict[str, list[dict]]) -> dict:
    out = {}
    for lab, rows in sorted(groups.items()):
        out[lab] = {
            "n": len(rows),
            **{
                k: (round(float(np.nanmedian(v)), 2) if np.isfinite(v).any() else None)
                for k in C.CUES
                for v in [np.array([r.get(k, np.nan) for r in rows], float)]
            },
        }
    return out


def _agreement(profiles: dict) -> dict:
    """Per (class, cue) with an expected direction: the sign of the median relative cue, for
    the model's salient regions and for the corpus's whole clips."""
    rows, hits = [], {"model": [0, 0], "corpus": [0, 0]}
    for lab, exp in C.EXPECTED.items():
        for cue, sign in exp.items():
            r = {"class": lab, "cue": cue, "expected": "+" if sign > 0 else "-"}
            for key, name in (
                ("model_salient_by_predicted", "model"),
                ("corpus_whole_by_label", "corpus"),
            ):
                v = profiles[key].get(lab, {}).get(cue)
                n = profiles[key].get(lab, {}).get("n", 0)
                r[name], r[f"n_{name}"] = v, n
                if v is not None and n >= MIN_PROFILE_CLIPS:
                    hits[name][0] += int(np.sign(v) == sign)
                    hits[name][1] += 1
            rows.append(r)
    return {
        "rows": rows,
        "min_clips": MIN_PROFILE_CLIPS,
        **{f"{k}_agree": f"{a} of {b}" for k, (a, b) in hits.items()},
    }


MIN_PROFILE_CLIPS = 3
"""A (class, cue) median counts toward agreement only with this many clips; the table shows
the others in parentheses with their count."""


def _cell(v, n) -> str:
    if v is None:
        return "n/a"
    return f"{v}" if n >= MIN_PROFILE_CLIPS else f"({v}, n={n}: not counted)"


def _report(res: dict) -> str:
    f = res["faithfulness"]
    lines = [
        f"# Explanations ({res['clips']} clips; saliency: "
        f"{'gradient x input' if res['gradient'] else 'occlusion'})",
        "",
        f"faithfulness ratio {f['ratio']:.2f} (95 % CI "
        f"{f['ratio_ci95'][0]}-{f['ratio_ci95'][1]}); salient drop "
        f"{f['drop_salient_mean']:.3f} vs random {f['drop_random_mean']:.3f}; salient > random on "
        f"{100 * f['salient_beats_random_share']:.0f} % of clips",
        "",
        f"agreement with the literature's directions: model {res['agreement']['model_agree']}, "
        "corpus "
        f"{res['agreement']['corpus_agree']} (class x cue pairs with at least {MIN_PROFILE_CLIPS} "
        "clips; values in "
        "parentheses have fewer and are not counted)",
        "",
        "| class | cue | expected | model (salient, by prediction) | corpus (whole clips, by "
        "label) |",
        "|---|---|---|---|---|",
    ]
    for r in res["agreement"]["rows"]:
        lines.append(
            f"| {r['class']} | {r['cue']} | {r['expected']} | "
            f"{_cell(r['model'], r.get('n_model', 0))} | "
            f"{_cell(r['corpus'], r.get('n_corpus', 0))} |"
        )
    lines += [
        "",
        "values: median relative cue (F0, loudness, rate in %; F0 range in semitones) against the "
        "speaker's "
        "neutral clips (corpus mean when a speaker has none)",
    ]
    return "\n".join(lines) + "\n"
