#!/usr/bin/env bash
# EAVS-TF evaluation (issue 16): where words help (EmoSpeech: the spoken keyword correlates with
# the emotion) and where they cannot (RAVDESS, EmoDB: fixed sentences), the spiking claim without
# BatchNorm, and transcripts from ASR. Needs the corpora (../shared/corpora/README.md) and
# `make setup` (MiniLM weights). Re-running resumes (finished folds are reused); SEEDS=5 extends
# every row to five seeds. Every multimodal fold also scores its model with no transcript, no
# audio and shuffled transcripts (the probes in results.json / `serkit table --modalities`).
# Usage: bash benchmarks/eavs_tf.sh [RUNS_DIR] [STAGE...]   stages: emospeech fixed asr nonorm extra
set -euo pipefail
R=${1:-runs/eavs_tf}; shift || true
STAGES=${*:-emospeech fixed asr nonorm extra}
S=${SERKIT:-.venv/bin/serkit}
SEEDS=${SEEDS:-3}; SEEDS_SMALL=${SEEDS_SMALL:-2}
mkdir -p manifests "$R"
[ -f manifests/emospeech.jsonl ] || $S prepare emospeech ~/corpora/emospeech --out manifests/emospeech.jsonl
[ -f manifests/ravdess.jsonl ] || $S prepare ravdess ~/corpora/ravdess --out manifests/ravdess.jsonl
[ -f manifests/emodb.jsonl ] || $S prepare emodb ../shared/corpora/emodb --out manifests/emodb.jsonl
J="--jobs 2 --quiet"
has() { [[ " $STAGES " == *" $1 "* ]]; }
# 1. EmoSpeech, 4 classes (anger, calm, fear, happiness; text = the keyword in the file name),
#    folds grouped by known user; the unknown-user clips (5,621 of 7,644, 74 %) are ONE group, so
#    one of the five folds tests on all of them.
E="--manifest manifests/emospeech.jsonl --protocol kfold-speaker:5 $J --seeds $SEEDS"
if has emospeech; then
  for m in eavs-tf eavs-tf-audio eavs-tf-text; do $S bench $E --model $m --out "$R/emospeech_$m"; done
fi
# 2. fixed sentences: fusion must stay within 0.5 UA points of audio-only
if has fixed; then
  for m in eavs-tf eavs-tf-audio; do
    $S bench --manifest manifests/ravdess.jsonl --protocol folds:ravdess5 $J --seeds $SEEDS --model $m --out "$R/ravdess5_$m"
    $S bench --manifest manifests/emodb.jsonl --protocol loso $J --seeds $SEEDS --model $m --out "$R/emodb_$m"
  done
fi
# 3. transcripts from ASR instead of the file name, on the known users' clips only (2,014 clips,
#    102 users, truly speaker-independent folds; ASR of all 6,530 labelled clips is ~2 h on 2 cores)
if has asr; then
  [ -f manifests/emospeech_known.jsonl ] || python3 -c "
import json
rows = [json.loads(l) for l in open('manifests/emospeech.jsonl')]
open('manifests/emospeech_known.jsonl', 'w').write(''.join(json.dumps(r) + '\n' for r in rows
    if r['label'] and r['speaker'] != 'emospeech_unknown-user'))"
  [ -f manifests/emospeech_known_asr.jsonl ] || $S transcribe --manifest manifests/emospeech_known.jsonl \
    --model tiny.en --out manifests/emospeech_known_asr.jsonl
  for src in known known_asr; do
    for m in eavs-tf eavs-tf-text eavs-tf-audio; do
      [ "$src/$m" = known_asr/eavs-tf-audio ] && continue  # audio-only does not read the transcript
      $S bench --manifest manifests/emospeech_$src.jsonl --protocol kfold-speaker:5 $J --seeds $SEEDS_SMALL --model $m \
        --out "$R/emospeech_${src}_$m"
    done
  done
fi
# 4. the seed's spiking claim: without the BatchNorm before every neuron (norm=none), beside the
#    same models with it
if has nonorm; then
  for m in snn-vanilla pts-snn eavs-tf; do
    $S bench --manifest manifests/emodb.jsonl --protocol loso $J --seeds $SEEDS_SMALL --set model.norm=none --model $m \
      --out "$R/emodb_${m}_nonorm"
  done
  for m in snn-vanilla pts-snn; do
    $S bench --manifest manifests/emodb.jsonl --protocol loso $J --seeds $SEEDS_SMALL --model $m --out "$R/emodb_${m}_bn"
  done
fi
# 5. the rest of the ablation on EmoSpeech (ANN twin, late fusion, PTS-SNN on the audio): one seed
if has extra; then
  for m in eavs-tf-ann eavs-tf-late pts-snn; do
    $S bench --manifest manifests/emospeech.jsonl --protocol kfold-speaker:5 $J --seeds 1 --model $m --out "$R/emospeech_$m"
  done
fi
$S table --modalities "$R"/emospeech_* "$R"/ravdess5_eavs* "$R"/emodb_eavs* 2>/dev/null || true
$S table --snn "$R"/emodb_*nonorm "$R"/emodb_*_bn 2>/dev/null || true
