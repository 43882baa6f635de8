#!/usr/bin/env bash
# PTS-SNN benchmarks (issue 3): the spiking head, its ANN twin and ablations, accuracy and
# energy side by side, on Whisper states 0-2 (conv front + blocks 1-2, learned layer weights;
# the same states as the bundled default model). Needs ../shared/corpora and the manifests from
# foundation.sh. Re-running resumes finished folds (and --seeds N extends a run).
# Usage: bash benchmarks/pts_snn.sh [RUNS_DIR]
set -euo pipefail
# model.layer=learned: the pre-redesign default these rows were measured with (now: auto)
R=${1:-runs}
S=${SERKIT:-.venv/bin/serkit}
F=(--frontend whisper-tiny-layers --set "frontend.layers=[0,1,2]" --jobs 2 --quiet)
E=(--manifest manifests/emodb.jsonl --protocol loso "${F[@]}")
U=(--manifest manifests/urdu.jsonl --protocol kfold-speaker:5 "${F[@]}")
$S bench "${E[@]}" --seeds 5 --model pts-snn     --set model.layer=learned --out "$R/emodb_pts-snn"
$S bench "${E[@]}" --seeds 5 --model pts-snn --set model.layer=auto --out "$R/emodb_pts-snn-auto"  # one state, picked on training speakers
$S bench "${E[@]}" --seeds 3 --model ann-twin    --set model.layer=learned --out "$R/emodb_ann-twin"
$S bench "${U[@]}" --seeds 5 --model pts-snn     --set model.layer=learned --out "$R/urdu_pts-snn"
$S bench "${U[@]}" --seeds 3 --model ann-twin    --set model.layer=learned --out "$R/urdu_ann-twin"
$S bench "${U[@]}" --seeds 5 --model logreg      --out "$R/urdu_logreg_layers012"
# ablation on EmoDB (2 seeds to fit a 2-core budget; the tables say so)
$S bench "${E[@]}" --seeds 2 --model snn-vanilla --set model.layer=learned --out "$R/emodb_snn-vanilla"
$S bench "${E[@]}" --seeds 2 --model pts-snn --set model.use_campc=false --set model.layer=learned --out "$R/emodb_pts-snn-tsse-only"
$S bench "${E[@]}" --seeds 2 --model pts-snn --set model.use_tsse=false  --set model.layer=learned --out "$R/emodb_pts-snn-campc-only"
$S bench "${E[@]}" --seeds 2 --model pts-snn --set model.bias_map=dense  --set model.layer=learned --out "$R/emodb_pts-snn-dense-bias"
$S table "$R"/emodb_pts-snn "$R"/emodb_pts-snn-auto "$R"/emodb_ann-twin "$R"/urdu_pts-snn "$R"/urdu_ann-twin "$R"/urdu_logreg_layers012
$S table --snn "$R"/emodb_pts-snn "$R"/emodb_ann-twin "$R"/emodb_snn-vanilla "$R"/emodb_pts-snn-tsse-only \
         "$R"/emodb_pts-snn-campc-only "$R"/emodb_pts-snn-dense-bias "$R"/urdu_pts-snn
