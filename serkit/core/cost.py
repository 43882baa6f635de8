"""The cost record every layer passes around, and the 45 nm energy convention.

Energy convention (Horowitz, 45 nm CMOS, as used by SNN papers):
``E = 4.6 pJ x MACs + 0.9 pJ x ACs`` where ACs are accumulate-only operations (spike-driven
synaptic operations, SOPs, count as ACs). Figures are reported in millijoules.

All operation counts in a :class:`Cost` are *per clip of* ``clip_s`` *seconds* (3 s unless
said otherwise); :meth:`Cost.scaled` is the one place that rescales them to another length.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

E_MAC_PJ = 4.6
E_AC_PJ = 0.9
CLIP_S = 3.0
ENERGY_CONVENTION = f"45 nm: {E_MAC_PJ} pJ/MAC, {E_AC_PJ} pJ/AC; per {CLIP_S:g} s clip"


def energy_mj(macs: float, acs: float = 0.0) -> float:
    """Energy in mJ of ``macs`` multiply-accumulates and ``acs`` accumulates (45 nm)."""
    return (E_MAC_PJ * macs + E_AC_PJ * acs) * 1e-9


@dataclass(frozen=True)
class Cost:
    """Cost of one clip of ``clip_s`` seconds.

    Attributes:
        params_trainable: trainable parameters of the head (the encoder is frozen).
        macs_head: multiply-accumulates of the head on real-valued inputs.
        acs_head: accumulate-only operations of the head (pooling sums, spike-free adds).
        sops_head: synaptic operations driven by spikes (counted as ACs for energy).
        macs_encoder: MACs of the frontend (``None``: handcrafted DSP, not counted).
        clip_s: the clip length in seconds these counts are for.
        macs_dsp: MACs of the signal processing in front of the encoder (the log-mel: window,
            FFT, power, mel projection; ``None``: not counted).
        macs_gate: MACs of the speech check a deployed model runs on every clip before it
            answers (Silero VAD; ``None``: no check, or an evaluation that does not run it).

    ``energy_total_mj`` is the whole pipeline: speech check + DSP + encoder + head (``None``
    when the encoder is not counted).
    """

    params_trainable: int
    macs_head: int
    acs_head: int = 0
    sops_head: int = 0
    macs_encoder: int | None = None
    clip_s: float = CLIP_S
    macs_dsp: int | None = None
    macs_gate: int | None = None

    @property
    def energy_head_mj(self) -> float:
        return energy_mj(self.macs_head, self.acs_head + self.sops_head)

    @property
    def energy_encoder_mj(self) -> float | None:
        return None if self.macs_encoder is None else energy_mj(self.macs_encoder)

    @property
    def energy_dsp_mj(self) -> float | None:
        return None if self.macs_dsp is None else energy_mj(self.macs_dsp)

    @property
    def energy_gate_mj(self) -> float | None:
        return None if self.macs_gate is None else energy_mj(self.macs_gate)

    @property
    def energy_total_mj(self) -> float | None:
        enc = self.energy_encoder_mj
        if enc is None:
            return None
        return (
            enc + self.energy_head_mj + (self.energy_dsp_mj or 0.0) + (self.energy_gate_mj or 0.0)
        )

    def scaled(self, clip_s: float) -> Cost:
        """The same cost for a clip of ``clip_s`` seconds (operation counts scale linearly)."""
        k = clip_s / self.clip_s
        return replace(
            self,
            macs_head=int(self.macs_head * k),
            acs_head=int(self.acs_head * k),
            sops_head=int(self.sops_head * k),
            macs_encoder=None if self.macs_encoder is None else int(self.macs_encoder * k),
            macs_dsp=None if self.macs_dsp is None else int(self.macs_dsp * k),
            macs_gate=None if self.macs_gate is None else int(self.macs_gate * k),
            clip_s=float(clip_s),
        )

    def with_encoder(self, macs_encoder: int | None, macs_dsp: int | None = None) -> Cost:
        return replace(
            self,
            macs_encoder=None if macs_encoder is None else int(macs_encoder),
            macs_dsp=None if macs_dsp is None else int(macs_dsp),
        )

    def to_dict(self) -> dict:
        """Counts plus the derived energies (mJ), JSON-ready."""
        enc, dsp, tot = self.energy_encoder_mj, self.energy_dsp_mj, self.energy_total_mj
        gate = self.energy_gate_mj
        d = asdict(self)
        if self.macs_gate is None:  # (records written before the field existed stay as they were)
            d.pop("macs_gate")
        return {
            **d,
            **({} if gate is None else {"energy_gate_mj": round(gate, 5)}),
            "energy_head_mj": round(self.energy_head_mj, 6),
            "energy_encoder_mj": None if enc is None else round(enc, 4),
            "energy_dsp_mj": None if dsp is None else round(dsp, 5),
            "energy_total_mj": None if tot is None else round(tot, 4),
            "convention": ENERGY_CONVENTION,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Cost:
        return cls(
            **{
                k: d[k]
                for k in (
                    "params_trainable",
                    "macs_head",
                    "acs_head",
                    "sops_head",
                    "macs_encoder",
                    "clip_s",
                    "macs_dsp",
                    "macs_gate",
                )
                if k in d
            }
        )

    @classmethod
    def per_clip(
        cls,
        params: int,
        macs_per_s: float,
        acs_per_s: float = 0.0,
        sops_per_s: float = 0.0,
        clip_s: float = CLIP_S,
    ) -> Cost:
        """From per-second rates measured on clips of any length."""
        return cls(
            int(params),
            int(macs_per_s * clip_s),
            int(acs_per_s * clip_s),
            int(sops_per_s * clip_s),
            None,
            clip_s,
        )
