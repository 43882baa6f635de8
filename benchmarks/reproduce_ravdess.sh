#!/usr/bin/env bash
# The seed systems on their own corpus (issue 15): published numbers beside serkit's on the
# published RAVDESS protocols. The rows (published figure, protocol, serkit run, seeds) are data:
# serkit/experiment/reproductions/ravdess.yaml; the actor folds too: serkit/data/splits/.
# Needs RAVDESS (../shared/corpora/README.md: fetch + extract.sh -> ~/corpora/ravdess).
# Re-running resumes (tuning studies and finished folds are kept); the table alone:
#   serkit reproduce ravdess --manifest manifests/ravdess.jsonl --out RUNS --table-only
# Usage: bash benchmarks/reproduce_ravdess.sh [RUNS_DIR] [RAVDESS_ROOT]
set -euo pipefail
R=${1:-runs/reproduce_ravdess}
ROOT=${2:-$HOME/corpora/ravdess}
S=${SERKIT:-.venv/bin/serkit}
mkdir -p manifests "$R"
[ -f manifests/ravdess.jsonl ] || $S prepare ravdess "$ROOT" --out manifests/ravdess.jsonl
$S reproduce ravdess --manifest manifests/ravdess.jsonl --jobs 2 --quiet --out "$R"
