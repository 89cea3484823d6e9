#!/usr/bin/env bash
# The performance benchmark (issues 6 and 12, see docs/performance.md): builds the release
# binaries, then runs bench/run.py against kendra-local and prints the tables: the
# single-process scenarios and the fleet (K = 1, 4, 16 processes sharing one quota).
# Extra arguments go to bench/run.py (e.g. --repeats 3, --only cpu,throughput,fleet,
# --fleet-repeats 5, --json out.json).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  source scripts/setup.sh
fi
echo "==> cargo build --release --workspace --bins" >&2
cargo build --release --locked --workspace --bins >&2
if [ ! -x .venv/bin/cargo-lambda ]; then
  echo "==> installing cargo-lambda (and zig) into .venv for the arm64 build" >&2
  .venv/bin/pip install --quiet cargo-lambda >&2 || echo "cargo-lambda not installed: arm64 size not measured" >&2
fi
export PYTHONPATH="$PWD/e2e${PYTHONPATH:+:$PYTHONPATH}"  # the harness package
exec .venv/bin/python bench/run.py "$@"
