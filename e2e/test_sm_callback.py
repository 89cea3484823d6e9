"""statemachine/wait-for-indexing-callback.asl.json on moto's Step Functions interpreter.
The stand-in plays the function's SQS side (harness.fake_function.CallbackWorker): it receives the
check queue's messages, heartbeats every round, republishes unfinished batches and answers
the task token. Run: .venv/bin/python -m pytest e2e/test_sm_callback.py -q -p no:cacheprovider
"""

from __future__ import annotations

import json
import time

from harness.common import CAUSE_LIMIT, INDEX_ID, STATES_PAYLOAD_LIMIT
from harness.fake_function import StandInMoto
from harness.stand_in import Behaviour, StandIn


def batch(docs, **fields) -> dict:
    return {"indexId": INDEX_ID, "operation": "PUT", "documents": docs, "requestId": "req-cb", **fields}


def test_success_outputs_the_final_result_after_a_heartbeat_every_round():
    given = batch(["a", {"documentId": "b", "attributes": {"version": 1}}])
    with StandInMoto(Behaviour(finish_at=3)) as s:
        worker = s.callback_worker()
        end = s.run(s.callback_arn, given)
        bodies, heartbeats, answers = worker.bodies, worker.heartbeats, worker.answers
        largest = s.sizes.largest
    assert end.status == "SUCCEEDED", end
    assert end.output["status"] == "SUCCEEDED" and end.output["succeeded"] == 2 and end.output["attempt"] == 3
    assert end.output["requestId"] == "req-cb"
    # The first message is the batch itself with taskToken added at the top level.
    token = bodies[0]["taskToken"]
    assert isinstance(token, str) and token
    assert {k: v for k, v in bodies[0].items() if k != "taskToken"} == given
    assert [b.get("attempt", 0) for b in bodies] == [0, 1, 2], "one message per round (republished)"
    assert heartbeats == {token: 3} and answers == [(token, "success")]
    # One task for the whole wait: no state per round.
    assert end.states == ["PrepareMessage", "WaitForDocuments"]
    assert largest < STATES_PAYLOAD_LIMIT


def test_input_and_output_are_the_wait_loops():
    given = batch(["a", "b", "c"])
    with StandInMoto(Behaviour(finish_at=2)) as s:
        s.callback_worker()
        by_callback = s.run(s.callback_arn, given)
        by_loop = s.run(s.loop_arn, given)
    assert by_callback.status == by_loop.status == "SUCCEEDED"
    assert by_callback.output == by_loop.output


def test_documents_failed_gives_the_list_as_cause_like_the_loop():
    given = batch(["a", "fail-b", "fail-c"])
    with StandInMoto(Behaviour(finish_at=2)) as s:
        worker = s.callback_worker()
        by_callback = s.run(s.callback_arn, given)
        by_loop = s.run(s.loop_arn, given)
        answers = worker.answers
    assert by_callback.status == "FAILED" and by_callback.error == "DocumentsFailed", by_callback
    assert [f["documentId"] for f in by_callback.cause_json()] == ["fail-b", "fail-c"]
    assert by_callback.cause_json() == by_loop.cause_json()
    assert [a[1] for a in answers] == ["DocumentsFailed"]


def test_documents_failed_with_the_list_in_s3_gives_a_summary_with_failed_ref():
    docs = [f"fail-{i:05d}-" + "z" * 80 for i in range(1500)] + ["ok"]
    with StandInMoto(Behaviour(finish_at=1)) as s:
        s.callback_worker()
        end = s.run(s.callback_arn, batch(docs))
        listed = s.read_json(end.cause_json()["failedRef"]["s3Uri"])
    assert end.status == "FAILED" and end.error == "DocumentsFailed", end
    assert len(end.cause) <= CAUSE_LIMIT
    cause = end.cause_json()
    assert set(cause) == {"status", "succeeded", "failedCount", "failedRef", "counts"}
    assert cause["failedCount"] == 1500 and cause["succeeded"] == 1
    assert sorted(f["documentId"] for f in listed) == sorted(docs[:-1])


def test_a_cause_with_only_the_first_failures_and_no_ref_is_passed_through():
    # A function without PAYLOAD_BUCKET can tell only the first failures: the execution's
    # cause is then the function's own (counts + the first failures), not a partial list.
    with StandInMoto(Behaviour(finish_at=1, no_bucket=True)) as s:
        s.callback_worker(first_failures=2)
        end = s.run(s.callback_arn, batch(["fail-1", "fail-2", "fail-3", "ok"]))
    assert end.status == "FAILED" and end.error == "DocumentsFailed", end
    cause = end.cause_json()
    assert cause["failedCount"] == 3 and cause["succeeded"] == 1
    assert [f["documentId"] for f in cause["failed"]] == ["fail-1", "fail-2"]
    assert "failedRef" not in cause
    assert end.states[-1] == "PassCauseThrough"


def test_a_cause_cut_down_to_its_essentials_is_passed_through(monkeypatch):
    # When even the first failures do not fit 32,768 characters, the function keeps only
    # status, succeeded, failedCount and failedRef: no counts to build the summary from.
    full = StandIn.failure_cause

    def essentials(function, result, first=None):
        cause = json.loads(full(function, result, 1))
        return json.dumps({k: cause[k] for k in ("status", "succeeded", "failedCount", "failedRef")})

    monkeypatch.setattr(StandIn, "failure_cause", essentials)
    with StandInMoto(Behaviour(finish_at=1)) as s:
        s.callback_worker()
        end = s.run(s.callback_arn, batch(["fail-1", "fail-2", "ok"]))
    assert end.status == "FAILED" and end.error == "DocumentsFailed", end
    assert set(end.cause_json()) == {"status", "succeeded", "failedCount", "failedRef"}
    assert end.cause_json()["failedCount"] == 2
    assert end.states[-1] == "PassCauseThrough"


def test_a_refused_batch_fails_at_once_under_its_name():
    for error, state in (("ValidationError", "InvalidBatch"), ("KendraRequestError", "KendraRejected")):
        with StandInMoto(Behaviour(refuse=error)) as s:
            worker = s.callback_worker()
            end = s.run(s.callback_arn, batch(["refused-1", "a"]))
            bodies, heartbeats = worker.bodies, worker.heartbeats
        assert end.status == "FAILED" and end.error == error, end
        assert end.cause.startswith(error)
        assert end.states[-1] == state
        assert len(bodies) == 1 and heartbeats == {}, "refused at once: no round, no republish"


def test_a_lost_batch_fails_after_the_heartbeat_not_the_timeout():
    # The worker takes the message and never answers nor heartbeats (as if it went to the
    # dead-letter queue). AWS reports States.HeartbeatTimeout (-> BatchLost); moto reports a
    # missed heartbeat as States.Timeout (-> WaitTimedOut). Either way it ends at the
    # heartbeat (2 s), long before TimeoutSeconds (60 s).
    with StandInMoto(heartbeat_seconds=2, callback_timeout_seconds=60) as s:
        worker = s.callback_worker(silent=True)
        started = time.monotonic()
        end = s.run(s.callback_arn, batch(["a"]), timeout=30)
        elapsed = time.monotonic() - started
        bodies = worker.bodies
    assert end.status == "FAILED" and end.error in ("BatchLost", "WaitTimedOut"), end
    assert 2 <= elapsed < 20, elapsed
    assert len(bodies) == 1
