"""Large ingests with the release binary (contract Part 2, "Large ingests"; issue 11):
statemachine/wait-for-ingest.asl.json on moto's interpreter over a manifest in moto's S3.
bootstrap plans the batches (objects in S3, read back by the Distributed Map's ItemReader),
waits for each batch by callback (the check queue, an SqsPoller feeding the function) or by
the wait loop (nested executions), records every outcome and summarises: one result with
exact counts and a failedRef object listing exactly the failed documents, every payload
between states under 256 KiB. kendra-local decides outcomes: ``fail-...`` ids end FAILED,
the others index (all are put, and reach their outcome at the first check). Run:
KENDRA_WAITER_BIN=/work/bins/bootstrap KENDRA_LOCAL_BIN=/work/bins/kendra-local \
  .venv/bin/python -m pytest e2e/test_part2_ingest.py -q -p no:cacheprovider
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest

from harness import INDEX_ID, SqsPoller, Stack, create_queues, queue_is_empty
from harness.moto_shared import (
    CAUSE_LIMIT,
    INGEST_URI,
    PAYLOAD_BUCKET,
    STATES_PAYLOAD_LIMIT,
    BackgroundPoller,
    SharedMoto,
    function_environment,
    largest_history_payload,
)

LARGE = 20_000  # documents in the large manifest (issue 11)


@dataclass
class Ingest:
    moto: SharedMoto
    kendra: object
    machine: str
    poller: BackgroundPoller
    check_url: str
    dlq_url: str

    def put_manifest(self, key: str, text: str) -> str:
        return self.moto.put_manifest(key, text)

    def read_json(self, uri: str):
        return self.moto.read_json(uri)

    def run(self, manifest: str, timeout: float = 150.0, **fields):
        request = {"indexId": INDEX_ID, "operation": "PUT", "manifest": manifest, "requestId": "ing-e2e", **fields}
        return self.moto.run(self.machine, request, timeout=timeout)


@pytest.fixture
def ingest(e2e):
    """``ingest(indexing_checks=0, rounds_per_execution=None, **substitutions)``: kendra-local
    (documents PROCESSING for ``indexing_checks`` checks, then their outcome), the shared moto
    with the payload bucket and the template's queues, the function (template environment),
    the wait loop (WaitSeconds 0, the template's RoundsPerExecution unless given), the ingest state machine (template defaults but for ``substitutions``: BatchSize,
    MaxConcurrency, ...), and the event source mapping polling the check queue."""
    stack = Stack()

    def make(indexing_checks: int = 0, rounds_per_execution: int | None = None, **substitutions) -> Ingest:
        kendra = e2e.kendra(indexing_checks=indexing_checks)
        runtime = e2e.runtime(default_timeout_ms=60_000)
        moto = stack.add(SharedMoto(runtime, rounds_per_execution=rounds_per_execution).open())
        sqs = moto.client("sqs")
        queues = create_queues(sqs, "ing", visibility_timeout=90)
        moto.client("s3").create_bucket(Bucket=PAYLOAD_BUCKET)
        e2e.function(runtime, function_environment(moto, retry_queue_url=queues.check_url), kendra=kendra)
        machine = moto.create_state_machine(
            INGEST_URI,
            CheckQueueUrl=queues.check_url,
            WaitForIndexingStateMachineArn=moto.loop_arn,
            PayloadBucketName=PAYLOAD_BUCKET,
            **substitutions,
        )
        poller = SqsPoller(sqs, runtime, queues.check_url, queues.check_arn, batch_size=100, invoke_timeout_ms=60_000)
        return Ingest(moto, kendra, machine, stack.add(BackgroundPoller(poller)), queues.check_url, queues.dlq_url)

    with stack:
        yield make


def mixed_ids(total: int, batch_size: int, failing_per_odd_batch: int) -> tuple[list[str], list[str]]:
    """Manifest ids: every odd-numbered batch (2nd, 4th, ...) starts with
    ``failing_per_odd_batch`` ``fail-`` documents, the even ones all index; returns (all,
    failing)."""
    ids = []
    for i in range(total):
        batch, position = divmod(i, batch_size)
        failing = batch % 2 == 1 and position < failing_per_odd_batch
        ids.append(f"fail-ing-{i:05d}" if failing else f"ing-{i:05d}")
    return ids, [i for i in ids if i.startswith("fail-")]


def check_summary(ingest: Ingest, end, total: int, failing: list[str]) -> dict:
    """The ingest ended DocumentsFailed with the summary as cause: exact counts, and
    failedRef lists exactly the failed documents."""
    assert end.status == "FAILED" and end.error == "DocumentsFailed", end
    assert end.states[-3:] == ["CheckAccounting", "RouteOnSummary", "DocumentsFailed"]
    summary = end.cause_json()
    expected = {"status": "FAILED", "total": total, "succeeded": total - len(failing), "failedCount": len(failing)}
    assert {k: summary[k] for k in expected} == expected
    assert set(summary) == {"status", "total", "succeeded", "failedCount", "failedRef"}, summary
    assert summary["failedRef"]["count"] == len(failing)
    listed = ingest.read_json(summary["failedRef"]["s3Uri"])
    assert sorted(f["documentId"] for f in listed) == sorted(failing)
    assert {f["status"] for f in listed} == {"FAILED"}
    return summary


def check_payload_sizes(ingest: Ingest, end, *others) -> None:
    """No event carries more than 256 KiB: every input, output and cause in the histories,
    and every event moto's interpreter wrote (Distributed Map children included)."""
    for execution in (end, *others):
        assert largest_history_payload(execution.events) < STATES_PAYLOAD_LIMIT, execution.arn
    assert ingest.moto.sizes.count > 0
    assert ingest.moto.sizes.largest < STATES_PAYLOAD_LIMIT, ingest.moto.sizes.largest_event


def test_a_large_manifest_by_callback_ends_with_exact_counts(ingest):
    # The template's BatchSize (1,000) and MaxConcurrency (10); every batch takes two rounds.
    world = ingest(indexing_checks=1)
    ids, failing = mixed_ids(LARGE, 1000, 100)
    world.kendra.put_documents(ids)
    manifest = world.put_manifest("manifests/large.json", json.dumps(ids))
    assert len(json.dumps(ids)) > STATES_PAYLOAD_LIMIT

    started = time.monotonic()
    end = world.run(manifest)
    elapsed = time.monotonic() - started

    check_summary(world, end, LARGE, failing)
    check_payload_sizes(world, end)
    # By callback: one message per batch (the item plus its token, documents in S3), checked
    # twice (PROCESSING, then the outcome: republished once, a heartbeat each round), each
    # token answered once: SendTaskSuccess for the 10 clean batches, SendTaskFailure
    # DocumentsFailed for the 10 with failures.
    bodies = [json.loads(m["Body"]) for p in world.poller.polls for m in p.received]
    firsts = [b for b in bodies if "attempt" not in b]
    assert sorted(b["batchNumber"] for b in firsts) == list(range(1, 21))
    assert all("documentsRef" in b and "documents" not in b and b["taskToken"] for b in firsts)
    assert all(b["documentsRef"]["count"] == 1000 and b["requestId"] == "ing-e2e" for b in firsts)
    seconds = [b for b in bodies if "attempt" in b]
    assert sorted((b["batchNumber"], b["attempt"]) for b in seconds) == [(n, 1) for n in range(1, 21)]
    tokens = sorted(b["taskToken"] for b in firsts)
    assert sorted(b["taskToken"] for b in seconds) == tokens
    assert sorted(c.token for c in world.moto.tasks.of("heartbeat")) == sorted(tokens * 2)
    answers = world.moto.tasks.of("success") + world.moto.tasks.of("failure")
    assert sorted(c.token for c in answers) == tokens
    assert len(world.moto.tasks.of("success")) == 10
    assert {c.error for c in world.moto.tasks.of("failure")} == {"DocumentsFailed"}
    assert queue_is_empty(world.moto.client("sqs"), world.check_url) and queue_is_empty(world.moto.client("sqs"), world.dlq_url)
    print(f"\ningest of {LARGE} documents by callback: {elapsed:.1f} s, largest event {world.moto.sizes.largest_event}")


def test_a_large_manifest_by_loop_ends_with_exact_counts(ingest):
    world = ingest()
    ids, failing = mixed_ids(LARGE, 1000, 50)
    world.kendra.put_documents(ids)
    manifest = world.put_manifest("manifests/large.jsonl", "".join(json.dumps(i) + "\n" for i in ids))

    started = time.monotonic()
    end = world.run(manifest, waitMode="loop")
    elapsed = time.monotonic() - started

    check_summary(world, end, LARGE, failing)
    # One wait loop execution per batch, each ending with Succeed and its result (FAILED too).
    loops = [world.moto.wait(e["executionArn"]) for e in world.moto.executions(world.moto.loop_arn)]
    assert sorted(int(e.arn.rsplit(":", 1)[1].split("-")[0].removeprefix("batch")) for e in loops) == list(range(1, 21))
    assert all(e.status == "SUCCEEDED" and e.output["kendraWaiterIngest"] == end.arn.rsplit(":", 1)[1] for e in loops)
    assert sorted(e.output["batchNumber"] for e in loops if e.output["status"] == "FAILED") == list(range(2, 21, 2))
    check_payload_sizes(world, end, *loops)
    assert world.poller.polls == [], "the loop mode sends nothing to the check queue"
    print(f"\ningest of {LARGE} documents by loop: {elapsed:.1f} s, largest event {world.moto.sizes.largest_event}")


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_csv_and_json_lines_manifests(ingest, kind):
    world = ingest(BatchSize=7, MaxConcurrency=3)
    ids = [f"small-{i:02d}" for i in range(30)] + ["fail-small-1", "fail-small-2"]
    world.kendra.put_documents(ids)
    if kind == "csv":
        text = "title,documentId\n" + "".join(f'"Title, {n}",{i}\n' for n, i in enumerate(ids))
    else:
        text = "".join(json.dumps({"documentId": i, "attributes": {"version": 1}} if n % 2 else i) + "\n" for n, i in enumerate(ids))
    end = world.run(world.put_manifest(f"manifests/small.{kind}", text), timeout=90)
    check_summary(world, end, len(ids), ["fail-small-1", "fail-small-2"])
    firsts = [json.loads(m["Body"]) for p in world.poller.polls for m in p.received]
    assert sorted(b["batchNumber"] for b in firsts) == [1, 2, 3, 4, 5]  # 32 documents in batches of 7
    check_payload_sizes(world, end)


@pytest.mark.parametrize("mode", ["callback", "loop"])
def test_a_batch_whose_failures_are_in_s3_is_summarised_by_reference(ingest, mode):
    # Batch 2 fails entirely with 100-character ids: its failures (about 250 KB) exceed
    # MAX_RESULT_BYTES (loop: the result carries failedRef) and a cause's 32,768 characters
    # (callback: the cause carries failedRef and the first failures); record and summarise
    # must read the list back from S3.
    world = ingest(BatchSize=1000, MaxConcurrency=3)
    ok = [f"ing-ok-{i:05d}" for i in range(2000)]
    failing = [f"fail-ing-{i:04d}-" + "f" * 86 for i in range(1000)]
    ids = ok[:1000] + failing + ok[1000:]
    world.kendra.put_documents(ids)
    end = world.run(world.put_manifest("manifests/refs.json", json.dumps(ids)), waitMode=mode)
    check_summary(world, end, 3000, failing)
    if mode == "callback":
        [failure] = world.moto.tasks.of("failure")
        assert len(failure.cause) <= CAUSE_LIMIT and json.loads(failure.cause)["failedRef"]["count"] == 1000
    else:
        outputs = [world.moto.wait(e["executionArn"]).output for e in world.moto.executions(world.moto.loop_arn)]
        [failed_batch] = [o for o in outputs if o["status"] == "FAILED"]
        assert failed_batch["batchNumber"] == 2 and failed_batch["failedRef"]["count"] == 1000 and "failed" not in failed_batch
    check_payload_sizes(world, end)


def test_loop_mode_batches_that_continue_as_new(ingest):
    # Each batch needs 4 rounds (PROCESSING 3 times) and a wait loop execution hands over
    # after 2: every batch is a chain of two executions whose first ends IngestBatchDone or
    # AllDocumentsDone with the batch's final result, as one execution would.
    world = ingest(indexing_checks=3, rounds_per_execution=2, BatchSize=4, MaxConcurrency=3)
    ids = [f"chain-{i}" for i in range(10)] + ["fail-chain-1", "fail-chain-2"]
    world.kendra.put_documents(ids)
    end = world.run(world.put_manifest("manifests/chain.json", json.dumps(ids)), waitMode="loop")
    check_summary(world, end, 12, ["fail-chain-1", "fail-chain-2"])
    executions = [world.moto.wait(e["executionArn"]) for e in world.moto.executions(world.moto.loop_arn)]
    firsts = [e for e in executions if e.arn.rsplit(":", 1)[1].startswith("batch")]
    assert len(firsts) == 3 and len(executions) == 6
    assert all(e.status == "SUCCEEDED" and e.output["attempt"] == 4 for e in firsts)
    # Batches of 4: the third holds both failures.
    ends = sorted((e.output["batchNumber"], e.output["status"], e.states[-1]) for e in firsts)
    assert ends == [(1, "SUCCEEDED", "AllDocumentsDone"), (2, "SUCCEEDED", "AllDocumentsDone"), (3, "FAILED", "IngestBatchDone")]
    check_payload_sizes(world, end, *executions)
