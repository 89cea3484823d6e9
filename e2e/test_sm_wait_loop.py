"""statemachine/wait-for-indexing.asl.json on moto's Step Functions interpreter, with the
Python stand-in for the function (harness.stand_in): how the loop ends, the
DocumentsFailed cause (inline list, or failedRef), errors caught by name, the bounded
retries, continue-as-new (a chain of executions ends as one loop would), and payload
sizes. Run: .venv/bin/python -m pytest e2e/test_sm_wait_loop.py -q -p no:cacheprovider
"""

from __future__ import annotations

import json

from harness.common import CAUSE_LIMIT, INDEX_ID, STATES_PAYLOAD_LIMIT
from harness.fake_function import StandInMoto
from harness.stand_in import Behaviour, FunctionError

LOOP_KEYS = {"current", "kendraWaiterChain", "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"}


def batch(docs, **fields) -> dict:
    return {"indexId": INDEX_ID, "operation": "PUT", "documents": docs, "requestId": "req-1", **fields}


def round_payloads(function) -> list[dict]:
    """The batches the stand-in was invoked with for rounds (ingest steps left out)."""
    return [e for e in function.payloads if "ingestStep" not in e]


def task_errors(finished) -> list[str]:
    return [e["taskFailedEventDetails"]["error"] for e in finished.events if e["type"] == "TaskFailed"]


def test_all_documents_index_and_the_function_sees_only_the_batch():
    with StandInMoto(Behaviour(finish_at=3)) as s:
        given = batch(["a", {"documentId": "b", "attributes": {"version": 2}}])
        end = s.run(s.loop_arn, given)
        payloads = round_payloads(s.function)
        largest = s.sizes.largest
    assert end.status == "SUCCEEDED", end
    assert end.output["status"] == "SUCCEEDED" and end.output["succeeded"] == 2
    assert end.output["documents"] == [] and end.output["failed"] == []
    assert end.output["requestId"] == "req-1" and end.output["attempt"] == 3
    assert payloads[0] == given, "round 1 must get the input batch unchanged"
    assert [p.get("attempt") for p in payloads] == [None, 1, 2]
    assert not any(LOOP_KEYS & set(p) for p in payloads), "loop bookkeeping leaked into the batch"
    assert end.states.count("CheckStatus") == 3 and end.states.count("WaitBeforeNextCheck") == 2
    assert largest < STATES_PAYLOAD_LIMIT


def test_failed_documents_fail_with_the_list_as_cause():
    with StandInMoto(Behaviour(finish_at=2)) as s:
        end = s.run(s.loop_arn, batch(["a", "fail-b", "fail-c"]))
    assert end.status == "FAILED" and end.error == "DocumentsFailed", end
    assert [f["documentId"] for f in end.cause_json()] == ["fail-b", "fail-c"]
    assert end.states[-1] == "DocumentsFailed"


def test_failures_in_s3_give_a_cause_with_failed_ref_that_fits():
    # 3,000 failures with long ids: far over a cause's 32,768 characters inline.
    docs = [f"fail-{i:05d}-" + "x" * 60 for i in range(3000)] + ["ok-1", "ok-2"]
    with StandInMoto(Behaviour(finish_at=1)) as s:
        end = s.run(s.loop_arn, batch(docs))
        listed = s.read_json(end.cause_json()["failedRef"]["s3Uri"])
        largest = s.sizes.largest
    assert end.status == "FAILED" and end.error == "DocumentsFailed", end
    assert len(end.cause) <= CAUSE_LIMIT
    cause = end.cause_json()
    assert cause["status"] == "FAILED" and cause["succeeded"] == 2 and cause["failedCount"] == 3000
    assert cause["counts"] == {"FAILED": 3000, "INDEXED": 2}
    assert cause["failedRef"]["count"] == 3000
    assert sorted(f["documentId"] for f in listed) == sorted(d for d in docs if d.startswith("fail-"))
    assert largest < STATES_PAYLOAD_LIMIT


def test_result_too_large_is_caught_by_name_and_not_retried():
    with StandInMoto(Behaviour(finish_at=1, max_result_bytes=1_000, no_bucket=True)) as s:
        end = s.run(s.loop_arn, batch([f"fail-{i}" for i in range(20)]))
        invocations = len(round_payloads(s.function))
    assert end.status == "FAILED" and end.error == "ResultTooLarge", end
    assert "PAYLOAD_BUCKET" in end.cause
    assert end.states[-1] == "ResultTooLarge"
    assert invocations == 1


def test_lambda_unknown_is_retried_with_the_same_batch():
    with StandInMoto(Behaviour(finish_at=1, errors=["Lambda.Unknown", "Lambda.ClientExecutionTimeoutException"])) as s:
        given = batch(["a"])
        end = s.run(s.loop_arn, given)
        payloads = round_payloads(s.function)
    assert end.status == "SUCCEEDED", end
    assert task_errors(end) == ["Lambda.Unknown", "Lambda.ClientExecutionTimeoutException"]
    assert payloads == [given, given, given], "a retry must resend the same batch, not a new round"


def test_lambda_unknown_retries_are_bounded():
    with StandInMoto(Behaviour(finish_at=1, errors=["Lambda.Unknown"] * 10)) as s:
        end = s.run(s.loop_arn, batch(["a"]))
        invocations = len(round_payloads(s.function))
    assert end.status == "FAILED" and end.error == "Lambda.Unknown", end
    assert invocations == 4, "one attempt and MaxAttempts 3 retries"
    assert end.states[-1] == "RoundFailed"


def test_payload_unavailable_is_retried_like_kendra_unavailable():
    with StandInMoto(Behaviour(finish_at=1, errors=["PayloadUnavailable", "KendraUnavailable", "PayloadUnavailable"])) as s:
        end = s.run(s.loop_arn, batch(["a"]))
    assert end.status == "SUCCEEDED", end
    assert task_errors(end) == ["PayloadUnavailable", "KendraUnavailable", "PayloadUnavailable"]


def test_refusals_end_under_their_own_names():
    for error, state in (("KendraRequestError", "KendraRejected"), ("ValidationError", "InvalidBatch")):
        with StandInMoto(Behaviour(refuse=error)) as s:
            end = s.run(s.loop_arn, batch(["refused-a"]))
            invocations = len(round_payloads(s.function))
        assert end.status == "FAILED" and end.error == error, end
        assert json.loads(end.cause)["errorType"] == error
        assert end.states[-1] == state and invocations == 1


def test_a_batch_of_an_ingest_ends_with_its_result_whatever_the_status():
    with StandInMoto(Behaviour(finish_at=1)) as s:
        end = s.run(s.loop_arn, batch(["a", "fail-b"], kendraWaiterIngest="ing-1", batchNumber=4))
        # A user's own `ingestId` is only correlation data: the batch fails as any other.
        own = s.run(s.loop_arn, batch(["a", "fail-b"], ingestId="my-job-7"))
    assert end.status == "SUCCEEDED", end
    assert end.output["status"] == "FAILED" and end.output["batchNumber"] == 4
    assert [f["documentId"] for f in end.output["failed"]] == ["fail-b"]
    assert end.states[-1] == "IngestBatchDone"
    assert own.status == "FAILED" and own.error == "DocumentsFailed", own


def test_an_answer_without_status_fails_loudly():
    with StandInMoto() as s:
        s.function.round = lambda b: {"hello": "world"}
        end = s.run(s.loop_arn, batch(["a"]))
    assert end.status == "FAILED" and end.error == "UnexpectedStatus", end
    assert end.cause_json() == {"hello": "world"}


# -- continue-as-new -----------------------------------------------------------------------


def run_chain(rounds_per_execution: int, given: dict, behaviour: Behaviour):
    with StandInMoto(behaviour, rounds_per_execution=rounds_per_execution) as s:
        end = s.run(s.loop_arn, given, timeout=120)
        executions = {e["executionArn"]: e for e in s.executions(s.loop_arn)}
        histories = {arn: s.wait(arn) for arn in executions}
        attempts = [p.get("attempt", 0) for p in round_payloads(s.function)]
        largest = s.sizes.largest
    return end, histories, attempts, largest


def comparable(end) -> tuple:
    return end.status, end.error, end.cause, json.dumps(end.output, sort_keys=True)


def test_a_chain_of_executions_ends_as_one_loop_would():
    given = batch(["a", "stuck-b", "fail-c"], maxAttempts=7)
    one, one_histories, one_attempts, _ = run_chain(1000, given, Behaviour(finish_at=2))
    chain, histories, attempts, _ = run_chain(3, given, Behaviour(finish_at=2))
    assert one.status == "FAILED" and one.error == "DocumentsFailed", one
    assert len(one_histories) == 1
    assert comparable(chain) == comparable(one)
    assert [f["documentId"] for f in chain.cause_json()] == ["fail-c", "stuck-b"]
    assert attempts == one_attempts == [0, 1, 2, 3, 4, 5, 6]
    # The first execution ran 3 rounds and handed over; links 1 and 2 ran 3 and 1.
    assert len(histories) == 3
    rounds = sorted((h.states.count("CheckStatus"), h.status) for h in histories.values())
    assert rounds == [(1, "SUCCEEDED"), (3, "FAILED"), (3, "SUCCEEDED")]
    links = [h for arn, h in histories.items() if arn != chain.arn]
    assert all(h.states[-1] == "ReturnToPreviousLink" for h in links)
    assert sorted(arn.rsplit(":", 1)[1].split("-")[0] for arn in histories if arn != chain.arn) == ["link1", "link2"]


def test_a_chain_that_succeeds_outputs_the_last_result():
    given = batch(["a", "b"], attempt=1, maxAttempts=20)
    one, _, _, _ = run_chain(1000, given, Behaviour(finish_at=6))
    chain, histories, attempts, _ = run_chain(2, given, Behaviour(finish_at=6))
    assert chain.status == "SUCCEEDED", chain
    assert comparable(chain) == comparable(one)
    assert chain.output["attempt"] == 6 and chain.output["succeeded"] == 2
    assert attempts == [1, 2, 3, 4, 5]
    assert len(histories) == 3  # attempts 1-2 | 3-4 | 5


def test_an_error_in_a_later_link_ends_the_chain_under_its_name():
    with StandInMoto(Behaviour(finish_at=100), rounds_per_execution=2) as s:
        original = s.function.round

        def round_(b):
            if int(b.get("attempt") or 0) == 3:
                raise FunctionError("KendraRequestError", "AccessDeniedException: no access to the index")
            return original(b)

        s.function.round = round_
        end = s.run(s.loop_arn, batch(["a"], maxAttempts=9), timeout=120)
        executions = s.executions(s.loop_arn)
    assert end.status == "FAILED" and end.error == "KendraRequestError", end
    assert json.loads(end.cause)["errorMessage"].startswith("AccessDeniedException")
    assert len(executions) == 2 and end.states[-1] == "KendraRejected"


def test_a_chain_of_large_batches_keeps_every_payload_under_256_kib():
    # ~110 KB of pending documents (under the template's MaxResultBytes, 122,880) carried
    # through two hand-overs, and the last link refused: its output holds the whole batch,
    # so each startExecution.sync:2 result carries a large Input and a large Output.
    docs = [f"stuck-{i:05d}-" + "y" * 90 for i in range(1000)]
    given = batch(docs, maxAttempts=50)
    assert 100_000 < len(json.dumps(given)) < 122_880
    with StandInMoto(Behaviour(), rounds_per_execution=2) as s:
        original = s.function.round

        def round_(b):
            if int(b.get("attempt") or 0) == 4:
                raise FunctionError("KendraRequestError", "ConflictException: the index is being deleted")
            return original(b)

        s.function.round = round_
        end = s.run(s.loop_arn, given, timeout=120)
        executions = s.executions(s.loop_arn)
        largest = s.sizes.largest
    assert end.status == "FAILED" and end.error == "KendraRequestError", end
    assert len(executions) == 3
    assert 200_000 < largest < STATES_PAYLOAD_LIMIT, largest
