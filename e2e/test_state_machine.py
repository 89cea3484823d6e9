"""The template's state machine (statemachine/wait-for-indexing.asl.json, substituted as
template.yaml does) run by moto's in-process Step Functions interpreter, its Lambda tasks
answered by the release bootstrap behind the Runtime API emulator (harness.state_machine
says how the call gets there). A function error becomes the state's error name errorType
and cause = the error payload, as in AWS."""

from __future__ import annotations

import json

import pytest

from harness import FUNCTION_ARN, INDEX_ID, Execution, doc_id, state_machine_definition


@pytest.fixture
def sfn_stack(e2e):
    """kendra-local + bootstrap + moto's Step Functions with real execution."""
    kendra = e2e.kendra(indexing_checks=1)
    runtime = e2e.runtime(default_timeout_ms=60_000)
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)
    sfn = e2e.step_functions(runtime, wait_seconds=1)
    return {"sfn": sfn, "kendra": kendra, "runtime": runtime}


def run_execution(stack, batch: dict, timeout: float = 90.0) -> Execution:
    """One execution of ``batch``; every task invoked the function the template names."""
    execution = stack["sfn"].run(batch, timeout=timeout)
    assert {r.function_name for r in stack["runtime"].history} == {FUNCTION_ARN}
    return execution


def test_definition_substitutes_to_valid_json():
    definition = json.loads(state_machine_definition(FUNCTION_ARN, wait_seconds=1))
    assert definition["States"]["CheckStatus"]["Parameters"]["FunctionName"] == FUNCTION_ARN
    assert definition["States"]["WaitBeforeNextCheck"]["Seconds"] == 1


def test_all_documents_index(sfn_stack):
    docs = [f"sfn-ok-{i}" for i in range(12)] + [{"documentId": "sfn-attr", "attributes": {"version": "2"}}]
    sfn_stack["kendra"].put_documents([doc_id(d) for d in docs])
    execution = run_execution(sfn_stack, {"indexId": INDEX_ID, "documents": docs, "requestId": "sfn-1"})
    assert execution.status == "SUCCEEDED", execution
    output = execution.output
    assert output["status"] == "SUCCEEDED"
    assert output["succeeded"] == len(docs)
    assert output["documents"] == [] and output["failed"] == []
    assert output["attempt"] == 2  # indexing-checks 1: PROCESSING once, then INDEXED
    assert output["requestId"] == "sfn-1"
    assert len(sfn_stack["runtime"].history) == 2
    assert [r.payload["status"] for r in execution.rounds] == ["PENDING", "SUCCEEDED"]


def test_one_failure_fails_the_execution(sfn_stack):
    docs = ["sfn-a", "sfn-b", "fail-sfn-c"]
    sfn_stack["kendra"].put_documents(docs)
    execution = run_execution(sfn_stack, {"indexId": INDEX_ID, "documents": docs})
    assert execution.status == "FAILED", execution
    assert execution.error == "DocumentsFailed", execution
    cause = execution.cause_json()
    assert [f["documentId"] for f in cause] == ["fail-sfn-c"]
    assert cause[0]["status"] == "FAILED"


def test_unavailable_kendra_is_retried(sfn_stack):
    kendra, runtime = sfn_stack["kendra"], sfn_stack["runtime"]
    kendra.put_documents(["sfn-t1", "sfn-t2"])
    # One call per round; the SDK makes 3 attempts of a call answered 500: 5 such answers
    # make round 1 fail with KendraUnavailable (the state machine's Retry fires), and the
    # retried round succeeds after 2 more. (Throttling is not an error of the round: the
    # function paces and retries throttled calls itself, until the round's cutoff.)
    kendra.fail_next(5, "InternalServerException")
    execution = run_execution(sfn_stack, {"indexId": INDEX_ID, "documents": ["sfn-t1", "sfn-t2"]}, timeout=120)
    assert execution.status == "SUCCEEDED", execution
    assert execution.output["succeeded"] == 2
    errors = [r.error_type for r in runtime.history if not r.ok]
    assert errors == ["KendraUnavailable"], errors
    assert execution.retries == 1
    failed = [r for r in kendra.status_requests() if r["error"] and "InternalServer" in r["error"]]
    assert len(failed) == 5


def test_bad_batch_takes_the_catch_path(sfn_stack):
    execution = run_execution(sfn_stack, {"indexId": INDEX_ID, "documents": ["a"], "operation": "UPSERT"})
    assert execution.status == "FAILED", execution
    assert execution.error == "ValidationError", execution
    cause = execution.cause_json()
    assert cause["errorType"] == "ValidationError"
    assert "operation" in cause["errorMessage"]
    assert len(sfn_stack["runtime"].history) == 1, "a ValidationError must not be retried"


def test_unknown_index_is_kendra_rejected(sfn_stack):
    execution = run_execution(sfn_stack, {"indexId": "99999999-2222-3333-4444-555555555555", "documents": ["a"]})
    assert execution.status == "FAILED", execution
    assert execution.error == "KendraRequestError", execution
    assert "ResourceNotFoundException" in execution.cause


def test_documents_that_never_finish_time_out(sfn_stack):
    sfn_stack["kendra"].put_documents(["stuck-1", "sfn-fine"])
    execution = run_execution(sfn_stack, {"indexId": INDEX_ID, "documents": ["stuck-1", "sfn-fine"], "maxAttempts": 3})
    assert execution.status == "FAILED", execution
    assert execution.error == "DocumentsFailed"
    cause = execution.cause_json()
    assert cause == [{"documentId": "stuck-1", "status": "TIMED_OUT", "reason": "PROCESSING after 3 attempts"}]
    assert len(sfn_stack["runtime"].history) == 3
