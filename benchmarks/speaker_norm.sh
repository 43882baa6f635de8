#!/usr/bin/env bash
# Speaker normalisation (`--set normalize=speaker`: every speaker's frame features z-scored with
# that speaker's own mean/std over all their clips; no labels; transductive for test speakers)
# on the Whisper states 0-2 with learned layer weights started from the training-speaker CV
# (`model.layer=cv`). Issue 4 (mll), with attnpool beside it and URDU to show where it breaks.
# Needs ../shared/corpora and the manifests of foundation.sh. Re-running resumes finished folds.
# Protocols: EmoDB 7 classes `loso` (10 folds); URDU 4 classes `kfold-speaker:5`; seeds 0-4
# (ablation rows 0-2); UA mean +- std over seeds.
# Dev checks behind the choices (training speakers of LOSO fold 1 only, never a test fold):
#   python benchmarks/nested_dev.py manifests/emodb.jsonl whisper-tiny-layers mll "frontend.layers=[0,1,2]" \
#          layer=cv seeds=3 eam=1 [norm=speaker] [train.refit=true]
# Usage: bash benchmarks/speaker_norm.sh [RUNS_DIR]
set -euo pipefail
R=${1:-runs/spknorm}
S=${SERKIT:-.venv/bin/serkit}
N=(--seeds 5 --jobs 2 --quiet --set normalize=speaker)
F=(--frontend whisper-tiny-layers --set "frontend.layers=[0,1,2]" "${N[@]}")
E=(--manifest manifests/emodb.jsonl --protocol loso "${F[@]}")
U=(--manifest manifests/urdu.jsonl --protocol kfold-speaker:5 "${F[@]}")
# issue 4: mll (FLAM + KL/focal/centre/SupCon + EAM), speaker-normalised, then + refit (the dev choice)
$S bench "${E[@]}" --model mll --set model.layer=cv --out "$R/emodb_mll_cv"
$S bench "${E[@]}" --model mll --set model.layer=cv --set model.train.refit=true --out "$R/emodb_mll_cv_refit"
# refit without speaker normalisation (which of the two does the work)
$S bench --manifest manifests/emodb.jsonl --protocol loso --frontend whisper-tiny-layers --set "frontend.layers=[0,1,2]" \
  --seeds 5 --jobs 2 --quiet --model mll --set model.layer=cv --set model.train.refit=true --out "$R/emodb_mll_cv_refit_nonorm"
# final-layer features (CTranslate2 whisper-tiny), same setting
$S bench --manifest manifests/emodb.jsonl --protocol loso --frontend whisper-tiny "${N[@]}" --model mll \
  --set model.train.refit=true --out "$R/emodb_mll_final-layer_refit"
# ablation in the headline setting (speaker-normalised, refit, layer cv), seeds 0-2
A=("${E[@]}" --seeds 3 --set model.layer=cv --set model.train.refit=true)
$S bench "${A[@]}" --model flam --out "$R/abl_flam_ce"
$S bench "${A[@]}" --model flam --set model.train.losses.ce=0 --set model.train.losses.focal=1 --out "$R/abl_flam_focal"
$S bench "${A[@]}" --model flam --set model.train.losses.center=0.1 --out "$R/abl_flam_ce+center"
$S bench "${A[@]}" --model flam --set model.train.losses.supcon=0.2 --out "$R/abl_flam_ce+supcon"
$S bench "${A[@]}" --model mll --set augment.name=none --out "$R/abl_mll_4losses_noeam"
$S bench "${A[@]}" --model flam --set augment.name=eam --out "$R/abl_flam_ce+eam"
# the same normalisation for attnpool on both corpora (URDU: speakers mostly show one emotion)
$S bench "${E[@]}" --model attnpool --set model.layer=cv --out "$R/emodb_attnpool_cv"
$S bench "${U[@]}" --model attnpool --set model.layer=cv --out "$R/urdu_attnpool_cv"
# the spiking head (issue 3 setting: layer picked on training speakers) with the same normalisation
$S bench "${E[@]}" --model pts-snn --set model.layer=auto --out "$R/emodb_pts-snn_auto"
# the issue-4 headline again in a fresh folder, alone on the machine, for its wall time
$S bench "${E[@]}" --model mll --set model.layer=cv --set model.train.refit=true --out "$R/emodb_mll_cv_refit_alone"
$S table "$R"/emodb_* "$R"/abl_* "$R"/urdu_*
