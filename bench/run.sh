#!/usr/bin/env bash
# Side by side: the same JS workloads on hz and on Node, in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
hz="${CARGO_TARGET_DIR:-target}/release/hz"
echo "machine: $(nproc) cores, $(uname -m)"
for w in roundtrip atomics; do
  "$hz" run "bench/$w-hz.js"
  if command -v node >/dev/null; then node "bench/$w-node.js"; else echo "node: not installed, skipped"; fi
done
