"""Callback mode with the release binary (contract Part 2, "Callback mode"; issue 11):
statemachine/wait-for-indexing-callback.asl.json runs on moto's interpreter and sends the
batch plus its task token to the check queue; an SqsPoller (Lambda's event source mapping)
feeds the real bootstrap, which checks kendra-local, republishes unfinished batches to the
check queue (RETRY_DELAY_SECONDS 0), heartbeats every round and answers the token through
the same moto (harness.moto_shared). Run:
KENDRA_WAITER_BIN=/work/bins/bootstrap KENDRA_LOCAL_BIN=/work/bins/kendra-local \
  .venv/bin/python -m pytest e2e/test_part2_callback.py -q -p no:cacheprovider
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from harness import INDEX_ID, Queues, SqsPoller, Stack, create_queues, queue_is_empty, wait_until
from harness.moto_shared import (
    CALLBACK_URI,
    CAUSE_LIMIT,
    PAYLOAD_BUCKET,
    STATES_PAYLOAD_LIMIT,
    BackgroundPoller,
    SharedMoto,
    function_environment,
)

UNKNOWN_INDEX = "99999999-8888-7777-6666-555555555555"


@dataclass
class World:
    moto: SharedMoto
    queues: Queues
    machine: str
    poller: BackgroundPoller
    kendra: object
    function: object

    def run(self, batch: dict, timeout: float = 60.0):
        return self.moto.run(self.machine, batch, timeout=timeout)

    def polls_of(self, token: str) -> list:
        """The polls that received a message carrying ``token`` (one per round)."""
        return [p for p in self.poller.polls if any(json.loads(m["Body"]).get("taskToken") == token for m in p.received)]

    def settled(self) -> bool:
        sqs = self.moto.client("sqs")
        return queue_is_empty(sqs, self.queues.check_url) and queue_is_empty(sqs, self.queues.dlq_url)


@pytest.fixture
def world(e2e, request):
    """kendra-local (documents PROCESSING for 2 checks, then their outcome), the shared
    moto with the template's queues and payload bucket, the function pointed at both (its
    environment overridden by an indirect parameter, a dict), the callback state machine,
    and the event source mapping polling the check queue."""
    overrides = getattr(request, "param", {})
    kendra = e2e.kendra(indexing_checks=2)
    runtime = e2e.runtime(default_timeout_ms=20_000)
    with Stack() as stack:
        moto = stack.add(SharedMoto(runtime).open())
        sqs = moto.client("sqs")
        queues = create_queues(sqs, "cb", visibility_timeout=30)
        moto.client("s3").create_bucket(Bucket=PAYLOAD_BUCKET)
        function = e2e.function(runtime, function_environment(moto, retry_queue_url=queues.check_url, **overrides), kendra=kendra)
        machine = moto.create_state_machine(CALLBACK_URI, CheckQueueUrl=queues.check_url)
        poller = stack.add(BackgroundPoller(SqsPoller(sqs, runtime, queues.check_url, queues.check_arn, batch_size=100, invoke_timeout_ms=20_000)))
        yield World(moto, queues, machine, poller, kendra, function)


def batch(docs, **fields) -> dict:
    return {"indexId": INDEX_ID, "operation": "PUT", "documents": docs, "requestId": "req-cb", **fields}


def first_token(world: World) -> str:
    return json.loads(world.poller.polls[0].received[0]["Body"])["taskToken"]


def test_success_outputs_the_final_result_after_a_heartbeat_every_round(world):
    docs = ["cb-a", "cb-b", "cb-c"]
    world.kendra.put_documents(docs)
    end = world.run(batch(docs))
    assert end.status == "SUCCEEDED", end
    token = first_token(world)
    polls = world.polls_of(token)
    first_message_id = polls[0].received[0]["MessageId"]

    # The output is the function's final result: no task token, the batch id of the first message.
    out = end.output
    assert "taskToken" not in out
    assert (out["status"], out["succeeded"], out["attempt"], out["documents"], out["failed"]) == ("SUCCEEDED", 3, 3, [], [])
    assert out["requestId"] == "req-cb" and out["indexId"] == INDEX_ID
    assert out["batchId"] == first_message_id
    # One task for the whole wait.
    assert end.states == ["PrepareMessage", "WaitForDocuments"]

    # Three rounds (PROCESSING, PROCESSING, INDEXED), each a message republished by the
    # function with the next attempt and the same token; one heartbeat in each round.
    bodies = [json.loads(p.received[0]["Body"]) for p in polls]
    assert [b.get("attempt", 0) for b in bodies] == [0, 1, 2]
    assert all(b["taskToken"] == token for b in bodies)
    heartbeats = world.moto.tasks.of("heartbeat", token)
    assert len(heartbeats) == len(polls) == 3
    for poll, beat in zip(polls, heartbeats):
        assert poll.received_ms <= beat.at_ms <= poll.result.finished_ms, "the heartbeat belongs to that round"
        assert beat.answer is None
    successes = world.moto.tasks.of("success", token)
    assert len(successes) == 1 and json.loads(successes[0].output) == out
    assert world.moto.tasks.of("failure") == []
    # Every message acknowledged: nothing left, nothing in the dead-letter queue.
    assert all(p.failures == [] for p in polls)
    assert wait_settled(world)


def test_a_failed_document_fails_the_execution_with_a_cause_naming_it(world):
    docs = ["cb-ok-1", "fail-cb-1", "cb-ok-2"]
    world.kendra.put_documents(docs)
    end = world.run(batch(docs))
    assert end.status == "FAILED" and end.error == "DocumentsFailed", end
    # Every failure fits the cause: the execution's cause is their list, as the wait loop's.
    assert end.states[-2:] == ["ListFailures", "DocumentsFailed"]
    cause = end.cause_json()
    assert [(f["documentId"], f["status"], f["code"]) for f in cause] == [("fail-cb-1", "FAILED", "KendraLocal.SimulatedFailure")]
    assert "fail-cb-1" in cause[0]["reason"]
    token = first_token(world)
    # The function's own cause: counts and the failures, no task token, no documents.
    [failure] = world.moto.tasks.of("failure", token)
    sent = json.loads(failure.cause)
    assert failure.error == "DocumentsFailed" and failure.answer is None
    assert (sent["status"], sent["succeeded"], sent["failedCount"]) == ("FAILED", 2, 1)
    assert "taskToken" not in sent and "documents" not in sent
    assert len(world.moto.tasks.of("heartbeat", token)) == len(world.polls_of(token)) == 3
    assert world.moto.tasks.of("success") == []
    assert wait_settled(world)


def test_many_failures_go_to_s3_and_the_cause_names_them_by_failed_ref(world):
    # 1,500 failures with long ids: far more than a cause's 32,768 characters.
    failing = [f"fail-cb-{i:05d}-" + "w" * 80 for i in range(1500)]
    world.kendra.put_documents(failing + ["cb-fine"])
    end = world.run(batch(failing + ["cb-fine"]))
    assert end.status == "FAILED" and end.error == "DocumentsFailed", end
    assert len(end.cause) <= CAUSE_LIMIT
    cause = end.cause_json()
    assert end.states[-2:] == ["SummariseFailures", "DocumentsFailed"]
    assert (cause["status"], cause["succeeded"], cause["failedCount"]) == ("FAILED", 1, 1500)
    assert cause["failedRef"]["count"] == 1500
    bucket, _, key = cause["failedRef"]["s3Uri"].removeprefix("s3://").partition("/")
    listed = json.loads(world.moto.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert sorted(f["documentId"] for f in listed) == sorted(failing)
    assert max(len(e.get("taskSucceededEventDetails", {}).get("output", "")) for e in end.events) < STATES_PAYLOAD_LIMIT
    assert wait_settled(world)


@pytest.mark.parametrize("world", [{"PAYLOAD_BUCKET": None}], indirect=True, ids=["no-bucket"])
def test_without_a_bucket_a_cause_too_long_keeps_the_first_failures_and_passes_through(world):
    # 1,500 failures with long ids do not fit a cause and there is nowhere to put the list:
    # the function's cause keeps the counts and the first failures (no failedRef) within
    # 32,768 characters, and the state machine passes it through as it came.
    failing = [f"fail-cb-{i:05d}-" + "w" * 80 for i in range(1500)]
    world.kendra.put_documents(failing + ["cb-fine"])
    end = world.run(batch(failing + ["cb-fine"]))
    assert end.status == "FAILED" and end.error == "DocumentsFailed", end
    assert end.states[-1] == "PassCauseThrough"
    assert len(end.cause) <= CAUSE_LIMIT
    cause = end.cause_json()
    assert (cause["status"], cause["succeeded"], cause["failedCount"]) == ("FAILED", 1, 1500)
    assert "failedRef" not in cause and "taskToken" not in cause
    listed = [f["documentId"] for f in cause["failed"]]
    assert 0 < len(listed) < 1500 and set(listed) <= set(failing)
    [failure] = world.moto.tasks.of("failure")
    assert failure.cause == end.cause
    assert world.moto.client("s3").list_objects_v2(Bucket=PAYLOAD_BUCKET).get("KeyCount", 0) == 0
    assert wait_settled(world)


@pytest.mark.parametrize(
    "given, error, state, words",
    [
        (batch(["cb-x"], indexId=UNKNOWN_INDEX), "KendraRequestError", "KendraRejected", ["ResourceNotFoundException"]),
        (batch([]), "ValidationError", "InvalidBatch", ["documents"]),
        (batch(["cb-x"], maxAttempts=0), "ValidationError", "InvalidBatch", ["maxAttempts"]),
    ],
    ids=["unknown-index", "no-documents", "max-attempts-0"],
)
def test_a_refused_batch_fails_the_task_at_once_and_is_acknowledged(world, given, error, state, words):
    world.kendra.put_documents(["cb-x"])
    end = world.run(given)
    assert end.status == "FAILED" and end.error == error, end
    assert end.states[-1] == state
    assert all(w in end.cause for w in words), end.cause
    token = first_token(world)
    polls = world.polls_of(token)
    # At once: one round, no heartbeat, no republish; the message acknowledged (not reported),
    # so it never reaches the dead-letter queue: the waiting execution decided.
    assert len(polls) == 1 and polls[0].failures == [] and polls[0].acknowledged == [polls[0].received[0]["MessageId"]]
    [failure] = world.moto.tasks.of("failure", token)
    assert failure.error == error and failure.cause == end.cause
    assert world.moto.tasks.of("heartbeat") == [] and world.moto.tasks.of("success") == []
    assert wait_settled(world)


def wait_settled(world: World) -> bool:
    """The check queue and its dead-letter queue empty once the poller has nothing left
    (the last delete may trail the execution's end by a moment)."""
    return wait_until(world.settled, 10, "check queue and DLQ empty")


def test_a_token_nobody_waits_for_any_more_is_acknowledged(world):
    # The execution is stopped while its batch is still being checked (stuck-... stays
    # PROCESSING): the function's next heartbeat is refused (InvalidToken / TaskDoesNotExist /
    # TaskTimedOut), which means nobody waits any more: logged at WARN, the message
    # acknowledged, no republish, nothing in the dead-letter queue.
    world.kendra.put_documents(["stuck-cb-1"])
    execution = world.moto.start(world.machine, batch(["stuck-cb-1"], maxAttempts=10_000))
    wait_until(lambda: len(world.moto.tasks.of("heartbeat")) >= 2, 30, "two rounds")
    world.moto.sfn.client.stop_execution(executionArn=execution, error="Test", cause="stopped by the test")
    stopped = world.moto.wait(execution, 30)
    # AWS: ABORTED. moto 5.2.5 ends the waiting task as States.Timeout: FAILED. Either way the
    # token is dead, which is what this test is about.
    assert (stopped.status, stopped.error) in (("ABORTED", None), ("FAILED", "States.Timeout")), stopped
    assert wait_settled(world)
    token = first_token(world)
    heartbeats = world.moto.tasks.of("heartbeat", token)
    refused = [h for h in heartbeats if h.answer is not None]
    assert len(refused) == 1 and refused[0] is heartbeats[-1], [(h.answer) for h in heartbeats]
    assert refused[0].answer in ("InvalidToken", "TaskDoesNotExist", "TaskTimedOut")
    assert len(heartbeats) < 100, "the batch stopped being checked"
    # The round whose heartbeat was refused was acknowledged and not republished.
    last = world.polls_of(token)[-1]
    assert last.failures == [] and len(last.acknowledged) == 1
    assert world.moto.tasks.of("success") == [] and world.moto.tasks.of("failure") == []
    fn = world.function
    warnings = [r for r in fn.json_lines() if r.get("level") == "WARN" and "nobody waits" in json.dumps(r)]
    assert len(warnings) == 1, fn.stdout()[-2000:]
