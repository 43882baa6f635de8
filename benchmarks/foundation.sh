#!/usr/bin/env bash
# Foundation benchmarks (issue 2). Needs ../shared/corpora. Re-running resumes finished folds.
# Usage: bash benchmarks/foundation.sh [RUNS_DIR]
set -euo pipefail
R=${1:-runs}
S=${SERKIT:-.venv/bin/serkit}
mkdir -p manifests "$R"
$S prepare emodb ../shared/corpora/emodb --out manifests/emodb.jsonl
$S prepare urdu ../shared/corpora/urdu --out manifests/urdu.jsonl
# settings as before the layered redesign, which changed two defaults (all five Whisper states ->
# states 0-2; learned layer weights -> layer auto): spelled out so these rows stay reproducible
ALL='--set frontend.layers=[]'
LEARNED='--set model.layer=learned'
E="--manifest manifests/emodb.jsonl --protocol loso --seeds 5 --jobs 2 --quiet"
U="--manifest manifests/urdu.jsonl --protocol kfold-speaker:5 --seeds 5 --jobs 2 --quiet"
$S bench $E --model logreg   --frontend whisper-tiny        --out "$R/emodb_logreg_whisper-tiny"
$S bench $E --model logreg   --frontend whisper-tiny-layers $ALL --out "$R/emodb_logreg_whisper-tiny-layers"
$S bench $E --model attnpool --frontend whisper-tiny-layers $ALL $LEARNED --out "$R/emodb_attnpool_whisper-tiny-layers"
$S bench $E --model attnpool --frontend whisper-tiny        --out "$R/emodb_attnpool_whisper-tiny"
$S bench $E --model logreg   --frontend egemaps             --out "$R/emodb_logreg_egemaps"
$S bench $E --model mlp      --frontend whisper-tiny-layers $ALL $LEARNED --out "$R/emodb_mlp_whisper-tiny-layers"
$S bench $E --model linear   --frontend whisper-tiny-layers $ALL $LEARNED --out "$R/emodb_linear_whisper-tiny-layers"
$S bench $U --model attnpool --frontend whisper-tiny-layers $ALL $LEARNED --out "$R/urdu_attnpool_whisper-tiny-layers"
$S bench $U --model logreg   --frontend whisper-tiny-layers $ALL --out "$R/urdu_logreg_whisper-tiny-layers"
$S bench $U --model logreg   --frontend whisper-tiny        --out "$R/urdu_logreg_whisper-tiny"
$S bench $U --model logreg   --frontend egemaps             --out "$R/urdu_logreg_egemaps"
$S table "$R"/emodb_* "$R"/urdu_*
