"""How often the ASR transcript contains the keyword the file name gives (EmoSpeech): overall
and per keyword. Usage: python3 benchmarks/asr_keywords.py manifests/emospeech_known.jsonl
manifests/emospeech_known_asr.jsonl"""

import json
import re
import sys
from collections import Counter

gold = {r["id"]: r for r in map(json.loads, open(sys.argv[1]))}
asr = {r["id"]: r for r in map(json.loads, open(sys.argv[2]))}
hit, tot = Counter(), Counter()
for k, r in gold.items():
    if r.get("text") and k in asr:
        w = r["text"].lower()
        tot[w] += 1
        hit[w] += w in re.findall(r"[a-z]+", (asr[k].get("text") or "").lower())
print(
    json.dumps(
        {
            "clips": sum(tot.values()),
            "keyword_found": round(sum(hit.values()) / sum(tot.values()), 3),
            "per_keyword": {w: round(hit[w] / tot[w], 2) for w in sorted(tot)},
        }
    )
)
