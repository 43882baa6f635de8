"""The one metadata schema of serkit ONNX files (stored as the file's ``metadata_props``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

FORMAT = "serkit-onnx/2"


@dataclass
class OnnxMeta:
    """``kind``: ``full`` (log-mel -> probabilities, encoder included) or ``head`` (pooled encoder
    states -> probabilities, spiking heads); ``states``: encoder states the graph computes;
    ``pool``: frames averaged per head step; ``quantization``: ``fp32`` or ``int8-dynamic``;
    ``calibration``: ``temperature`` and
    ``min_confidence`` applied by the runner (the model card's)."""

    kind: Literal["full", "head"]
    labels: list[str]
    model: str
    frontend: dict
    input: str
    sample_rate: int = 16000
    encoder_blocks: int | None = None
    states: list[int] = field(default_factory=list)
    pool: int = 1
    quantization: str = "fp32"
    provenance: dict = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)
    serkit_format: str = FORMAT

    def to_props(self) -> dict[str, str]:
        """Every field as JSON text (a provenance over 20,000 characters is left out, said so)."""
        d = asdict(self)
        if len(json.dumps(d["provenance"], default=str)) > 20000:
            d["provenance"] = {
                "omitted": "provenance over 20,000 characters; see the .pt model file"
            }
        return {k: json.dumps(v, default=str) for k, v in d.items()}

    @classmethod
    def from_props(cls, props: dict[str, str]) -> OnnxMeta:
        """Parse a file's metadata; ``ValueError`` when it is not a serkit file of this format."""
        if props.get("serkit_format") != json.dumps(FORMAT):
            raise ValueError(f"not a {FORMAT} file (serkit_format={props.get('serkit_format')!r})")
        return cls(**{k: json.loads(props[k]) for k in cls.__dataclass_fields__ if k in props})


def write_metadata(path: str | Path, meta: OnnxMeta) -> None:
    """Replace the metadata of the ONNX file at ``path`` (written atomically)."""
    import onnx

    m = onnx.load(str(path))
    del m.metadata_props[:]
    for k, v in meta.to_props().items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    tmp = Path(path).with_suffix(".tmp.onnx")
    onnx.save(m, str(tmp))
    tmp.replace(path)
