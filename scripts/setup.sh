#!/usr/bin/env bash
# Shared by scripts/test.sh and scripts/demo.sh: installs what the project needs beside the
# Rust toolchain, python3 and node, into the checkout only (.venv/, node_modules/).
# Source it from the repository root.
set -euo pipefail

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
if ! cmp -s e2e/requirements.txt .venv/.requirements.installed; then
  echo "==> installing Python tools into .venv (moto, boto3, pytest, aws-sam-cli, cfn-lint, cargo-lambda, AWS CLI v1)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r e2e/requirements.txt
  cp e2e/requirements.txt .venv/.requirements.installed
fi
export MOTO_SERVER="$PWD/.venv/bin/moto_server"
export SAM_CLI_TELEMETRY=0
