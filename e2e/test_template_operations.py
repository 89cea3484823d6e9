"""template.yaml's Part 2 and operations resources, read as data: the payload bucket, the
function's environment and IAM, the state machines' logging and tracing, the queue
arithmetic, the alarms, and the metrics check of scripts/check-templates.sh (which must
fail on a renamed metric). Run:
.venv/bin/python -m pytest e2e/test_template_operations.py -q -p no:cacheprovider
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from samtranslator.yaml_helper import yaml_parse

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = yaml_parse((REPO / "template.yaml").read_text(encoding="utf-8"))
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]
MACHINES = {n: r for n, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::StateMachine"}

# Actions IAM cannot scope to a resource, each with the reason the template gives.
UNSCOPABLE = {
    "states:SendTaskHeartbeat", "states:SendTaskSuccess", "states:SendTaskFailure",  # a task token names no resource
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
}


def props(name: str) -> dict:
    return RESOURCES[name]["Properties"]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def statements() -> list[tuple[str, dict]]:
    """Every Allow statement of every role and policy in the template, with its owner."""
    found = []
    for name, r in RESOURCES.items():
        p = r.get("Properties", {})
        documents = [pol["PolicyDocument"] for pol in p.get("Policies", [])] if r["Type"] == "AWS::IAM::Role" else []
        if r["Type"] in ("AWS::IAM::RolePolicy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            documents.append(p["PolicyDocument"])
        for doc in documents:
            for st in doc["Statement"]:
                if "Fn::If" in st:  # a conditional statement: check its "true" branch
                    st = st["Fn::If"][1]
                if st.get("Effect") == "Allow":
                    found.append((name, st))
    return found


def test_payload_bucket_is_private_tls_only_encrypted_and_expires():
    bucket = props("PayloadBucket")
    assert all(bucket["PublicAccessBlockConfiguration"][k] is True for k in
               ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
    expiry = [r for r in bucket["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
    assert expiry == [{"Id": "ExpirePayloads", "Status": "Enabled", "Prefix": {"Ref": "PayloadPrefix"},
                       "ExpirationInDays": {"Ref": "PayloadRetentionDays"}}]
    (deny,) = props("PayloadBucketPolicy")["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(deny["Resource"]) == 2  # the bucket and its objects


def test_function_has_the_part_2_environment_and_active_tracing():
    fn = props("KendraWaiterFunction")
    env = fn["Environment"]["Variables"]
    assert env["PAYLOAD_BUCKET"] == {"Ref": "PayloadBucket"}
    assert env["PAYLOAD_PREFIX"] == {"Ref": "PayloadPrefix"}
    assert env["MAX_RESULT_BYTES"] == {"Ref": "MaxResultBytes"}
    assert env["MAX_ATTEMPTS_LIMIT"] == {"Ref": "MaxAttemptsLimit"}
    assert env["CALL_TIMEOUT_MS"] == {"Ref": "CallTimeoutMs"}
    assert env["EVENT_BUS_NAME"] == "default"
    assert env["RETRY_QUEUE_URL"] == {"Ref": "CheckQueue"}
    assert fn["Tracing"] == "Active"
    assert PARAMETERS["BatchSize"]["MaxValue"] <= int(env["MAX_DOCUMENTS"])


def test_iam_wildcards_only_where_iam_cannot_scope():
    for owner, st in statements():
        actions = as_list(st["Action"])
        assert not any(a == "*" or a.endswith(":*") for a in actions), (owner, actions)
        if "*" in as_list(st["Resource"]):
            assert set(actions) <= UNSCOPABLE, (owner, st.get("Sid"), set(actions) - UNSCOPABLE)


def test_s3_access_is_scoped_to_the_payload_prefix_or_the_manifest_bucket():
    for owner, st in statements():
        if any(a.startswith("s3:") for a in as_list(st["Action"])):
            for resource in as_list(st["Resource"]):
                text = resource["Fn::Sub"]
                assert text.startswith("${PayloadBucket.Arn}/${PayloadPrefix}") or text.endswith(":s3:::${ManifestBucketName}/*"), (owner, text)


def test_sync_and_distributed_map_permissions():
    by_sid = {st.get("Sid"): (owner, st) for owner, st in statements()}
    owner, start = by_sid["StartNextLink"]
    assert start["Resource"] == {"Ref": "WaitForIndexingStateMachine"} and props(owner)["RoleName"] == {"Ref": "WaitForIndexingRole"}
    assert by_sid["WatchNextLink"][1]["Resource"]["Fn::Sub"].endswith(":execution:${WaitForIndexingStateMachine.Name}:*")
    assert by_sid["StartMapRunChildren"][1]["Resource"] == {"Ref": "WaitForIngestStateMachine"}
    assert by_sid["WatchMapRunChildren"][1]["Resource"]["Fn::Sub"].endswith(":execution:${WaitForIngestStateMachine.Name}/*")
    rules = [st for _, st in statements() if st.get("Sid") == "SyncExecutionRule"]
    assert len(rules) == 2 and all(r["Resource"]["Fn::Sub"].endswith(":rule/StepFunctionsGetEventsForStepFunctionsExecutionRule") for r in rules)


def test_every_state_machine_is_traced_and_logs_errors_to_its_own_group():
    groups = []
    for name, machine in MACHINES.items():
        p = machine["Properties"]
        assert p["Tracing"] == {"Enabled": True}, name
        assert p["Logging"]["Level"] == "ERROR", name
        (destination,) = p["Logging"]["Destinations"]
        group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
        assert props(group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        groups.append(group)
    assert len(MACHINES) == 3 and len(set(groups)) == 3


def test_every_state_machine_has_a_failed_or_timed_out_alarm():
    watched = set()
    for r in RESOURCES.values():
        if r["Type"] == "AWS::CloudWatch::Alarm":
            names = {m["MetricStat"]["Metric"]["MetricName"]: m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
                     for m in r["Properties"].get("Metrics", []) if "MetricStat" in m and m["MetricStat"]["Metric"]["Namespace"] == "AWS/States"}
            if {"ExecutionsFailed", "ExecutionsTimedOut"} <= set(names):
                watched.add(names["ExecutionsFailed"])
    assert watched == set(MACHINES)


def test_alarms_notify_the_topic_and_say_why():
    alarms = {n: r["Properties"] for n, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert len(alarms) >= 9
    for name, a in alarms.items():
        assert a["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert len(a["AlarmDescription"]) > 40, name
        assert a["TreatMissingData"] == "notBreaching", name
    assert RESOURCES["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"


def test_queue_and_timing_arithmetic():
    fn = props("KendraWaiterFunction")
    event = fn["Events"]["CheckQueueMessages"]["Properties"]
    check = props("CheckQueue")
    # AWS's advice for an SQS event source: visibility >= 6 x timeout + batching window.
    assert check["VisibilityTimeout"] >= 6 * fn["Timeout"] + event["MaximumBatchingWindowInSeconds"]
    # Republish mode (RETRY_QUEUE_URL = this queue): a receive count counts failures only.
    assert fn["Environment"]["Variables"]["RETRY_QUEUE_URL"] == {"Ref": "CheckQueue"}
    assert check["RedrivePolicy"]["maxReceiveCount"] == 5
    # A heartbeat outlasts the longest republish delay plus a round plus the batching window.
    heartbeat = PARAMETERS["CallbackHeartbeatSeconds"]
    assert heartbeat["MinValue"] > PARAMETERS["RetryMaxDelaySeconds"]["MaxValue"] + fn["Timeout"] + event["MaximumBatchingWindowInSeconds"]
    assert PARAMETERS["CallbackTimeoutSeconds"]["MinValue"] > heartbeat["MaxValue"]
    # A continue-as-new link's input and output (two results) fit one 256 KiB task result.
    assert 2 * PARAMETERS["MaxResultBytes"]["MaxValue"] + 2048 <= 262_144
    # RoundsPerExecution rounds of ~9 history events stay well under 25,000.
    assert PARAMETERS["RoundsPerExecution"]["MaxValue"] * 9 <= 20_000


def test_completion_events_example_rule_reaches_its_queue():
    rule = props("DocumentsFailedRule")
    assert rule["EventBusName"] == "default"
    assert rule["EventPattern"] == {"source": ["kendra-waiter"], "detail-type": ["Kendra Documents Failed"]}
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["DocumentsFailedEventsQueue", "Arn"]}
    (allow,) = props("DocumentsFailedEventsQueuePolicy")["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
    assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["DocumentsFailedRule", "Arn"]}


def run_metrics_check(template: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, TEMPLATE=str(template))
    return subprocess.run(["bash", "scripts/check-templates.sh", "metrics_exist"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_metrics_check_passes_on_the_template_and_fails_on_a_renamed_metric(tmp_path):
    ok = run_metrics_check(REPO / "template.yaml")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    text = (REPO / "template.yaml").read_text(encoding="utf-8")
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(text.replace("MetricName: KendraThrottled", "MetricName: KendraThrottles"), encoding="utf-8")
    broken = run_metrics_check(renamed)
    assert broken.returncode != 0
    assert "KendraWaiter/KendraThrottles is not a metric the function emits" in broken.stdout
    wrong_resource = tmp_path / "wrong-resource.yaml"
    wrong_resource.write_text(text.replace('"QueueName", "${FailureQueue.QueueName}", {"label": "failure reports"}',
                                           '"QueueName", "${AlarmTopic.TopicName}", {"label": "failure reports"}', 1), encoding="utf-8")
    broken = run_metrics_check(wrong_resource)
    assert broken.returncode != 0 and "QueueName must name a AWS::SQS::Queue" in broken.stdout
