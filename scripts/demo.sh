#!/usr/bin/env bash
# The local demo: builds the release binaries, then runs the real function behind a local
# Lambda Runtime API against kendra-local (and moto for SQS, S3 and Step Functions), printing
# every round: the wait loop, SQS retries, callback mode and a small ingest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
echo "==> building the release binaries (the first build takes a few minutes)"
cargo build --release --locked --workspace --bins
export PYTHONPATH="$PWD/e2e${PYTHONPATH:+:$PYTHONPATH}"  # the harness package
exec .venv/bin/python scripts/demo.py "$@"
