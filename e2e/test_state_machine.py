"""The template's state machine (statemachine/wait-for-indexing.asl.json, substituted as
template.yaml does) run by moto's in-process Step Functions interpreter; its Lambda tasks
reach the release bootstrap through AWS_ENDPOINT_URL_LAMBDA -> the Runtime API emulator's
Invoke API. moto's interpreter calls Lambda with boto3 (moto/stepfunctions/parser/asl/utils/
boto_client.py); the URL is not an amazonaws.com one, so mock_aws lets the call through to
the emulator, and the function need not exist in moto's Lambda backend. A function error
(X-Amz-Function-Error + {"errorType", "errorMessage"}) becomes the state's error name
errorType and cause = the error payload, as in AWS."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from harness import FUNCTION_ARN, INDEX_ID, state_machine_definition

ROLE_ARN = "arn:aws:iam::123456789012:role/kendra-waiter-state-machine"


@pytest.fixture
def sfn_stack(e2e, monkeypatch):
    """kendra-local + bootstrap + moto's Step Functions with real execution."""
    from moto import mock_aws

    kendra = e2e.kendra(indexing_checks=1)
    runtime = e2e.runtime(default_timeout_ms=60_000)
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", runtime.endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STEPFUNCTIONS", "AWS_ENDPOINT_URL_SFN"):
        monkeypatch.delenv(var, raising=False)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        import boto3

        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(
            name=f"wait-for-indexing-{uuid.uuid4().hex[:8]}",
            definition=state_machine_definition(FUNCTION_ARN, wait_seconds=1),
            roleArn=ROLE_ARN,
            type="STANDARD",
        )["stateMachineArn"]
        yield {"sfn": sfn, "arn": arn, "kendra": kendra, "runtime": runtime}


def run_execution(stack, batch: dict, timeout: float = 90.0) -> dict:
    sfn = stack["sfn"]
    # An explicit name: moto 5.2.5 names unnamed executions "None", so a second one would clash.
    execution_arn = sfn.start_execution(stateMachineArn=stack["arn"], name=uuid.uuid4().hex, input=json.dumps(batch))["executionArn"]
    end = time.monotonic() + timeout
    while True:
        desc = sfn.describe_execution(executionArn=execution_arn)
        if desc["status"] != "RUNNING":
            return desc
        if time.monotonic() > end:
            raise TimeoutError(f"execution still RUNNING after {timeout}s")
        time.sleep(0.1)


def test_definition_substitutes_to_valid_json():
    definition = json.loads(state_machine_definition(FUNCTION_ARN, wait_seconds=1))
    assert definition["States"]["CheckStatus"]["Parameters"]["FunctionName"] == FUNCTION_ARN
    assert definition["States"]["WaitBeforeNextCheck"]["Seconds"] == 1


def test_all_documents_index(sfn_stack):
    docs = [f"sfn-ok-{i}" for i in range(12)] + [{"documentId": "sfn-attr", "attributes": {"_category": "x"}}]
    sfn_stack["kendra"].put_documents([d if isinstance(d, str) else d["documentId"] for d in docs])
    desc = run_execution(sfn_stack, {"indexId": INDEX_ID, "documents": docs, "requestId": "sfn-1"})
    assert desc["status"] == "SUCCEEDED", desc
    output = json.loads(desc["output"])
    assert output["status"] == "SUCCEEDED"
    assert output["succeeded"] == len(docs)
    assert output["documents"] == [] and output["failed"] == []
    assert output["attempt"] == 2  # indexing-checks 1: PROCESSING once, then INDEXED
    assert output["requestId"] == "sfn-1"
    assert len(sfn_stack["runtime"].history) == 2


def test_one_failure_fails_the_execution(sfn_stack):
    docs = ["sfn-a", "sfn-b", "fail-sfn-c"]
    sfn_stack["kendra"].put_documents(docs)
    desc = run_execution(sfn_stack, {"indexId": INDEX_ID, "documents": docs})
    assert desc["status"] == "FAILED", desc
    assert desc.get("error") == "DocumentsFailed", desc
    cause = json.loads(desc["cause"])
    assert [f["documentId"] for f in cause] == ["fail-sfn-c"]
    assert cause[0]["status"] == "FAILED"


def test_throttled_kendra_is_retried(sfn_stack):
    kendra, runtime = sfn_stack["kendra"], sfn_stack["runtime"]
    kendra.put_documents(["sfn-t1", "sfn-t2"])
    # One call per round; the SDK makes 3 attempts: 5 throttles make round 1 fail with
    # KendraUnavailable (the state machine's Retry fires), and the retried round succeeds
    # after 2 more throttles.
    kendra.fail_next(5, "ThrottlingException")
    desc = run_execution(sfn_stack, {"indexId": INDEX_ID, "documents": ["sfn-t1", "sfn-t2"]}, timeout=120)
    assert desc["status"] == "SUCCEEDED", desc
    assert json.loads(desc["output"])["succeeded"] == 2
    errors = [r.error_type for r in runtime.history if not r.ok]
    assert errors == ["KendraUnavailable"], errors
    throttled = [r for r in kendra.status_requests() if r["error"] and "Throttling" in r["error"]]
    assert len(throttled) == 5


def test_bad_batch_takes_the_catch_path(sfn_stack):
    desc = run_execution(sfn_stack, {"indexId": INDEX_ID, "documents": ["a"], "operation": "UPSERT"})
    assert desc["status"] == "FAILED", desc
    assert desc.get("error") == "ValidationError", desc
    cause = json.loads(desc["cause"])
    assert cause["errorType"] == "ValidationError"
    assert "operation" in cause["errorMessage"]
    assert len(sfn_stack["runtime"].history) == 1, "a ValidationError must not be retried"


def test_unknown_index_is_kendra_rejected(sfn_stack):
    desc = run_execution(sfn_stack, {"indexId": "99999999-2222-3333-4444-555555555555", "documents": ["a"]})
    assert desc["status"] == "FAILED", desc
    assert desc.get("error") == "KendraRequestError", desc
    assert "ResourceNotFoundException" in desc["cause"]


def test_documents_that_never_finish_time_out(sfn_stack):
    sfn_stack["kendra"].put_documents(["stuck-1", "sfn-fine"])
    desc = run_execution(sfn_stack, {"indexId": INDEX_ID, "documents": ["stuck-1", "sfn-fine"], "maxAttempts": 3})
    assert desc["status"] == "FAILED", desc
    assert desc.get("error") == "DocumentsFailed"
    cause = json.loads(desc["cause"])
    assert cause == [{"documentId": "stuck-1", "status": "TIMED_OUT", "reason": "PROCESSING after 3 attempts"}]
    assert len(sfn_stack["runtime"].history) == 3
