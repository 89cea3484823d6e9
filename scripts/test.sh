#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this). Needs only the Rust toolchain,
# python3 and node; installs the rest into .venv/ and node_modules/. Every server a test
# needs (kendra-local, moto, the Lambda Runtime API emulator) is started and stopped by
# the test itself, on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

if [ ! -d node_modules/asl-validator ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> installing asl-validator into node_modules"
  npm ci --no-audit --no-fund --silent
fi

passed=0
step() {
  echo
  echo "==> $1"
  shift
  "$@"
  passed=$((passed + 1))
}

step "format" cargo fmt --all -- --check
step "clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
step "release binaries (bootstrap, kendra-local) for the end-to-end tests" \
  cargo build --release --locked --workspace --bins
step "cargo tests (unit, integration against kendra-local and moto)" \
  cargo test --workspace --locked
step "template, state machine and event checks" bash scripts/check-templates.sh
export PYTHONPATH="$PWD/e2e${PYTHONPATH:+:$PYTHONPATH}"  # the harness package (e2e/pytest.ini also sets it)
step "Python tests (boto3 against kendra-local, end to end through the Runtime API, moto Step Functions and SQS)" \
  .venv/bin/python -m pytest e2e -q -p no:cacheprovider

echo
echo "test suites: ${passed} passed, 0 failed"
