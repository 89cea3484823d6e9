"""The wait loop at AWS's limits with the release binary (contract Part 2, "Payload sizes" and
"Bounded loops"; issue 10): statemachine/wait-for-indexing.asl.json on moto's interpreter,
its Lambda tasks answered by bootstrap, which writes claim-check objects to the same moto's
S3 (harness.moto_shared). A batch whose result overflows ends DocumentsFailed with a
failedRef listing exactly the failed ids (with PAYLOAD_BUCKET) or ResultTooLarge caught by
name (without); a chain of continue-as-new executions ends as one loop would. Run:
KENDRA_WAITER_BIN=/work/bins/bootstrap KENDRA_LOCAL_BIN=/work/bins/kendra-local \
  .venv/bin/python -m pytest e2e/test_part2_wait_loop.py -q -p no:cacheprovider
"""

from __future__ import annotations

import json

import pytest

from harness import INDEX_ID, Stack
from harness.moto_shared import (
    CAUSE_LIMIT,
    PAYLOAD_BUCKET,
    STATES_PAYLOAD_LIMIT,
    WAIT_LOOP_URI,
    SharedMoto,
    function_environment,
    largest_history_payload,
)


@pytest.fixture
def loop(e2e):
    """``loop(rounds_per_execution=..., **env)``: kendra-local (outcomes at the first check),
    the shared moto with the payload bucket, the function (template environment plus
    ``env``), and the wait loop with WaitSeconds 0."""
    stack = Stack()

    def make(rounds_per_execution: int | None = None, **env):
        kendra = e2e.kendra(indexing_checks=0)
        runtime = e2e.runtime(default_timeout_ms=30_000)
        moto = stack.add(SharedMoto(runtime, rounds_per_execution=rounds_per_execution).open())
        moto.client("s3").create_bucket(Bucket=PAYLOAD_BUCKET)
        e2e.function(runtime, function_environment(moto, **env), kendra=kendra)
        return moto, kendra, runtime

    with stack:
        yield make


def batch(docs, **fields) -> dict:
    return {"indexId": INDEX_ID, "operation": "PUT", "documents": docs, "requestId": "req-wl", **fields}


def overflowing_batch(prefix: str = "fail-") -> tuple[dict, list[str]]:
    """3,000 documents with 64-character ids that fail (``fail-``: FAILED; ``stuck-``:
    TIMED_OUT after the one round ``maxAttempts: 1`` allows) and 2 that index: the input
    fits a state (about 200 KB) but the result's failed list (about 500 KB) is far over
    MAX_RESULT_BYTES."""
    failing = [f"{prefix}wl-{i:05d}-" + "v" * (56 - len(prefix)) for i in range(3000)]
    given = batch(failing + ["wl-ok-1", "wl-ok-2"], maxAttempts=1)
    assert 150_000 < len(json.dumps(given)) < STATES_PAYLOAD_LIMIT
    return given, failing


@pytest.mark.parametrize("prefix, status", [("fail-", "FAILED"), ("stuck-", "TIMED_OUT")])
def test_an_overflowing_result_ends_documents_failed_with_a_failed_ref(loop, prefix, status):
    moto, kendra, runtime = loop()
    given, failing = overflowing_batch(prefix)
    kendra.put_documents(failing + ["wl-ok-1", "wl-ok-2"])
    end = moto.run(moto.loop_arn, given, timeout=90)
    assert end.status == "FAILED" and end.error == "DocumentsFailed", end
    assert end.states[-2:] == ["SummariseFailures", "DocumentsFailed"]
    assert len(end.cause) <= CAUSE_LIMIT
    cause = end.cause_json()
    assert (cause["status"], cause["succeeded"], cause["failedCount"]) == ("FAILED", 2, 3000)
    assert cause["counts"] == ({"FAILED": 3000, "INDEXED": 2} if status == "FAILED" else {"PROCESSING": 3000, "INDEXED": 2})
    assert cause["failedRef"]["count"] == 3000
    uri = cause["failedRef"]["s3Uri"]
    assert uri.startswith(f"s3://{PAYLOAD_BUCKET}/kendra-waiter/")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    listed = json.loads(moto.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert sorted(f["documentId"] for f in listed) == sorted(failing)
    assert {f["status"] for f in listed} == {status}
    # The round's result, as the state machine received it, stayed under the function's limit.
    [only] = end.rounds
    assert only.ok and "failed" not in only.payload and only.payload["failedRef"] == cause["failedRef"]
    assert len(json.dumps(only.payload)) <= int(function_environment(moto)["MAX_RESULT_BYTES"])
    assert largest_history_payload(end.events) < STATES_PAYLOAD_LIMIT
    assert moto.sizes.largest < STATES_PAYLOAD_LIMIT
    assert len(runtime.history) == 1


def test_without_a_bucket_the_same_batch_ends_result_too_large_caught_by_name(loop):
    moto, kendra, runtime = loop(PAYLOAD_BUCKET=None)
    given, failing = overflowing_batch()
    kendra.put_documents(failing + ["wl-ok-1", "wl-ok-2"])
    end = moto.run(moto.loop_arn, given, timeout=90)
    assert end.status == "FAILED" and end.error == "ResultTooLarge", end
    assert end.states[-2:] == ["ConcludeError", "ResultTooLarge"], "caught by name, not as a States error"
    assert "PAYLOAD_BUCKET" in end.cause
    # Not retried: one invocation, which failed with ResultTooLarge.
    assert [(r.ok, r.error_type) for r in runtime.history] == [(False, "ResultTooLarge")]
    assert end.retries == 0
    assert moto.client("s3").list_objects_v2(Bucket=PAYLOAD_BUCKET).get("KeyCount", 0) == 0


def comparable(end) -> tuple:
    return end.status, end.error, end.cause, json.dumps(end.output, sort_keys=True)


def test_a_chain_of_executions_ends_as_one_loop_would(loop):
    # RoundsPerExecution 3, maxAttempts 7: the first execution runs rounds 1-3 and continues
    # as new; link 1 runs 4-6, link 2 runs round 7, after which stuck-wl-b times out.
    moto, kendra, runtime = loop(rounds_per_execution=3)
    docs = ["wl-a", "stuck-wl-b", "fail-wl-c"]
    kendra.put_documents(docs)
    given = batch(docs, maxAttempts=7)
    one_loop = moto.create_state_machine(WAIT_LOOP_URI, RoundsPerExecution=1000)

    single = moto.run(one_loop, given, timeout=90)
    single_rounds = len(runtime.history)
    chain = moto.run(moto.loop_arn, given, timeout=120)
    chain_attempts = [r.event.get("attempt", 0) for r in runtime.history[single_rounds:]]

    assert single.status == "FAILED" and single.error == "DocumentsFailed", single
    assert comparable(chain) == comparable(single)
    failed = chain.cause_json()
    assert [(f["documentId"], f["status"]) for f in failed] == [("fail-wl-c", "FAILED"), ("stuck-wl-b", "TIMED_OUT")]
    assert failed[1]["reason"] == "PROCESSING after 7 attempts"
    assert single_rounds == 7 and chain_attempts == [0, 1, 2, 3, 4, 5, 6]
    assert [r.ok for r in runtime.history] == [True] * 14
    assert len(moto.executions(one_loop)) == 1
    links = {e["executionArn"]: moto.wait(e["executionArn"]) for e in moto.executions(moto.loop_arn)}
    assert len(links) == 3
    rounds = sorted((h.states.count("CheckStatus"), h.status) for h in links.values())
    assert rounds == [(1, "SUCCEEDED"), (3, "FAILED"), (3, "SUCCEEDED")]
    assert all(h.states[-1] == "ReturnToPreviousLink" for arn, h in links.items() if arn != chain.arn)
    assert all(largest_history_payload(h.events) < STATES_PAYLOAD_LIMIT for h in links.values())
