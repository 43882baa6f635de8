#!/usr/bin/env bash
# Issue 14's numbers (docs/BENCHMARKS.md, "Speech serkit has never heard"). Needs the corpora:
# ../shared/corpora/{emodb,urdu} and ~/corpora/{ravdess,baved,emospeech} from extract.sh.
set -euo pipefail
S=${S:-.venv/bin/serkit}; C=${CORPORA:-$HOME/corpora}; R=${RUNS:-runs/mc}
$S prepare emodb ../shared/corpora/emodb --out manifests/emodb.jsonl
$S prepare urdu ../shared/corpora/urdu --out manifests/urdu.jsonl
for c in ravdess baved emospeech; do $S prepare $c "$C/$c" --out manifests/$c.jsonl; done
for c in emodb urdu ravdess emospeech baved; do $S extract --manifest manifests/$c.jsonl; done
M=manifests/emodb.jsonl,manifests/urdu.jsonl,manifests/ravdess.jsonl,manifests/emospeech.jsonl
L=anger,happiness,neutral=neutral+calm,sadness
B="$S bench --manifest $M --labels $L --quiet"
# leave one corpus out (logreg on block 2 is deterministic: 1 seed)
$B --protocol loco --model logreg --set model.layer=2 --seeds 1 --set adapt_clips=[10,50,0] --out $R/loco_logreg2_tiny
$B --protocol loco --model logreg --set model.layer=2 --seeds 1 --set max_per_corpus=800 --set adapt_clips=[10,50,0] --out $R/loco_logreg2_tiny_cap800
$B --protocol loco --model logreg --set model.layer=3 --frontend whisper-base-layers --seeds 1 --set max_per_corpus=800 --set adapt_clips=[10,50,0] --out $R/loco_logreg3_base_cap800
$B --protocol loco --model logreg --set model.layer=2 --seeds 1 --set normalize=corpus --out $R/loco_logreg2_tiny_corpusnorm
$B --protocol loco --model logreg --set model.layer=2 --seeds 1 --set max_per_corpus=800 --set normalize=corpus --out $R/loco_logreg2_tiny_cap800_corpusnorm
$B --protocol loco --model attnpool --seeds 3 --set max_per_corpus=800 --set adapt_clips=[10,50,0] --out $R/loco_attnpool_tiny_cap800
# the acted corpora only, and acted -> in the wild
$S bench --manifest ${M%,*} --labels $L --quiet --protocol loco --model logreg --set model.layer=2 --seeds 1 --set adapt_clips=[10,50,0] --out $R/loco3_logreg2_tiny
$B --protocol "cross:emodb+urdu+ravdess->emospeech" --model logreg --set model.layer=2 --seeds 1 --set adapt_clips=[10,50,0] --out $R/cross3_to_emospeech_logreg2_tiny
# within EmoDB: the multi-corpus model against the EmoDB-only one, 4 classes
$B --protocol loso:emodb --model attnpool --seeds 3 --set max_per_corpus=800 --out $R/losoemodb_attnpool_multi
$S bench --manifest manifests/emodb.jsonl --labels anger,happiness,neutral,sadness --quiet --model attnpool --seeds 3 --out $R/losoemodb_attnpool_emodbonly
# the train x test matrix
$S matrix --manifest $M --labels $L --model logreg --set model.layer=2 --seeds 1 --quiet --out $R/matrix_logreg2_tiny
# RAVDESS 8 classes on the ResLSTM-SA folds; the base rung
$S bench --manifest manifests/ravdess.jsonl --protocol folds:ravdess5 --model logreg --seeds 1 --quiet --out $R/ravdess5_logreg_tiny
$S bench --manifest manifests/ravdess.jsonl --protocol folds:ravdess5 --model attnpool --seeds 3 --jobs 2 --quiet --out $R/ravdess5_attnpool_tiny
for c in emodb urdu ravdess emospeech; do $S extract --manifest manifests/$c.jsonl --frontend whisper-base-layers; done
$S bench --manifest manifests/ravdess.jsonl --protocol folds:ravdess5 --model logreg --frontend whisper-base-layers --seeds 1 --quiet --out $R/ravdess5_logreg_base
# speech presence; the multi-corpus default model
.venv/bin/python benchmarks/speech_presence.py --manifest $M,manifests/baved.jsonl --out $R/speech
$S train --manifest $M --labels $L --set max_per_corpus=800 --out serkit/deploy/pretrained/default.pt --results $R/loco_attnpool_tiny_cap800
# added: base matrix, attnpool matrix, RAVDESS attnpool on base, ft-block on EmoDB, BAVED arousal
$S matrix --manifest $M --labels $L --model logreg --frontend whisper-base-layers --set model.layer=3 --seeds 1 --quiet --out $R/matrix_logreg3_base
$S matrix --manifest $M --labels $L --model attnpool --set max_per_corpus=800 --seeds 1 --quiet --out $R/matrix_attnpool_tiny_cap800
$S bench --manifest manifests/ravdess.jsonl --protocol folds:ravdess5 --model attnpool --frontend whisper-base-layers --seeds 3 --jobs 2 --quiet --out $R/ravdess5_attnpool_base
$B --protocol loco --model attnpool --frontend whisper-base-layers --seeds 1 --set max_per_corpus=800 --set adapt_clips=[10,50,0] --out $R/loco_attnpool_base_cap800
$S extract --manifest manifests/emodb.jsonl --set layers=[0,1]
for rf in true false; do $S bench --manifest manifests/emodb.jsonl --protocol kfold-speaker:5 --quiet --model ft-block --set frontend.layers=[0,1] --set model.pool=2 --set model.train.epochs=20 --set model.train.refit=$rf --seeds 1 --out $R/emodb5_ftblock2_tiny_refit$rf; done
$S bench --manifest manifests/emodb.jsonl --protocol kfold-speaker:5 --quiet --model attnpool --set model.layer=2 --set model.pool=2 --set model.train.epochs=20 --seeds 1 --out $R/emodb5_attnpool_layer2_tiny
$S bench --manifest manifests/baved.jsonl --protocol kfold-speaker:5 --model logreg --seeds 1 --quiet --out $R/baved_logreg_tiny
.venv/bin/python benchmarks/arousal_spearman.py $R/baved_logreg_tiny
