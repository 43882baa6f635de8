#!/usr/bin/env bash
# Issue 17: beyond accuracy. Every number in docs/BENCHMARKS.md "Beyond accuracy (issue 17)".
#   benchmarks/beyond.sh [RUNS] [stages: fairness debias robust dimensional explain]   (resumable)
# Corpora: EmoDB and URDU from ../shared/corpora, RAVDESS / BAVED / EmoSpeech via fetch +
# ../shared/corpora/extract.sh into ~/corpora (../shared/corpora/README.md).
set -euo pipefail
R=${1:-runs}; shift || true
STAGES=${*:-fairness debias robust dimensional explain}
S=.venv/bin/serkit
SEEDS=${SEEDS:-5}
J="--jobs ${JOBS:-2}"
mkdir -p "$R"
source "$(dirname "$0")/manifests.sh"
for st in $STAGES; do case $st in
  fairness)  # UA per gender with speaker-bootstrap CIs (attnpool on Whisper tiny states 0-2)
    $S bench --manifest manifests/emodb.jsonl --protocol loso $J --seeds $SEEDS --model attnpool --out "$R/fair/emodb_attnpool"
    $S bench --manifest manifests/ravdess.jsonl --protocol folds:ravdess5 $J --seeds $SEEDS --model attnpool --out "$R/fair/ravdess_attnpool"
    $S fairness "$R/fair/emodb_attnpool"; $S fairness "$R/fair/ravdess_attnpool" ;;
  debias)  # CO-VADA-style: voice-altered copies of the first model's most confident correct clips
    for c in emodb:loso ravdess:folds:ravdess5; do
      n=${c%%:*}; p=${c#*:}
      $S bench --manifest manifests/$n.jsonl --protocol $p $J --seeds $SEEDS --model attnpool \
        --set augment.name=covada --set augment.variants=2 --out "$R/fair/${n}_attnpool_covada"
      $S fairness "$R/fair/${n}_attnpool" --against "$R/fair/${n}_attnpool_covada"
    done ;;
  robust)  # UA vs SNR: trained on clean speech, corrupted test copies; babble from RAVDESS+URDU speakers
    N=(--babble manifests/ravdess.jsonl,manifests/urdu.jsonl --noise-dir "$HOME/corpora/emospeech/**/background-*.wav")
    $S robustness --manifest manifests/emodb.jsonl --model logreg,attnpool --protocol loso --seeds $SEEDS "${N[@]}" --out "$R/robust/emodb"
    $S robustness --manifest manifests/emodb.jsonl --model pts-snn,attnpool+noise --protocol loso --seeds ${SEEDS_SMALL:-3} \
      $J "${N[@]}" --out "$R/robust/emodb"
    .venv/bin/python -c "from serkit.analysis.robustness import summarize; summarize('$R/robust/emodb', ['logreg', 'attnpool', 'pts-snn', 'attnpool_noise'])"
    cat "$R/robust/emodb/robustness.md"
    $S robustness --manifest manifests/urdu.jsonl --model attnpool,attnpool+noise --protocol kfold-speaker:5 \
      --seeds ${SEEDS_SMALL:-3} $J --conditions white@10,white@0,babble@10,babble@0,background@10,background@0,reverb@0.6,telephone \
      --babble manifests/ravdess.jsonl,manifests/emodb.jsonl --noise-dir "$HOME/corpora/emospeech/**/background-*.wav" \
      --out "$R/robust/urdu" ;;
  dimensional)  # arousal: BAVED levels zero-shot (trained on EmoDB+RAVDESS+URDU) and within; RAVDESS intensity
    D="$S dimensional --seeds ${SEEDS_DIM:-3}"
    T=manifests/emodb.jsonl,manifests/ravdess.jsonl,manifests/urdu.jsonl
    OMP_NUM_THREADS=1 $D --train $T --test manifests/baved.jsonl --set table=warriner --out "$R/dim/baved_zeroshot_warriner"
    OMP_NUM_THREADS=1 $D --train $T --test manifests/baved.jsonl --set table=nrc --out "$R/dim/baved_zeroshot_nrc"
    OMP_NUM_THREADS=1 $D --train $T --test manifests/baved.jsonl --set model.sphere_weight=0.5 --out "$R/dim/baved_zeroshot_sphere"
    OMP_NUM_THREADS=1 $D --train $T --test manifests/baved.jsonl --set method=classify --out "$R/dim/baved_zeroshot_classify"
    OMP_NUM_THREADS=1 $D --train $T --test manifests/baved.jsonl --set method=classify --set table=nrc --out "$R/dim/baved_zeroshot_classify_nrc"
    OMP_NUM_THREADS=1 $D --train manifests/baved.jsonl --target arousal --protocol kfold-speaker:5 --out "$R/dim/baved_within"
    OMP_NUM_THREADS=1 $D --train manifests/emodb.jsonl,manifests/urdu.jsonl --test manifests/ravdess.jsonl --out "$R/dim/ravdess_zeroshot"
    OMP_NUM_THREADS=1 $D --train manifests/emodb.jsonl,manifests/urdu.jsonl --test manifests/ravdess.jsonl --set method=classify --out "$R/dim/ravdess_zeroshot_classify"
    OMP_NUM_THREADS=1 $D --train manifests/ravdess.jsonl --protocol folds:ravdess5 --out "$R/dim/ravdess_within" ;;
  explain)  # faithfulness: a model trained without 2 held-out speakers explains their clips
    .venv/bin/python - <<'EOF'
import json
for c, held in (("emodb", {"emodb_03", "emodb_08"}), ("ravdess", {"ravdess_01", "ravdess_02"})):
    rows = [json.loads(l) for l in open(f"manifests/{c}.jsonl")]
    open(f"manifests/{c}_explain_train.jsonl", "w").write("".join(json.dumps(r) + "\n" for r in rows if r["speaker"] not in held))
    open(f"manifests/{c}_explain_test.jsonl", "w").write("".join(json.dumps(r) + "\n" for r in rows if r["speaker"] in held))
EOF
    mkdir -p "$R/explain"
    for c in emodb ravdess; do
      [ -f "$R/explain/${c}_attnpool.pt" ] || $S train --manifest manifests/${c}_explain_train.jsonl --model attnpool --out "$R/explain/${c}_attnpool.pt"
      OMP_NUM_THREADS=1 $S explain "$R/explain/${c}_attnpool.pt" manifests/${c}_explain_test.jsonl --out "$R/explain/$c"
    done ;;
  *) echo "unknown stage $st"; exit 2 ;;
esac; done
