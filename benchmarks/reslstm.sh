#!/usr/bin/env bash
# ResLSTM-SA benchmarks (issue 5). Needs ../shared/corpora. Re-running resumes (tuning studies
# and finished folds alike).
#   1. tune on validation speakers inside the EmoDB LOSO training folds (never a test fold),
#   2. one clean evaluation of the chosen setting: EmoDB LOSO, 10 seeds, mean +- std,
#   3. same folds and seeds: residual ablation and attnpool on whisper-tiny features.
# Usage: bash benchmarks/reslstm.sh [RUNS_DIR]
set -euo pipefail
R=${1:-runs}
S=${SERKIT:-.venv/bin/serkit}
mkdir -p manifests "$R"
[ -f manifests/emodb.jsonl ] || $S prepare emodb ../shared/corpora/emodb --out manifests/emodb.jsonl
T="--manifest manifests/emodb.jsonl --frontend mfcc-chroma --protocol loso --trials 20 --outer-folds 4 --jobs 2 --quiet"
$S tune $T --model reslstm-sa --out "$R/tune_emodb_reslstm-sa"
$S tune $T --model lstm-sa    --out "$R/tune_emodb_lstm-sa"
B="--seeds 10 --jobs 2 --quiet"
$S bench --config "$R/tune_emodb_reslstm-sa/best.yaml" $B --out "$R/emodb_reslstm-sa_mfcc-chroma"
$S bench --config "$R/tune_emodb_lstm-sa/best.yaml"    $B --out "$R/emodb_lstm-sa_mfcc-chroma"
# pure residual ablation (3 seeds): ResLSTM-SA's chosen setting, skip connection removed
$S bench --config "$R/tune_emodb_reslstm-sa/best.yaml" --seeds 3 --jobs 2 --quiet --set model.residual=false --out "$R/emodb_reslstm-sa-nores_mfcc-chroma"
$S bench --manifest manifests/emodb.jsonl --protocol loso --model attnpool --frontend whisper-tiny $B --out "$R/emodb_attnpool_whisper-tiny_10seeds"
$S table "$R"/emodb_reslstm-sa_mfcc-chroma "$R"/emodb_lstm-sa_mfcc-chroma "$R"/emodb_reslstm-sa-nores_mfcc-chroma "$R"/emodb_attnpool_whisper-tiny_10seeds
