# Sourced by the benchmark scripts: write the five corpus manifests once (EmoDB and URDU from
# ../shared/corpora, RAVDESS / BAVED / EmoSpeech from ~/corpora, see ../shared/corpora/README.md).
mkdir -p manifests
[ -f manifests/emodb.jsonl ] || .venv/bin/serkit prepare emodb ../shared/corpora/emodb --out manifests/emodb.jsonl
[ -f manifests/urdu.jsonl ] || .venv/bin/serkit prepare urdu ../shared/corpora/urdu --out manifests/urdu.jsonl
for c in ravdess baved emospeech; do
  [ -f manifests/$c.jsonl ] || .venv/bin/serkit prepare $c ~/corpora/$c --out manifests/$c.jsonl
done
