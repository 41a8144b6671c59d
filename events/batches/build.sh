#!/usr/bin/env bash
# Rebuilds the sample store (events/*.jsonl) from the batches in MANIFEST
# order, as national units' tools sent them: one `theseus append` per batch,
# stamped with the manifest's recorded_at and recorded_by so that the log is
# byte-for-byte reproducible. THESEUS names the binary (default: theseus).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
store=${1:-$(dirname "$here")}
theseus=${THESEUS:-theseus}
# Built in a new directory of its own (init refuses a directory that holds
# anything, and events/ holds the batches), then its segments moved in.
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
"$theseus" --store "$build/store" init >/dev/null
grep -v '^#' "$here/MANIFEST" | while read -r file recorded_at recorded_by; do
  [ -n "$file" ] || continue
  "$theseus" --store "$build/store" append "$here/$file" \
    --recorded-at "$recorded_at" --recorded-by "$recorded_by" >/dev/null
done
mkdir -p "$store"
rm -f "$store"/*.jsonl
rm -rf "$store/.theseus"
cp "$build/store"/*.jsonl "$store"/
# The subject keys that open the sealed references travel with the log.
if [ -e "$build/store/subject-keys" ]; then
  cp -p "$build/store/subject-keys" "$store"/
fi
"$theseus" --store "$store" head
