#!/usr/bin/env bash
# How a head uses the Whisper states 0-2 (conv front, blocks 1-2), the same setting on both
# corpora: `model.layer=auto` (one state or the plain mean of all, whichever a label-stratified,
# speaker-grouped inner CV of a logistic regression on the training fold scores higher), `mean` (fixed
# equal weights), `cv` (learned softmax weights started from that inner CV). attnpool (issue 2),
# pts-snn (issue 3), mll (issue 4). Needs ../shared/corpora and the manifests of foundation.sh.
# Re-running resumes finished folds.
# Protocols: EmoDB 7 classes `loso`; URDU 4 classes `kfold-speaker:5`; seeds 0-4; mean +- std.
# Dev checks behind the choices (never a test fold):
#   python benchmarks/nested_dev.py manifests/emodb.jsonl whisper-tiny-layers attnpool "frontend.layers=[0,1,2]" seeds=3 layer=L
#   python benchmarks/nested_dev.py manifests/urdu.jsonl whisper-tiny-layers attnpool "frontend.layers=[0,1,2]" seeds=3 \
#          outer=kfold-speaker:5 inner=kfold-speaker:4 layer=L
# Usage: bash benchmarks/layer_choice.sh [RUNS_DIR]
set -euo pipefail
R=${1:-runs/layer_choice}
S=${SERKIT:-.venv/bin/serkit}
F=(--frontend whisper-tiny-layers --set "frontend.layers=[0,1,2]" --seeds 5 --jobs 2 --quiet)
E=(--manifest manifests/emodb.jsonl --protocol loso "${F[@]}")
U=(--manifest manifests/urdu.jsonl --protocol kfold-speaker:5 "${F[@]}")
for L in auto mean cv; do
  $S bench "${U[@]}" --model attnpool --set model.layer=$L --out "$R/urdu_attnpool_$L"
  $S bench "${E[@]}" --model attnpool --set model.layer=$L --out "$R/emodb_attnpool_$L"
done
# learned weights from a uniform start (learned; null before the redesign) on URDU; its EmoDB twin is
# runs/emodb_attnpool_whisper-tiny-layers012 (docs/BENCHMARKS.md, first follow-up)
$S bench "${U[@]}" --model attnpool --set model.layer=learned --out "$R/urdu_attnpool_null"
# the whole EmoDB attnpool benchmark again, alone on the machine, for its wall time
$S bench "${E[@]}" --model attnpool --set model.layer=cv --out "$R/emodb_attnpool_cv_alone"
# issue 3 with one setting on both corpora: pts-snn and its ANN twin, layer picked on training speakers
$S bench "${E[@]}" --model pts-snn --set model.layer=auto --out "$R/emodb_pts-snn_auto"
$S bench "${U[@]}" --model pts-snn --set model.layer=auto --out "$R/urdu_pts-snn_auto"
$S bench "${E[@]}" --model ann-twin --set model.layer=auto --seeds 3 --out "$R/emodb_ann-twin_auto"
$S bench "${U[@]}" --model ann-twin --set model.layer=auto --seeds 3 --out "$R/urdu_ann-twin_auto"
$S bench "${E[@]}" --model pts-snn --set model.layer=cv --out "$R/emodb_pts-snn_cv"
$S bench "${U[@]}" --model pts-snn --set model.layer=cv --out "$R/urdu_pts-snn_cv"
$S bench "${E[@]}" --model mll     --set model.layer=cv --out "$R/emodb_mll_cv"
$S table "$R"/emodb_* "$R"/urdu_*
