#!/usr/bin/env bash
# EAVS-TF evaluation (issue 16): where words help (EmoSpeech: the spoken keyword correlates with
# the emotion) and where they cannot (RAVDESS, EmoDB: fixed sentences), the spiking claim without
# BatchNorm, and transcripts from ASR. Needs the corpora (../shared/corpora/README.md) and
# `make setup` (MiniLM weights). Re-running resumes (finished folds are reused); SEEDS=5 and
# SEEDS_SMALL=5 extend every row to five seeds. Every multimodal fold also scores its model with
# no transcript, no audio and shuffled transcripts (the probes: `serkit table --modalities`).
# Usage: bash benchmarks/eavs_tf.sh [RUNS_DIR] [STAGE...]
#   stages (in this order by default): known fixed nonorm asr full extra
set -euo pipefail
R=${1:-runs/eavs_tf}; shift || true
STAGES=${*:-known fixed nonorm asr full extra}
S=${SERKIT:-.venv/bin/serkit}
SEEDS=${SEEDS:-3}; SEEDS_SMALL=${SEEDS_SMALL:-2}
mkdir -p manifests "$R"
[ -f manifests/emospeech.jsonl ] || $S prepare emospeech ~/corpora/emospeech --out manifests/emospeech.jsonl
[ -f manifests/ravdess.jsonl ] || $S prepare ravdess ~/corpora/ravdess --out manifests/ravdess.jsonl
[ -f manifests/emodb.jsonl ] || $S prepare emodb ../shared/corpora/emodb --out manifests/emodb.jsonl
# EmoSpeech's known users: the 2,014 labelled clips of its 102 identified users (the other 5,621
# clips carry no user id, so no fold split can keep their speakers apart)
[ -f manifests/emospeech_known.jsonl ] || python3 -c "
import json
rows = [json.loads(l) for l in open('manifests/emospeech.jsonl')]
open('manifests/emospeech_known.jsonl', 'w').write(''.join(json.dumps(r) + '\n' for r in rows
    if r['label'] and r['speaker'] != 'emospeech_unknown-user'))"
J="--jobs 2 --quiet"
has() { [[ " $STAGES " == *" $1 "* ]]; }
K="--manifest manifests/emospeech_known.jsonl --protocol kfold-speaker:5 $J"
# 1. EmoSpeech known users, 4 classes (anger, calm, fear, happiness; text = the keyword in the file
#    name), five folds of users: fusion against audio-only and text-only
if has known; then
  for m in eavs-tf eavs-tf-audio eavs-tf-text; do $S bench $K --seeds $SEEDS --model $m --out "$R/emospeech_known_$m"; done
fi
# 2. fixed sentences: fusion must stay within 0.5 UA points of audio-only
if has fixed; then
  for m in eavs-tf eavs-tf-audio; do
    $S bench --manifest manifests/ravdess.jsonl --protocol folds:ravdess5 $J --seeds $SEEDS_SMALL --model $m --out "$R/ravdess5_$m"
    $S bench --manifest manifests/emodb.jsonl --protocol loso $J --seeds $SEEDS_SMALL --model $m --out "$R/emodb_$m"
  done
fi
# 3. the seed's spiking claim: without the BatchNorm before every neuron (norm=none), beside the
#    same models with it (EmoDB LOSO, Whisper tiny states 0-2)
if has nonorm; then
  for m in snn-vanilla pts-snn eavs-tf; do
    $S bench --manifest manifests/emodb.jsonl --protocol loso $J --seeds $SEEDS_SMALL --set model.norm=none --model $m \
      --out "$R/emodb_${m}_nonorm"
  done
  $S bench --manifest manifests/emodb.jsonl --protocol loso $J --seeds $SEEDS_SMALL --model snn-vanilla \
    --out "$R/emodb_snn-vanilla_bn"
fi
# 4. transcripts from ASR (Whisper tiny.en, greedy) instead of the file name, same folds
if has asr; then
  [ -f manifests/emospeech_known_asr.jsonl ] || $S transcribe --manifest manifests/emospeech_known.jsonl \
    --model tiny.en --out manifests/emospeech_known_asr.jsonl
  A="--manifest manifests/emospeech_known_asr.jsonl --protocol kfold-speaker:5 $J --seeds $SEEDS_SMALL"
  for m in eavs-tf eavs-tf-text; do $S bench $A --model $m --out "$R/emospeech_known_asr_$m"; done
fi
# 5. all of EmoSpeech's labelled clips (6,530), folds grouped by known user; the unknown-user
#    clips (69 % of the labelled ones) are ONE group, so one of the five folds tests on all of them
if has full; then
  E="--manifest manifests/emospeech.jsonl --protocol kfold-speaker:5 $J --seeds ${SEEDS_FULL:-3}"
  for m in eavs-tf eavs-tf-audio eavs-tf-text; do $S bench $E --model $m --out "$R/emospeech_$m"; done
fi
# 6. the rest of the ablation on the known users: ANN twin, late fusion, PTS-SNN on the audio
if has extra; then
  for m in eavs-tf-ann eavs-tf-late pts-snn; do $S bench $K --seeds $SEEDS_SMALL --model $m --out "$R/emospeech_known_$m"; done
  # PTS-SNN with BatchNorm on EmoDB (docs also cite the 5-seed run of issue 14)
  $S bench --manifest manifests/emodb.jsonl --protocol loso $J --seeds $SEEDS_SMALL --model pts-snn --out "$R/emodb_pts-snn_bn"
fi
$S table --modalities "$R"/emospeech_* "$R"/ravdess5_eavs* "$R"/emodb_eavs-tf "$R"/emodb_eavs-tf-audio 2>/dev/null || true
$S table --snn "$R"/emodb_*nonorm "$R"/emodb_*_bn 2>/dev/null || true
