#!/usr/bin/env bash
# MLL benchmarks (issue 4). Needs ../shared/corpora. Re-running resumes finished folds (and the
# EAM banks are cached on disk).
# Protocol: EmoDB 7 classes, loso, validation speakers from each training fold, mean +- std over seeds.
# Usage: bash benchmarks/mll.sh [RUNS_DIR]
set -euo pipefail
R=${1:-runs}
S=${SERKIT:-.venv/bin/serkit}
mkdir -p manifests "$R"
[ -f manifests/emodb.jsonl ] || $S prepare emodb ../shared/corpora/emodb --out manifests/emodb.jsonl
E="--manifest manifests/emodb.jsonl --protocol loso --jobs 2 --quiet"
# all five states with learned layer weights: the defaults before the layered redesign
L="$E --frontend whisper-tiny-layers --set frontend.layers=[] --set model.layer=learned"
# headline: 5 seeds
$S bench $L --model mll --seeds 5 --out "$R/emodb_mll_whisper-tiny-layers"
$S bench $E --frontend whisper-tiny --model mll --seeds 5 --out "$R/emodb_mll_whisper-tiny"
# ablation: 3 seeds each, same folds
A="$L --seeds 3"
$S bench $A --model flam --out "$R/abl_flam_ce"
$S bench $A --model flam --set model.train.losses.ce=0 --set model.train.losses.focal=1 --out "$R/abl_flam_focal"
$S bench $A --model flam --set model.train.losses.center=0.1 --out "$R/abl_flam_ce+center"
$S bench $A --model flam --set model.train.losses.supcon=0.2 --out "$R/abl_flam_ce+supcon"
$S bench $A --model mll --set augment.name=none --out "$R/abl_mll_4losses_noeam"
$S bench $A --model flam --set augment.name=eam --out "$R/abl_flam_ce+eam"
$S table "$R"/emodb_mll_* "$R"/abl_*
