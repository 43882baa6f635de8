#!/usr/bin/env bash
# EAVS-TF evaluation plan (issue 16): where words help (EmoSpeech: the spoken keyword correlates
# with the emotion) and where they cannot (RAVDESS, EmoDB: fixed sentences). NOT YET RUN: the
# figures are not in docs/BENCHMARKS.md until this script has produced them. Needs the corpora
# (../shared/corpora/README.md) and `make setup` (MiniLM weights). Re-running resumes.
# Usage: bash benchmarks/eavs_tf.sh [RUNS_DIR]
set -euo pipefail
R=${1:-runs/eavs_tf}
S=${SERKIT:-.venv/bin/serkit}
mkdir -p manifests "$R"
[ -f manifests/emospeech.jsonl ] || $S prepare emospeech ~/corpora/emospeech --out manifests/emospeech.jsonl
[ -f manifests/ravdess.jsonl ] || $S prepare ravdess ~/corpora/ravdess --out manifests/ravdess.jsonl
[ -f manifests/emodb.jsonl ] || $S prepare emodb ../shared/corpora/emodb --out manifests/emodb.jsonl
J="--jobs 2 --quiet --seeds 5"
# 1. EmoSpeech, 4 classes (anger, calm, fear, happiness), folds grouped by known user; the
#    unknown-user clips (74 %) are ONE group, so one of the five folds tests on all of them.
E="--manifest manifests/emospeech.jsonl --protocol kfold-speaker:5 $J"
for m in eavs-tf eavs-tf-ann eavs-tf-late eavs-tf-audio eavs-tf-text pts-snn; do
  $S bench $E --model $m --out "$R/emospeech_$m"
done
#    reliance diagnostic: the same test sets with the transcripts shuffled between utterances
$S bench $E --model eavs-tf --set text_shuffle_test=true --out "$R/emospeech_eavs-tf_shuffled"
#    transcripts from ASR instead of the file name (Whisper base, multilingual: Hindi keywords)
[ -f manifests/emospeech_asr.jsonl ] || $S transcribe --manifest manifests/emospeech.jsonl --model base --out manifests/emospeech_asr.jsonl
A="--manifest manifests/emospeech_asr.jsonl --protocol kfold-speaker:5 $J"
$S bench $A --model eavs-tf --out "$R/emospeech_asr_eavs-tf"
$S bench $A --model eavs-tf-text --out "$R/emospeech_asr_eavs-tf-text"
# 2. fixed sentences: fusion must stay within 0.5 UA points of audio-only
$S bench --manifest manifests/ravdess.jsonl --protocol folds:ravdess5 $J --model eavs-tf --out "$R/ravdess5_eavs-tf"
$S bench --manifest manifests/ravdess.jsonl --protocol folds:ravdess5 $J --model eavs-tf-audio --out "$R/ravdess5_eavs-tf-audio"
$S bench --manifest manifests/emodb.jsonl --protocol loso $J --model eavs-tf --out "$R/emodb_eavs-tf"
$S bench --manifest manifests/emodb.jsonl --protocol loso $J --model eavs-tf-audio --out "$R/emodb_eavs-tf-audio"
# 3. the seed's spiking claim: without the BatchNorm before every neuron (norm=none)
N="--manifest manifests/emodb.jsonl --protocol loso --jobs 2 --quiet --seeds 3 --set model.norm=none"
$S bench $N --model snn-vanilla --out "$R/emodb_snn-vanilla_nonorm"
$S bench $N --model pts-snn --out "$R/emodb_pts-snn_nonorm"
$S bench $N --model eavs-tf --out "$R/emodb_eavs-tf_nonorm"
$S table "$R"/emospeech_* "$R"/ravdess5_* "$R"/emodb_*
$S table --snn "$R"/emospeech_eavs-tf "$R"/emodb_*nonorm
