"""Checks the deployment files themselves, with no Rust and no AWS.

- events/*.json are shaped as the real services send them, agree with
  events/expectations.json, and each invalid-* file breaks exactly one rule;
- events/env.json overrides only variables template.yaml declares (SAM CLI
  ignores the others);
- statemachine/wait-for-indexing.asl.json runs in moto's Step Functions
  interpreter, with a Python stand-in for the function (moto cannot run the Rust
  binary without Docker): the loop, the Choice on $.status, the Retry and the
  Catch -> Fail states.

Run: .venv/bin/python -m pytest e2e/test_events_shape.py
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from pathlib import Path
from unittest import mock

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
DEFINITION = ROOT / "statemachine" / "wait-for-indexing.asl.json"
TEMPLATE = ROOT / "template.yaml"
DEMO_INDEX_ID = "11111111-2222-3333-4444-555555555555"
INDEX_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9-]*")
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:kendra-waiter"

SQS_RECORD_KEYS = {
    "messageId",
    "receiptHandle",
    "body",
    "attributes",
    "messageAttributes",
    "md5OfBody",
    "eventSource",
    "eventSourceARN",
    "awsRegion",
}
SQS_ATTRIBUTES = {"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"}
FIFO_ATTRIBUTES = SQS_ATTRIBUTES | {"MessageGroupId", "MessageDeduplicationId", "SequenceNumber"}


def load(name: str):
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


EXPECTATIONS: dict = load("expectations.json")
EVENT_FILES = sorted(
    p.name for p in EVENTS.glob("*.json") if p.name not in ("expectations.json", "env.json")
)


class _CfnLoader(yaml.SafeLoader):
    """Reads template.yaml with its short-form intrinsic tags (!Ref, !Sub, ...)."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {f"!{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def template() -> dict:
    return yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_CfnLoader)


def contract_violations(batch) -> list[str]:
    """The contract's batch rules, enough to tell a valid sample from an invalid one."""
    if not isinstance(batch, dict):
        return ["batch: not an object"]
    problems = []
    index_id = batch.get("indexId")
    if index_id is not None and not (
        isinstance(index_id, str) and len(index_id) == 36 and INDEX_ID.fullmatch(index_id)
    ):
        problems.append("indexId")
    if batch.get("operation", "PUT") not in ("PUT", "DELETE"):
        problems.append("operation")
    docs = batch.get("documents")
    if not isinstance(docs, list) or not 1 <= len(docs) <= 5000:
        problems.append("documents")
    else:
        for doc in docs:
            doc_id = doc if isinstance(doc, str) else doc.get("documentId") if isinstance(doc, dict) else None
            if not isinstance(doc_id, str) or not 1 <= len(doc_id) <= 2048:
                problems.append("documentId")
            attributes = doc.get("attributes", {}) if isinstance(doc, dict) else {}
            for value in attributes.values():
                ok = (
                    isinstance(value, str)
                    or (isinstance(value, int) and not isinstance(value, bool))
                    or (isinstance(value, list) and all(isinstance(v, str) for v in value))
                )
                if not ok:
                    problems.append("attributes")
    for name, minimum in (("attempt", 0), ("maxAttempts", 1), ("succeeded", 0)):
        value = batch.get(name, minimum)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            problems.append(name)
    if not isinstance(batch.get("failed", []), list):
        problems.append("failed")
    return problems


# --- the sample events -------------------------------------------------------------------


def test_every_event_has_an_expectation_and_back():
    assert sorted(EXPECTATIONS) == EVENT_FILES


@pytest.mark.parametrize("name", EVENT_FILES)
def test_event_matches_its_expectation(name):
    event = load(name)
    expected = EXPECTATIONS[name]
    if name.startswith("invalid-"):
        assert expected == {**expected, "errorType": "ValidationError"}
        return
    if expected["kind"] == "direct":
        assert "Records" not in event
        assert contract_violations(event) == []
        assert event["indexId"] == DEMO_INDEX_ID
        assert event.get("attempt", 0) + 1 == expected["attempt"]
        assert event.get("operation", "PUT") == expected["operation"]
        for key, value in expected["keeps"].items():
            assert event[key] == value
    else:
        assert expected["kind"] == "sqs"
        assert len(event["Records"]) == expected["messages"]
        ids = [r["messageId"] for r in event["Records"]]
        assert len(set(ids)) == len(ids)
        assert set(expected.get("batchItemFailures", [])) <= set(ids)


@pytest.mark.parametrize("name", [n for n in EVENT_FILES if n.startswith("sqs-")])
def test_sqs_event_is_shaped_like_lambdas(name):
    records = load(name)["Records"]
    fifo = EXPECTATIONS[name].get("fifo", False)
    for record in records:
        assert set(record) == SQS_RECORD_KEYS
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"].endswith(".fifo") == fifo
        assert record["eventSourceARN"].startswith(f"arn:aws:sqs:{record['awsRegion']}:")
        assert set(record["attributes"]) == (FIFO_ATTRIBUTES if fifo else SQS_ATTRIBUTES)
        assert all(isinstance(v, str) for v in record["attributes"].values())
        assert int(record["attributes"]["ApproximateReceiveCount"]) >= 1
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode("utf-8")).hexdigest()
        uuid.UUID(record["messageId"])
        poison = record["messageId"] in EXPECTATIONS[name].get("batchItemFailures", [])
        if not poison:
            assert contract_violations(json.loads(record["body"])) == []
        else:
            with pytest.raises(json.JSONDecodeError):
                json.loads(record["body"])


def test_fifo_event_has_two_groups_in_order():
    records = load("sqs-fifo.json")["Records"]
    assert len({r["attributes"]["MessageGroupId"] for r in records}) == 2
    sequence = [int(r["attributes"]["SequenceNumber"]) for r in records]
    assert sequence == sorted(sequence)


def test_standard_event_has_a_delete_and_a_batch_without_index_id():
    bodies = [json.loads(r["body"]) for r in load("sqs-standard.json")["Records"]]
    assert [b.get("operation", "PUT") for b in bodies].count("DELETE") == 1
    assert any("indexId" not in b for b in bodies)


def test_republished_message_is_a_round_result():
    (record,) = load("sqs-republished.json")["Records"]
    body = json.loads(record["body"])
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert body["attempt"] == 2 and body["status"] == "PENDING"
    assert {"succeeded", "failed", "counts", "documents"} <= set(body)


@pytest.mark.parametrize(
    "name", [n for n in EVENT_FILES if n.startswith("invalid-") and "Records" not in load(n)]
)
def test_invalid_direct_event_breaks_exactly_one_rule(name):
    problems = contract_violations(load(name))
    assert len(problems) == 1, problems
    mentions = EXPECTATIONS[name].get("mentions")
    if mentions:
        assert problems[0] == mentions


def test_invalid_records_events():
    s3 = load("invalid-s3-event.json")["Records"]
    assert [r["eventSource"] for r in s3] == ["aws:s3"]
    records = load("invalid-sqs-missing-message-id.json")["Records"]
    assert all(r["eventSource"] == "aws:sqs" for r in records)
    assert ["messageId" in r for r in records] == [True, False]


def test_env_json_overrides_only_declared_variables():
    env = load("env.json")
    assert list(env) == ["KendraWaiterFunction"]
    function = template()["Resources"]["KendraWaiterFunction"]
    declared = set(function["Properties"]["Environment"]["Variables"])
    overrides = env["KendraWaiterFunction"]
    assert set(overrides) <= declared, set(overrides) - declared
    assert overrides["KENDRA_INDEX_ID"] == DEMO_INDEX_ID
    assert all(isinstance(v, str) for v in overrides.values())


def test_template_parameters_default_to_the_contract():
    params = template()["Parameters"]
    assert params["MaxAttempts"]["Default"] == 60
    assert params["RetryDelaySeconds"]["Default"] == 30
    assert params["RetryMaxDelaySeconds"]["Default"] == 900
    assert params["KendraMaxConcurrency"]["Default"] == 10
    assert params["KendraMaxRps"]["Default"] == ""
    assert re.fullmatch(params["KendraIndexId"]["AllowedPattern"], DEMO_INDEX_ID)


# --- the state machine in moto -------------------------------------------------------------

# moto and boto3 are in e2e/requirements.txt: a missing one is an error, never a skip.
import boto3  # noqa: E402
import moto  # noqa: E402
from moto.stepfunctions.parser.asl.component.state.exec.state_task import (  # noqa: E402
    lambda_eval_utils,
)


def definition(wait_seconds: int = 0) -> str:
    text = DEFINITION.read_text(encoding="utf-8")
    text = text.replace("${KendraWaiterFunctionArn}", FUNCTION_ARN)
    return text.replace("${WaitSeconds}", str(wait_seconds))


class FakeFunction:
    """Stands in for kendra-waiter: documents finish in the round that brings `attempt` to
    `finish_at`; `fail_docs` end up FAILED."""

    def __init__(self, finish_at=1, fail_docs=(), error=None, transient_errors=0):
        self.finish_at = finish_at
        self.fail_docs = set(fail_docs)
        self.error = error
        self.transient_errors = transient_errors
        self.payloads: list[dict] = []

    def __call__(self, parameters, region, state_credentials):
        assert parameters["FunctionName"] == FUNCTION_ARN
        batch = json.loads(parameters["Payload"])
        self.payloads.append(batch)
        if self.error:
            return self._error(*self.error)
        if self.transient_errors:
            self.transient_errors -= 1
            return self._error("KendraUnavailable", "ThrottlingException: slow down")
        ids = [d if isinstance(d, str) else d["documentId"] for d in batch["documents"]]
        attempt = batch.get("attempt", 0) + 1
        result = dict(batch, attempt=attempt, counts={"PROCESSING": len(ids)})
        result.setdefault("succeeded", 0)
        result.setdefault("failed", [])
        if attempt >= self.finish_at:
            failed = [
                {"documentId": i, "status": "FAILED", "code": "500", "reason": "bad"}
                for i in ids
                if i in self.fail_docs
            ]
            result["succeeded"] += len(ids) - len(failed)
            result["failed"] = result["failed"] + failed
            result["documents"] = []
            result["counts"] = {"INDEXED": len(ids) - len(failed), "FAILED": len(failed)}
        result["status"] = (
            "PENDING" if result["documents"] else "FAILED" if result["failed"] else "SUCCEEDED"
        )
        return {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": result}

    @staticmethod
    def _error(error_type, message):
        return {
            "StatusCode": 200,
            "FunctionError": "Unhandled",
            "Payload": {"errorType": error_type, "errorMessage": message},
        }


def run_execution(fake: FakeFunction, execution_input: dict) -> tuple[dict, list[dict]]:
    """One execution per moto context (moto 5.2.1 cannot start a second one in a context)."""
    with (
        moto.mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
        mock.patch.object(lambda_eval_utils, "_invoke_lambda_function", fake),
        mock.patch("random.uniform", return_value=0.0),
    ):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="wait-for-indexing",
            definition=definition(),
            roleArn="arn:aws:iam::123456789012:role/wait-for-indexing",
        )["stateMachineArn"]
        execution = sfn.start_execution(
            stateMachineArn=machine, input=json.dumps(execution_input)
        )["executionArn"]
        deadline = time.monotonic() + 60
        while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "execution still running after 60 s"
            time.sleep(0.05)
        history = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    return described, history


def entered_states(history) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e
    ]


@pytest.mark.parametrize(
    "name", ["step-functions-put.json", "step-functions-delete.json", "step-functions-next-round.json"]
)
def test_state_machine_loops_until_done(name):
    batch = load(name)
    fake = FakeFunction(finish_at=batch.get("attempt", 0) + 3)
    described, history = run_execution(fake, batch)
    if batch.get("failed"):
        assert described["status"] == "FAILED"
        assert described["error"] == "DocumentsFailed"
        assert json.loads(described["cause"]) == batch["failed"]
    else:
        assert described["status"] == "SUCCEEDED"
        output = json.loads(described["output"])
        assert output["status"] == "SUCCEEDED" and output["documents"] == []
        assert output["requestId"] == batch["requestId"]
    # Checks at once, then Wait between rounds; each round's input is the previous output.
    states = entered_states(history)
    assert states[:3] == ["CheckStatus", "RouteOnStatus", "WaitBeforeNextCheck"]
    assert states.count("CheckStatus") == 3
    assert fake.payloads[0] == batch
    assert [p.get("attempt", 0) for p in fake.payloads] == [
        batch.get("attempt", 0) + i for i in range(3)
    ]
    assert all(p["requestId"] == batch["requestId"] for p in fake.payloads)


def test_failed_documents_fail_the_execution_with_the_list():
    fake = FakeFunction(finish_at=1, fail_docs={"faq/billing.md"})
    described, _ = run_execution(fake, load("step-functions-put.json"))
    assert described["status"] == "FAILED"
    assert described["error"] == "DocumentsFailed"
    (failure,) = json.loads(described["cause"])
    assert failure["documentId"] == "faq/billing.md"


@pytest.mark.parametrize(
    "error_type, fail_state",
    [("ValidationError", "InvalidBatch"), ("KendraRequestError", "KendraRejected")],
)
def test_rejections_are_caught_not_retried(error_type, fail_state):
    fake = FakeFunction(error=(error_type, "documents must be a list, got a string"))
    described, history = run_execution(fake, load("invalid-documents-not-a-list.json"))
    assert described["status"] == "FAILED"
    assert described["error"] == error_type
    assert json.loads(described["cause"])["errorType"] == error_type
    assert len(fake.payloads) == 1
    assert entered_states(history)[-1] == fail_state


def test_kendra_unavailable_is_retried():
    fake = FakeFunction(finish_at=1, transient_errors=2)
    described, _ = run_execution(fake, load("step-functions-put.json"))
    assert described["status"] == "SUCCEEDED"
    assert len(fake.payloads) == 3


def test_unexpected_answer_fails_loudly():
    class NoStatus(FakeFunction):
        def __call__(self, parameters, region, state_credentials):
            super().__call__(parameters, region, state_credentials)
            return {"StatusCode": 200, "Payload": {"hello": "world"}}

    described, _ = run_execution(NoStatus(), load("step-functions-put.json"))
    assert described["status"] == "FAILED"
    assert described["error"] == "UnexpectedStatus"
    assert json.loads(described["cause"]) == {"hello": "world"}
