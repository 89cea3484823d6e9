"""Checks the deployment files themselves, with no Rust and no AWS.

- events/*.json are shaped as the real services send them, agree with
  events/expectations.json, and each invalid-* file breaks exactly one rule;
- events/env.json overrides only variables template.yaml declares (SAM CLI
  ignores the others);
- statemachine/wait-for-indexing.asl.json runs in moto's Step Functions
  interpreter, with harness.FakeFunction (a Python runtime behind the Runtime API
  emulator, answering as harness.stand_in.Behaviour says) standing in for the
  function: the loop, the Choice on $.status, the Retry and the Catch -> Fail states.

Run: .venv/bin/python -m pytest e2e/test_events_shape.py
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid

import pytest

from harness import (
    FUNCTION_ARN,
    INDEX_ID as DEMO_INDEX_ID,
    Execution,
    FakeFunction,
    expectation_problems,
    expectations,
    load_event as load,
    sample_event_names,
    template,
)
from harness.stand_in import Behaviour

INDEX_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9-]*")

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

EXPECTATIONS: dict = expectations()
EVENT_FILES = sample_event_names()


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
    assert expectation_problems() == []


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

@pytest.fixture
def sfn(local):
    """The template's state machine (no wait between rounds, no retry jitter) invoking a
    Runtime API; each test puts a FakeFunction behind it."""
    return local.step_functions(local.runtime(), wait_seconds=0, retry_jitter=False)


def run_execution(sfn, execution_input: dict) -> Execution:
    """One execution to its end; every task invoked the function the template names."""
    execution = sfn.run(execution_input, timeout=60)
    assert {r.function_name for r in sfn.runtime.history} == {FUNCTION_ARN}
    return execution


@pytest.mark.parametrize(
    "name", ["step-functions-put.json", "step-functions-delete.json", "step-functions-next-round.json"]
)
def test_state_machine_loops_until_done(sfn, local, name):
    batch = load(name)
    fake = local.fake_function(sfn.runtime, behaviour=Behaviour(finish_at=batch.get("attempt", 0) + 3))
    execution = run_execution(sfn, batch)
    if batch.get("failed"):
        assert execution.status == "FAILED"
        assert execution.error == "DocumentsFailed"
        assert execution.cause_json() == batch["failed"]
    else:
        assert execution.status == "SUCCEEDED"
        output = execution.output
        assert output["status"] == "SUCCEEDED" and output["documents"] == []
        assert output["requestId"] == batch["requestId"]
    # Checks at once, then Wait between rounds; each round's input is the previous output.
    states = execution.states
    first_check = states.index("CheckStatus")
    assert "WaitBeforeNextCheck" not in states[:first_check], "the first check comes before any wait"
    assert states[first_check:first_check + 3] == ["CheckStatus", "RouteOnStatus", "WaitBeforeNextCheck"]
    assert states.count("CheckStatus") == 3
    assert fake.payloads[0] == batch
    assert [p.get("attempt", 0) for p in fake.payloads] == [
        batch.get("attempt", 0) + i for i in range(3)
    ]
    assert all(p["requestId"] == batch["requestId"] for p in fake.payloads)


def test_failed_documents_fail_the_execution_with_the_list(sfn, local):
    local.fake_function(sfn.runtime, behaviour=Behaviour(finish_at=1, fail_ids={"faq/billing.md"}))
    execution = run_execution(sfn, load("step-functions-put.json"))
    assert execution.status == "FAILED"
    assert execution.error == "DocumentsFailed"
    (failure,) = execution.cause_json()
    assert failure["documentId"] == "faq/billing.md"


@pytest.mark.parametrize(
    "error_type, fail_state",
    [("ValidationError", "InvalidBatch"), ("KendraRequestError", "KendraRejected")],
)
def test_rejections_are_caught_not_retried(sfn, local, error_type, fail_state):
    # The function refuses every attempt (one, and the three a Retry could add).
    fake = local.fake_function(sfn.runtime, behaviour=Behaviour(errors=[error_type] * 4))
    execution = run_execution(sfn, load("invalid-documents-not-a-list.json"))
    assert execution.status == "FAILED"
    assert execution.error == error_type
    assert execution.cause_json()["errorType"] == error_type
    assert len(fake.payloads) == 1
    assert execution.states[-1] == fail_state


def test_kendra_unavailable_is_retried(sfn, local):
    fake = local.fake_function(sfn.runtime, behaviour=Behaviour(finish_at=1, errors=["KendraUnavailable"] * 2))
    execution = run_execution(sfn, load("step-functions-put.json"))
    assert execution.status == "SUCCEEDED"
    assert len(fake.payloads) == 3
    assert execution.retries == 2


class NoStatus(FakeFunction):
    """Answers every round with something that is not a round result."""

    def round(self, batch):
        return {"hello": "world"}


def test_unexpected_answer_fails_loudly(sfn, local):
    local.fake_function(sfn.runtime, kind=NoStatus)
    execution = run_execution(sfn, load("step-functions-put.json"))
    assert execution.status == "FAILED"
    assert execution.error == "UnexpectedStatus"
    assert execution.cause_json() == {"hello": "world"}
