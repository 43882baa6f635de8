"""Join N clips of one class (one speaker) into a long recording and compare the whole-file
answer with the answers of its parts (issue 29, item 2).

    .venv/bin/python benchmarks/long_join.py manifests/emodb.jsonl --label neutral --clips 10

Prints each part's answer, their majority, the whole-file answer (speech-weighted windows,
serkit.deploy.runner.WholeFile) and, for comparison, the old one-pass answer (the whole
recording through the encoder at once, in 30 s pieces).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest")
    ap.add_argument("--label", default="neutral")
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--model", default="default")
    ap.add_argument(
        "--speaker", default=None, help="default: the speaker with the most clips of the label"
    )
    args = ap.parse_args()

    import serkit
    from serkit.audio.io import load_audio
    from serkit.data.manifest import read_manifests
    from serkit.deploy.runner import WholeFile

    rec = serkit.load(args.model)
    utts = [u for u in read_manifests(args.manifest) if u.label == args.label]
    spk = args.speaker or collections.Counter(u.speaker for u in utts).most_common(1)[0][0]
    utts = sorted((u for u in utts if u.speaker == spk), key=lambda u: u.id)[: args.clips]
    parts = [load_audio(u.audio) for u in utts]
    answers = [rec.predict(x, sr=16000) for x in parts]
    majority = collections.Counter(a.label for a in answers).most_common(1)[0]
    joined = np.concatenate(parts)
    whole = rec.predict(joined, sr=16000)
    rec.whole_file = dataclasses.replace(
        WholeFile(), single_s=float("inf")
    )  # the old behaviour: one pass
    old = rec.predict(joined, sr=16000)
    print(f"{len(parts)} '{args.label}' clips of speaker {spk}, {joined.size / 16000:.1f} s joined")
    print("parts: " + ", ".join(f"{a.label} {a.confidence:.2f}" for a in answers))
    print(f"majority of parts: {majority[0]} ({majority[1]} of {len(parts)})")
    print(
        f"whole-file answer: {whole.label} {whole.confidence:.2f} ({whole.windows} windows, "
        f"{whole.speech_s:.1f} s speech)"
    )
    print(f"old one-pass answer: {old.label} {old.confidence:.2f}")


if __name__ == "__main__":
    main()
