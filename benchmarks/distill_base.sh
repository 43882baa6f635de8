#!/usr/bin/env bash
# Issue 32: students distilled from Whisper BASE (the default's encoder), with and without the
# task-aware posterior term, then the LOCO protocol of issue 31 on each (and on the bundled
# tiny.en student). CPU: about 35 min of distillation per student and 25 min per LOCO run on
# 2 cores. DEVICE=cuda runs the distillation on a GPU (no accuracy number depends on it).
#   benchmarks/distill_base.sh [OUT=runs/r32]
set -euo pipefail
OUT=${1:-runs/r32}
DEVICE=${DEVICE:-cpu}
S=".venv/bin/serkit"
L=anger,happiness,neutral=neutral+calm,sadness
M=manifests/emodb.jsonl,manifests/urdu.jsonl,manifests/ravdess.jsonl,manifests/emospeech.jsonl
mkdir -p "$OUT"
# 1. the teacher head: the default's recipe on TESS + ESD only (no LOCO corpus's labels)
[ -f "$OUT/head_tess_esd.pt" ] || $S train --manifest manifests/tess.jsonl,manifests/esd.jsonl \
  --labels $L --model logreg --frontend whisper-base-layers --set normalize=corpus \
  --set model.layer=3 --set model.C=0.001 --out "$OUT/head_tess_esd.pt"
# 2. two students on TESS + ESD audio (never a LOCO corpus): states 1-3 of base, +- posteriors
D="--manifest manifests/tess.jsonl,manifests/esd.jsonl --set teacher=whisper-base-layers
   --set teacher_layers=[1,2,3] --set epochs=5 --threads 1 --device $DEVICE"
$S distill $D --out "$OUT/student_base_kd.safetensors" \
  --set head="$OUT/head_tess_esd.pt" --set posterior_weight=1.0
$S distill $D --out "$OUT/student_base_nokd.safetensors"
# 2b. the same states-only student on more speakers: BAVED (61 Arabic speakers) + TESS + ESD
[ -f manifests/baved.jsonl ] || $S prepare baved ~/corpora/baved --out manifests/baved.jsonl
$S distill --manifest manifests/baved.jsonl,manifests/tess.jsonl,manifests/esd.jsonl \
  --set teacher=whisper-base-layers --set teacher_layers=[1,2,3] --set epochs=5 --threads 1 \
  --device $DEVICE --out "$OUT/student_base_bte.safetensors"
# 3. LOCO (issue 31's protocol) on each frontend
for fe in compact compact:$OUT/student_base_kd.safetensors compact:$OUT/student_base_nokd.safetensors \
    compact:$OUT/student_base_bte.safetensors; do
  name=$(basename "${fe#compact:}" .safetensors)
  [ "$name" = compact ] && name=compact_bundled
  $S bench --manifest $M --labels $L --protocol loco --set max_per_corpus=800 --seeds 3 \
    --set adapt_clips=[10,50,0] --jobs 1 --model logreg --frontend "$fe" \
    --set normalize=corpus --set model.C=auto --set model.inner_groups=corpus \
    --out "$OUT/loco_logreg_${name}_corpus_Cauto_shrink"
done
