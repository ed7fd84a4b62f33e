#!/usr/bin/env bash
# Side by side: the same JS workloads on hz and on Node, in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
hz="${CARGO_TARGET_DIR:-target}/release/hz"
echo "machine: $(nproc) cores, $(uname -m)"
"$hz" run bench/roundtrip-hz.js
if command -v node >/dev/null; then node bench/roundtrip-node.js; else echo "node: not installed, skipped"; fi
