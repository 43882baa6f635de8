#!/usr/bin/env bash
# Issue 32 item 2: the cheap speech check. Trains the log-mel gate on TESS + ESD + BAVED (+ noisy
# and re-recorded copies, half of EmoSpeech's background clips, generated non-speech of seed 1),
# then scores it and Silero on what it never trained on (EmoDB, URDU, RAVDESS, EmoSpeech, the
# other half of the background clips, generated non-speech of seed 0). CPU, about 10 min.
#   benchmarks/speech_gate.sh [OUT=runs/r32]
set -euo pipefail
OUT=${1:-runs/r32}
P=".venv/bin/python"
M=manifests/emodb.jsonl,manifests/urdu.jsonl,manifests/ravdess.jsonl,manifests/emospeech.jsonl
$P benchmarks/train_mel_gate.py --manifest manifests/tess.jsonl,manifests/esd.jsonl,manifests/baved.jsonl \
  --background manifests/emospeech.jsonl --out serkit/audio/assets/mel_gate.safetensors
$P benchmarks/speech_presence.py --manifest $M --gate mel --out "$OUT/speech_mel"
$P benchmarks/speech_presence.py --manifest $M --background-half eval --out "$OUT/speech_silero"
