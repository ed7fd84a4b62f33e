#!/usr/bin/env bash
# The benchmarks, side by side, in one command: builds hz (release, every
# engine), installs Deno and Bun from the npm registry into bench/.peers
# (once; Node is the machine's), runs every workload on each hz engine and
# each peer, and writes docs/BENCHMARKS.md with its plots in docs/bench/.
# Arguments go to hz-bench: --quick (small sizes, a pipeline check),
# --only spawn,roundtrip, --runtimes hz-quickjs,node (see --help).
# HZ_BENCH_FEATURES picks the engines (default v8,boa; QuickJS is always on).
set -euo pipefail
cd "$(dirname "$0")/.."
v8_archive="$(cd .. && pwd)/shared/v8/librusty_v8_release_x86_64-unknown-linux-gnu.a.gz"
if [ -z "${RUSTY_V8_ARCHIVE:-}" ] && [ -f "$v8_archive" ]; then export RUSTY_V8_ARCHIVE="$v8_archive"; fi
cargo build --release --quiet --features "${HZ_BENCH_FEATURES:-v8,boa}" --bin hz
cargo build --release --quiet -p hz-bench
peers=bench/.peers
if [ ! -x "$peers/node_modules/.bin/deno" ] || [ ! -x "$peers/node_modules/.bin/bun" ]; then
  if command -v npm >/dev/null; then
    mkdir -p "$peers"
    (cd "$peers" && { [ -f package.json ] || echo '{ "name": "hz-bench-peers", "private": true }' > package.json; } && npm install --no-audit --no-fund deno bun >npm.log 2>&1) \
      || echo "npm could not install deno and bun: they are left out of the report (see $peers/npm.log)" >&2
  else
    echo "no npm: deno and bun are left out of the report" >&2
  fi
fi
target="${CARGO_TARGET_DIR:-target}"
exec "$target/release/hz-bench" --hz "$target/release/hz" --peers-bin "$peers/node_modules/.bin" "$@"
