#!/usr/bin/env bash
# Checks kendra-waiter's deployment files: template.yaml, the Step Functions
# definition and the sample events. Installs nothing; it expects
#   - a Python venv at ${VENV:-.venv} with aws-sam-cli and cfn-lint
#     (python3 -m venv .venv && .venv/bin/pip install -r e2e/requirements.txt)
#   - node_modules/ from `npm ci` (asl-validator)
# Every check runs even when an earlier one fails; the exit status is non-zero
# when any failed. The last line is the summary: "templates: N passed, M failed".
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${VENV:-.venv}"
SAM="$VENV/bin/sam"
CFN_LINT="$VENV/bin/cfn-lint"
PYTHON="$VENV/bin/python"
ASL_VALIDATOR="node_modules/.bin/asl-validator"
TEMPLATE="template.yaml"
DEFINITION="statemachine/wait-for-indexing.asl.json"
# A syntactically valid ARN and a number stand in for the DefinitionSubstitutions.
FAKE_FUNCTION_ARN="arn:aws:lambda:us-east-1:123456789012:function:kendra-waiter-KendraWaiterFunction-0123456789AB"
FAKE_WAIT_SECONDS=30

# sam validate must not look for real credentials or a region; --lint is offline.
export SAM_CLI_TELEMETRY=0
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
failures=()

# run_check NAME COMMAND...: runs the command, shows its output on failure.
run_check() {
    local name="$1"
    shift
    if "$@" >"$work/out" 2>&1; then
        passed=$((passed + 1))
        echo "ok    $name"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "FAIL  $name"
        sed 's/^/      /' "$work/out"
    fi
}

need() {
    if [[ ! -x "$1" ]]; then
        echo "$1 not found: $2" >&2
        return 1
    fi
}

sam_validate() {
    need "$SAM" "create the venv: python3 -m venv $VENV && $VENV/bin/pip install -r e2e/requirements.txt" || return 1
    "$SAM" validate --lint --template "$TEMPLATE" --region us-east-1
}

cfn_lint() {
    need "$CFN_LINT" "create the venv: python3 -m venv $VENV && $VENV/bin/pip install -r e2e/requirements.txt" || return 1
    "$CFN_LINT" "$TEMPLATE"
}

# The placeholders in the definition are exactly the template's DefinitionSubstitutions.
placeholders_match() {
    need "$PYTHON" "create the venv first" || return 1
    "$PYTHON" - "$TEMPLATE" "$DEFINITION" <<'EOF'
import re
import sys

from samtranslator.yaml_helper import yaml_parse

template_path, definition_path = sys.argv[1:3]
with open(template_path, encoding="utf-8") as f:
    template = yaml_parse(f.read())
machines = [
    (name, r["Properties"])
    for name, r in template["Resources"].items()
    if r.get("Type") == "AWS::Serverless::StateMachine"
    and r["Properties"].get("DefinitionUri") == definition_path
]
if len(machines) != 1:
    sys.exit(f"expected one state machine with DefinitionUri {definition_path}, found {len(machines)}")
name, props = machines[0]
substituted = set(props.get("DefinitionSubstitutions", {}))
with open(definition_path, encoding="utf-8") as f:
    used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", f.read()))
if used != substituted:
    sys.exit(
        f"{name}: placeholders in {definition_path} {sorted(used)} "
        f"!= DefinitionSubstitutions {sorted(substituted)}"
    )
print(f"{name}: placeholders {sorted(used)} all substituted")
EOF
}

asl_validate() {
    need "$ASL_VALIDATOR" "run: npm ci" || return 1
    sed -e "s|\${KendraWaiterFunctionArn}|$FAKE_FUNCTION_ARN|g" \
        -e "s|\${WaitSeconds}|$FAKE_WAIT_SECONDS|g" \
        "$DEFINITION" >"$work/definition.json"
    if grep -n '\${' "$work/definition.json"; then
        echo "unsubstituted placeholders left in $DEFINITION"
        return 1
    fi
    "$ASL_VALIDATOR" --json-path "$work/definition.json"
}

events_json() {
    need "$PYTHON" "create the venv first" || return 1
    local f status=0
    for f in events/*.json; do
        if ! "$PYTHON" -m json.tool "$f" >/dev/null; then
            echo "$f: not valid JSON"
            status=1
        fi
    done
    return "$status"
}

# Every sample event has an expectation and vice versa; SQS bodies match md5OfBody.
events_consistent() {
    need "$PYTHON" "create the venv first" || return 1
    "$PYTHON" - <<'EOF'
import glob
import hashlib
import json
import os
import sys

problems = []
with open("events/expectations.json", encoding="utf-8") as f:
    expectations = json.load(f)
events = {
    os.path.basename(p)
    for p in glob.glob("events/*.json")
    if os.path.basename(p) not in ("expectations.json", "env.json")
}
for name in sorted(events - set(expectations)):
    problems.append(f"{name}: no entry in events/expectations.json")
for name in sorted(set(expectations) - events):
    problems.append(f"expectations.json names {name}, which does not exist")
for name in sorted(events):
    with open(os.path.join("events", name), encoding="utf-8") as f:
        event = json.load(f)
    expected = expectations.get(name, {})
    if name.startswith("invalid-") != ("errorType" in expected):
        problems.append(f"{name}: invalid-* files, and only they, expect an errorType")
    records = event.get("Records") if isinstance(event, dict) else None
    for record in records or []:
        if record.get("eventSource") == "aws:sqs":
            md5 = hashlib.md5(record["body"].encode("utf-8")).hexdigest()
            if record.get("md5OfBody") != md5:
                problems.append(f"{name}: {record.get('messageId')}: md5OfBody is not the md5 of body")
    if expected.get("kind") == "sqs":
        ids = {r.get("messageId") for r in records or []}
        if expected.get("messages") not in (None, len(records or [])):
            problems.append(f"{name}: expects {expected['messages']} messages, has {len(records or [])}")
        for item in expected.get("batchItemFailures", []):
            if item not in ids:
                problems.append(f"{name}: batchItemFailures names {item}, not a messageId of the event")
with open("events/env.json", encoding="utf-8") as f:
    env = json.load(f)
if list(env) != ["KendraWaiterFunction"]:
    problems.append("env.json must have exactly the function's logical id, KendraWaiterFunction")
for p in problems:
    print(p)
print(f"{len(events)} events, {len(expectations)} expectations")
sys.exit(1 if problems else 0)
EOF
}

run_check "sam validate --lint" sam_validate
run_check "cfn-lint $TEMPLATE" cfn_lint
run_check "definition placeholders = DefinitionSubstitutions" placeholders_match
run_check "asl-validator $DEFINITION (substituted)" asl_validate
run_check "json.tool events/*.json" events_json
run_check "events vs events/expectations.json" events_consistent

if ((failed > 0)); then
    echo "failed: ${failures[*]}"
fi
echo "templates: $passed passed, $failed failed"
((failed == 0))
