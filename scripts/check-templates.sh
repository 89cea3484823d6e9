#!/usr/bin/env bash
# Checks kendra-waiter's deployment files: template.yaml, every Step Functions
# definition in statemachine/, the metrics the alarms and the dashboard name, and
# the sample events. Installs nothing; it expects
#   - a Python venv at ${VENV:-.venv} with aws-sam-cli and cfn-lint
#     (python3 -m venv .venv && .venv/bin/pip install -r e2e/requirements.txt)
#   - node_modules/ from `npm ci` (asl-validator)
#   - the function's release binary, ${KENDRA_WAITER_BIN:-target/release/bootstrap}
#     (the metrics check runs it once to read the metrics it really emits)
# Every check runs even when an earlier one fails; the exit status is non-zero
# when any failed. The last line is the summary: "templates: N passed, M failed".
# Arguments, when given, name the checks to run (e.g. `metrics_exist`); TEMPLATE
# may name another template file (the e2e tests check a broken copy this way).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${VENV:-.venv}"
SAM="$VENV/bin/sam"
CFN_LINT="$VENV/bin/cfn-lint"
PYTHON="$VENV/bin/python"
ASL_VALIDATOR="node_modules/.bin/asl-validator"
TEMPLATE="${TEMPLATE:-template.yaml}"
WAITER_BIN="${KENDRA_WAITER_BIN:-target/release/bootstrap}"

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
        # A check may print notes worth seeing even when it passes.
        grep '^note: ' "$work/out" | sed 's/^/      /' || true
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

# Every statemachine/*.asl.json is deployed by exactly one AWS::Serverless::StateMachine,
# its placeholders are exactly that resource's DefinitionSubstitutions, and it is
# written, substituted with stand-in values (parameter defaults, fake ARNs), to
# $work/asl/<name> for asl-validator.
placeholders_match() {
    need "$PYTHON" "create the venv first" || return 1
    mkdir -p "$work/asl"
    "$PYTHON" - "$TEMPLATE" "$work/asl" <<'EOF'
import glob
import json
import os
import re
import sys

from samtranslator.yaml_helper import yaml_parse

template_path, out_dir = sys.argv[1:3]
with open(template_path, encoding="utf-8") as f:
    template = yaml_parse(f.read())
resources = template["Resources"]
parameters = template.get("Parameters", {})
ACCOUNT, REGION = "123456789012", "us-east-1"
FAKE_BY_TYPE = {
    "AWS::Serverless::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:kendra-waiter-fake",
    "AWS::Serverless::StateMachine": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:kendra-waiter-fake",
    "AWS::SQS::Queue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/kendra-waiter-fake",
    "AWS::S3::Bucket": "kendra-waiter-fake-bucket",
}


def stand_in(name, value):
    """A value of the right kind for one DefinitionSubstitution."""
    if "Ref" in value and value["Ref"] in parameters:
        param = parameters[value["Ref"]]
        if "Default" not in param:
            sys.exit(f"{name}: parameter {value['Ref']} has no Default to validate with")
        return str(param["Default"])
    target = value.get("Ref") or (value.get("Fn::GetAtt") or [None])[0]
    kind = resources.get(target, {}).get("Type")
    if kind not in FAKE_BY_TYPE:
        sys.exit(f"{name}: no stand-in for {value} (resource type {kind})")
    return FAKE_BY_TYPE[kind]


problems = []
machines = {
    r["Properties"].get("DefinitionUri"): (name, r["Properties"])
    for name, r in resources.items()
    if r.get("Type") == "AWS::Serverless::StateMachine"
}
files = sorted(glob.glob("statemachine/*.asl.json"))
for path in files:
    if path not in machines:
        problems.append(f"{path}: no AWS::Serverless::StateMachine has DefinitionUri {path}")
for uri, (name, props) in sorted(machines.items()):
    if uri not in files:
        problems.append(f"{name}: DefinitionUri {uri} is not a statemachine/*.asl.json file")
        continue
    substitutions = props.get("DefinitionSubstitutions", {})
    with open(uri, encoding="utf-8") as f:
        text = f.read()
    used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text))
    if used != set(substitutions):
        problems.append(f"{name}: placeholders in {uri} {sorted(used)} != DefinitionSubstitutions {sorted(substitutions)}")
        continue
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", stand_in(f"{name}.{key}", value))
    try:
        json.loads(text)
    except ValueError as e:
        problems.append(f"{uri}: not JSON once substituted: {e}")
        continue
    with open(os.path.join(out_dir, os.path.basename(uri)), "w", encoding="utf-8") as f:
        f.write(text)
    print(f"{name}: placeholders {sorted(used)} all substituted")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
EOF
}

asl_validate() {
    need "$ASL_VALIDATOR" "run: npm ci" || return 1
    local f status=0 count=0
    for f in statemachine/*.asl.json; do
        local substituted="$work/asl/$(basename "$f")"
        if [[ ! -f "$substituted" ]]; then
            echo "$f: not substituted (see the placeholders check)"
            status=1
            continue
        fi
        echo "$f:"
        if ! "$ASL_VALIDATOR" --json-path "$substituted"; then
            status=1
        fi
        count=$((count + 1))
    done
    ((count > 0)) || { echo "no statemachine/*.asl.json"; return 1; }
    return "$status"
}

# Every alarm and dashboard widget names a metric that exists: one the function
# really emits (EMF namespace and names read from the release binary's output, run
# once through a minimal Lambda Runtime API on 127.0.0.1; no dimensions, as it emits
# them) or one AWS emits for that resource type (AWS/Lambda, AWS/SQS, AWS/States,
# with the dimension naming a resource of that type in the template). A renamed
# metric cannot silently blind an alarm.
metrics_exist() {
    need "$PYTHON" "create the venv first" || return 1
    if [[ ! -x "$WAITER_BIN" ]]; then
        echo "$WAITER_BIN not found or not executable: build it (cargo build --release --bin bootstrap) or set KENDRA_WAITER_BIN"
        return 1
    fi
    "$PYTHON" - "$TEMPLATE" "$WAITER_BIN" <<'EOF'
import hashlib
import json
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from samtranslator.yaml_helper import yaml_parse

template_path, waiter_bin = sys.argv[1:3]
with open(template_path, encoding="utf-8") as f:
    template = yaml_parse(f.read())
resources = template["Resources"]

# Metrics AWS publishes, by namespace: the dimension that names the resource, the
# resource type that dimension must point at, and the metric names (AWS docs:
# "Lambda function metrics", "Amazon SQS metrics", "Step Functions metrics").
AWS_METRICS = {
    "AWS/Lambda": ("FunctionName", "AWS::Serverless::Function", {
        "Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions", "DeadLetterErrors",
        "IteratorAge", "ProvisionedConcurrentExecutions", "RecursiveInvocationsDropped", "AsyncEventAge"}),
    "AWS/SQS": ("QueueName", "AWS::SQS::Queue", {
        "ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesVisible", "NumberOfEmptyReceives", "NumberOfDeduplicatedSentMessages",
        "NumberOfMessagesDeleted", "NumberOfMessagesReceived", "NumberOfMessagesSent", "SentMessageSize"}),
    "AWS/States": ("StateMachineArn", "AWS::Serverless::StateMachine", {
        "ExecutionTime", "ExecutionThrottled", "ExecutionsAborted", "ExecutionsFailed", "ExecutionsStarted",
        "ExecutionsSucceeded", "ExecutionsTimedOut", "ExecutionsRedriven", "RedrivenExecutionsAborted",
        "RedrivenExecutionsFailed", "RedrivenExecutionsSucceeded", "RedrivenExecutionsTimedOut"}),
}
# Metrics the contract promises and the function does not emit yet. The dashboard may
# show them; no alarm may depend on them; and once the binary emits one, this check fails
# until it is removed from here, so the list cannot rot. (KendraCallRate is emitted
# whenever the process is paced: KENDRA_MAX_RPS below makes it so from the start.)
PENDING_FUNCTION_METRICS = {}


def emitted_metrics(namespace_setting):
    """Runs the binary for two invocations (a direct batch with Kendra unreachable: one
    failed call; an SQS event with one body that is not a batch) and returns
    {namespace: {metric: [dimension sets]}} from the EMF records of both."""
    body = "not a batch"
    events = [
        {"indexId": "11111111-2222-3333-4444-555555555555", "documents": ["metrics-check"], "maxAttempts": 1},
        {"Records": [{
            "messageId": "00000000-0000-4000-8000-000000000001", "receiptHandle": "metrics-check", "body": body,
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000", "SenderId": "metrics-check",
                           "ApproximateFirstReceiveTimestamp": "1700000000000"},
            "messageAttributes": {}, "md5OfBody": hashlib.md5(body.encode()).hexdigest(), "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:kendra-waiter-check", "awsRegion": "us-east-1"}]},
    ]
    answered = threading.Event()
    served = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            if len(served) == len(events):  # no further invocation: hold the connection
                answered.wait(60)
                time.sleep(60)
                return
            event = events[len(served)]
            served.append(1)
            data = json.dumps(event).encode()
            self.send_response(200)
            for k, v in {
                "Lambda-Runtime-Aws-Request-Id": f"metrics-check-{len(served)}",
                "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30000),
                "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:kendra-waiter",
                "Content-Length": str(len(data)),
            }.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            if len(served) == len(events):
                answered.set()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "kendra-waiter",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_KENDRA": "http://127.0.0.1:9",  # discard port: connection refused at once
        "METRICS_NAMESPACE": namespace_setting,
        "KENDRA_MAX_RPS": "5",
    }
    proc = subprocess.Popen([waiter_bin], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        if not answered.wait(60):
            sys.exit(f"{waiter_bin} did not answer its {len(events)} invocations within 60 s")
        time.sleep(0.2)  # the EMF record is written before the answer; let stdout drain
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
        server.shutdown()
    found, records = {}, 0
    for line in out.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        directives = (record.get("_aws") or {}).get("CloudWatchMetrics", []) if isinstance(record, dict) else []
        records += bool(directives)
        for directive in directives:
            for metric in directive.get("Metrics", []):
                found.setdefault(directive["Namespace"], {}).setdefault(metric["Name"], directive.get("Dimensions", [[]]))
    if not found:
        sys.exit(f"{waiter_bin} wrote no EMF record; stdout: {out[-500:]!r} stderr: {err[-500:]!r}")
    print(f"{records} EMF records from {len(events)} invocations")
    return found


def ref_target(value):
    """The resource a Ref/GetAtt names, or None."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return None


def alarm_metrics(name, props):
    """(namespace, metric, {dimension: resource or literal}) of one alarm."""
    if "MetricName" in props:
        yield props.get("Namespace"), props["MetricName"], {d["Name"]: ref_target(d["Value"]) or d["Value"] for d in props.get("Dimensions", [])}
    for m in props.get("Metrics", []):
        if "MetricStat" in m:
            metric = m["MetricStat"]["Metric"]
            yield metric.get("Namespace"), metric["MetricName"], {d["Name"]: ref_target(d["Value"]) or d["Value"] for d in metric.get("Dimensions", [])}
        elif not m.get("Expression"):
            yield None, None, {}


def widget_metrics(body_sub):
    """(namespace, metric, {dimension: resource}) of every dashboard widget."""
    text = body_sub if isinstance(body_sub, str) else body_sub[0]
    variables = {}

    def placeholder(match):
        token = f"__SUB{len(variables)}__"
        variables[token] = match.group(1).split(".")[0]
        return token

    body = json.loads(re.sub(r"\$\{([^}]+)\}", placeholder, text))
    for widget in body["widgets"]:
        title = widget.get("properties", {}).get("title", "?")
        for row in widget.get("properties", {}).get("metrics", []):
            strings = [x for x in row if isinstance(x, str)]
            if not strings:
                continue  # an expression row
            if strings[0] == "...":
                raise SystemExit(f"widget {title!r}: write metrics out in full (no '...' shorthand) so they can be checked")
            namespace, metric, rest = strings[0], strings[1], strings[2:]
            dims = {rest[i]: variables.get(rest[i + 1], rest[i + 1]) for i in range(0, len(rest) - 1, 2)}
            yield title, namespace, metric, dims


function_env = resources["KendraWaiterFunction"]["Properties"]["Environment"]["Variables"]
namespace_setting = function_env.get("METRICS_NAMESPACE", "KendraWaiter")
emitted = emitted_metrics(namespace_setting)
function_namespace = namespace_setting
print(f"the function ({waiter_bin}) emits, in namespace(s) {sorted(emitted)}: "
      + ", ".join(f"{m}" for ns in emitted.values() for m in sorted(ns)))
problems, notes = [], []
if set(emitted) != {function_namespace}:
    problems.append(f"the function emitted namespaces {sorted(emitted)}, the template sets METRICS_NAMESPACE={function_namespace}")
for metric in PENDING_FUNCTION_METRICS:
    if metric in emitted.get(function_namespace, {}):
        problems.append(f"{metric} is emitted now: remove it from PENDING_FUNCTION_METRICS in scripts/check-templates.sh")


def check(where, namespace, metric, dims, alarm):
    if namespace == function_namespace:
        dimension_sets = emitted.get(namespace, {}).get(metric)
        if dimension_sets is None:
            if metric in PENDING_FUNCTION_METRICS and not alarm:
                notes.append(f"note: {where}: {metric} is not emitted yet ({PENDING_FUNCTION_METRICS[metric]})")
            elif metric in PENDING_FUNCTION_METRICS:
                problems.append(f"{where}: alarm on {metric}, which the function does not emit yet")
            else:
                problems.append(f"{where}: {namespace}/{metric} is not a metric the function emits")
        elif sorted(dims) not in [sorted(s) for s in dimension_sets]:
            problems.append(f"{where}: {metric} with dimensions {sorted(dims)}; the function emits it with {dimension_sets}")
        return
    if namespace not in AWS_METRICS:
        problems.append(f"{where}: namespace {namespace!r} is neither the function's ({function_namespace}) nor one of {sorted(AWS_METRICS)}")
        return
    dimension, resource_type, names = AWS_METRICS[namespace]
    if metric not in names:
        problems.append(f"{where}: {namespace} has no metric {metric}")
    if set(dims) != {dimension}:
        problems.append(f"{where}: {namespace}/{metric} needs exactly the dimension {dimension}, has {sorted(dims)}")
    elif resources.get(dims[dimension], {}).get("Type") != resource_type:
        problems.append(f"{where}: {dimension} must name a {resource_type} of this template, names {dims[dimension]!r}")


alarms = widgets = 0
for name, resource in resources.items():
    if resource.get("Type") == "AWS::CloudWatch::Alarm":
        alarms += 1
        for namespace, metric, dims in alarm_metrics(name, resource["Properties"]):
            check(f"alarm {name}", namespace, metric, dims, alarm=True)
    if resource.get("Type") == "AWS::CloudWatch::Dashboard":
        for title, namespace, metric, dims in widget_metrics(resource["Properties"]["DashboardBody"]["Fn::Sub"]):
            widgets += 1
            check(f"dashboard {name} widget {title!r}", namespace, metric, dims, alarm=False)
if alarms == 0 or widgets == 0:
    problems.append(f"found {alarms} alarms and {widgets} dashboard metrics: expected both")
for note in sorted(set(notes)):
    print(note)
for p in problems:
    print(p)
print(f"{alarms} alarms, {widgets} dashboard metrics checked")
sys.exit(1 if problems else 0)
EOF
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
    # The one copy of this check lives in the e2e harness (also run by the e2e suite).
    PYTHONPATH="$PWD/e2e" "$PYTHON" -m harness events
}

checks=(
    "sam validate --lint|sam_validate"
    "cfn-lint $TEMPLATE|cfn_lint"
    "every definition's placeholders = its DefinitionSubstitutions|placeholders_match"
    "asl-validator statemachine/*.asl.json (substituted)|asl_validate"
    "alarm and dashboard metrics exist (the function's EMF from $WAITER_BIN, AWS's)|metrics_exist"
    "json.tool events/*.json|events_json"
    "events vs events/expectations.json|events_consistent"
)
for check in "${checks[@]}"; do
    name="${check%|*}"
    fn="${check##*|}"
    if (($# > 0)) && [[ " $* " != *" $fn "* ]]; then
        continue
    fi
    if [[ "$fn" == asl_validate && " $* " != *" placeholders_match "* && $# -gt 0 ]]; then
        placeholders_match >/dev/null 2>&1 || true  # asl_validate reads what it writes
    fi
    run_check "$name" "$fn"
done
if ((passed + failed == 0)); then
    echo "no check named: $*"
    exit 2
fi

if ((failed > 0)); then
    echo "failed: ${failures[*]}"
fi
echo "templates: $passed passed, $failed failed"
((failed == 0))
