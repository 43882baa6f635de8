"""UA of the explained model on the clips ``serkit explain MODEL MANIFEST`` explained (its
``clips.jsonl``: true label beside the predicted one), over the classes present.

    .venv/bin/python benchmarks/explain_accuracy.py runs/explain/emodb runs/explain/ravdess
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

if __name__ == "__main__":
    for d in sys.argv[1:]:
        rows = [json.loads(line) for line in open(Path(d) / "clips.jsonl")]
        labs = sorted({r["truth"] for r in rows if r["truth"]})
        ua = np.mean(
            [np.mean([r["label"] == lab for r in rows if r["truth"] == lab]) for lab in labs]
        )
        print(f"{d}: {len(rows)} clips, UA {ua:.3f}")
