#!/usr/bin/env bash
# Issue 18: the compact frontend distilled from Whisper tiny.en, its heads, its ONNX export.
#   benchmarks/compact.sh [RUNS] [stages: distill bundle emodb urdu baseline frontends model export causal finetune]   (resumable)
# Distillation corpora: RAVDESS + BAVED + EmoSpeech audio (labels never read); EmoDB and URDU
# are never heard by the student, so both evaluations are clean. SEEDS=5 by default.
set -euo pipefail
R=${1:-runs/compact}; shift || true
STAGES=${*:-distill bundle emodb urdu baseline frontends export}
S=.venv/bin/serkit
SEEDS=${SEEDS:-5}
J="--jobs ${JOBS:-2}"
ST=${STUDENT:-$R/student.safetensors}
mkdir -p "$R"
source "$(dirname "$0")/manifests.sh"
for st in $STAGES; do case $st in
  distill)  # wall time is printed in the weight file's provenance (wall_s)
    [ -f "$ST" ] || $S distill --manifest manifests/ravdess.jsonl,manifests/baved.jsonl,manifests/emospeech.jsonl \
      --out "$ST" --set epochs=${EPOCHS:-5} --threads 2 ;;
  causal)  # the causal student (left-only padding, running-mean context): streamable frame by frame
    [ -f "$R/student_causal.safetensors" ] || $S distill --manifest manifests/ravdess.jsonl,manifests/baved.jsonl,manifests/emospeech.jsonl \
      --out "$R/student_causal.safetensors" --set student.causal=true --set epochs=${EPOCHS_CAUSAL:-2} \
      --set augment.copies=${COPIES_CAUSAL:-0} --threads 2
    for m in attnpool logreg; do
      $S bench --manifest manifests/emodb.jsonl --protocol loso $J --seeds $SEEDS --model $m --frontend "compact:$R/student_causal.safetensors" --out "$R/emodb_compact-causal_$m"
    done ;;
  finetune)  # ft-compact: the bundled student fine-tuned end to end with attnpool inside the folds (raw log-mel in);
    # freeze_student=true is the control (the same computation, student frozen). SEEDS_FT=3 by default.
    F="--frontend logmel --set frontend.pool=1 $J"
    for c in "emodb --protocol loso" "urdu --protocol kfold-speaker:5"; do
      set -- $c
      $S bench --manifest manifests/$1.jsonl $2 $3 --model ft-compact $F --seeds ${SEEDS_FT:-3} --out "$R/$1_ft-compact"
      $S bench --manifest manifests/$1.jsonl $2 $3 --model ft-compact $F --seeds 1 --set model.freeze_student=true \
        --out "$R/$1_ft-compact-frozen"
    done ;;
  bundle)  # the package's `compact` frontend: the student without its distillation projections
    .venv/bin/python -c "from serkit.features.compact import strip_student, BUNDLED; print(strip_student('$ST', BUNDLED))" ;;
  emodb)
    for m in ${MODELS:-attnpool logreg pts-snn}; do
      $S bench --manifest manifests/emodb.jsonl --protocol loso $J --seeds $SEEDS --model $m --frontend "compact:$ST" --out "$R/emodb_compact_$m"
    done ;;
  urdu)
    for m in ${MODELS:-attnpool logreg pts-snn}; do
      $S bench --manifest manifests/urdu.jsonl --protocol kfold-speaker:5 $J --seeds $SEEDS --model $m --frontend "compact:$ST" --out "$R/urdu_compact_$m"
    done ;;
  baseline)  # the same heads on Whisper tiny states 0-2 (the teacher), same folds and seeds
    for m in ${MODELS:-attnpool logreg pts-snn}; do
      $S bench --manifest manifests/emodb.jsonl --protocol loso $J --seeds $SEEDS --model $m --out "$R/emodb_whisper_$m"
      $S bench --manifest manifests/urdu.jsonl --protocol kfold-speaker:5 $J --seeds $SEEDS --model $m --out "$R/urdu_whisper_$m"
    done ;;
  frontends)  # the Pareto figure's other points: attnpool on every frontend, EmoDB LOSO
    for f in whisper-base-layers logmel mfcc-chroma egemaps; do
      $S bench --manifest manifests/emodb.jsonl --protocol loso $J --seeds $SEEDS --model attnpool --frontend $f --out "$R/emodb_${f}_attnpool"
    done
    $S bench --manifest manifests/emodb.jsonl --protocol loso $J --seeds $SEEDS --model attnpool --set frontend.layers=[0,1,2,3,4] --out "$R/emodb_whisper-all_attnpool"
    .venv/bin/python benchmarks/pareto.py --out docs/pareto_emodb.png "$R"/emodb_* | tee "$R/pareto_emodb.md" ;;
  model)  # the bundled `compact` recognizer: the default's recipe (4 corpora, 4 classes) on the bundled student.
    # Its leave-one-corpus-out bench: clean for the EmoDB and URDU test corpora; RAVDESS and EmoSpeech audio
    # (not labels) was heard by the student during distillation, so those two columns are transductive.
    M=manifests/emodb.jsonl,manifests/urdu.jsonl,manifests/ravdess.jsonl,manifests/emospeech.jsonl
    L=anger,happiness,neutral=neutral+calm,sadness
    $S bench --manifest $M --labels $L --protocol loco --frontend compact $J --seeds ${SEEDS_LOCO:-3} \
      --set max_per_corpus=800 --out "$R/loco_compact_attnpool"
    $S train --manifest $M --labels $L --frontend compact --set max_per_corpus=800 \
      --out serkit/deploy/pretrained/compact.pt --results "$R/loco_compact_attnpool" ;;
  export)  # attnpool only: pts-snn has no single-file ONNX export (its head alone: serkit export --head-only)
    for m in attnpool; do
      [ -f "$R/emodb_$m.pt" ] || $S train --manifest manifests/emodb.jsonl --model $m --frontend "compact:$ST" --out "$R/emodb_$m.pt"
      $S export "$R/emodb_$m.pt" --onnx "$R/emodb_$m.int8.onnx" --int8 --check manifests/emodb.jsonl --check-clips 100
      $S bench-latency --model "$R/emodb_$m.pt" --out "$R/latency_$m" --folder-clips 0 --http-requests 0
    done ;;
esac; done
