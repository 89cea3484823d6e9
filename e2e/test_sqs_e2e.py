"""SQS end to end: the template's queues (check queue with a dead-letter queue after
maxReceiveCount receives, failure queue) on a moto server, a poller acting as the event
source mapping (ReportBatchItemFailures), the release bootstrap, kendra-local. Both modes:
republish to the check queue itself (RETRY_QUEUE_URL), and batch item failures only."""

from __future__ import annotations

import json
import uuid

import pytest

from harness import INDEX_ID, SqsPoller, create_queues, drain_queue, queue_is_empty, template_queue_settings

POISON = "this is not JSON {"


def batches() -> dict[str, dict]:
    """requestId -> batch. Expected outcome in the requestId."""
    return {
        "ok": {"indexId": INDEX_ID, "operation": "PUT", "documents": ["sqs-a", "sqs-b", {"documentId": "sqs-c", "attributes": {"_category": "x"}}]},
        "ok-default-index": {"documents": ["sqs-f"]},
        "fail": {"indexId": INDEX_ID, "documents": ["sqs-d", "fail-sqs-e"]},
        "delete": {"indexId": INDEX_ID, "operation": "DELETE", "documents": ["sqs-old-1", "sqs-old-2"]},
        "timeout": {"indexId": INDEX_ID, "documents": ["stuck-sqs-1", "sqs-g"], "maxAttempts": 3},
    }


SUCCEEDING_DOCS = 3 + 1 + 1 + 2 + 1  # every document but fail-sqs-e and stuck-sqs-1


@pytest.fixture(params=["republish", "batch-item-failures"])
def sqs_case(request, e2e, sqs, moto_server):
    mode = request.param
    settings = template_queue_settings()
    assert settings["maxReceiveCount"] == 5, "template.yaml: the check queue's DLQ after 5 receives"
    queues = create_queues(sqs, f"e2e-{uuid.uuid4().hex[:8]}", visibility_timeout=1)
    kendra = e2e.kendra(indexing_checks=2)
    kendra.put_documents(["sqs-a", "sqs-b", "sqs-c", "sqs-f", "sqs-d", "fail-sqs-e", "stuck-sqs-1", "sqs-g", "sqs-old-1", "sqs-old-2"])
    kendra.delete_documents(["sqs-old-1", "sqs-old-2"])
    env = {"KENDRA_INDEX_ID": INDEX_ID, "FAILURE_QUEUE_URL": queues.failure_url, "MAX_ATTEMPTS": "10"}
    if mode == "republish":
        env.update({"RETRY_QUEUE_URL": queues.check_url, "RETRY_DELAY_SECONDS": "1", "RETRY_MAX_DELAY_SECONDS": "2"})
    runtime = e2e.runtime()
    fn = e2e.function(runtime, env, kendra=kendra, sqs_endpoint=moto_server.endpoint)
    return {"mode": mode, "queues": queues, "kendra": kendra, "runtime": runtime, "fn": fn, "sqs": sqs}


def test_sqs_end_to_end(sqs_case):
    sqs, q, mode = sqs_case["sqs"], sqs_case["queues"], sqs_case["mode"]
    for request_id, batch in batches().items():
        sqs.send_message(QueueUrl=q.check_url, MessageBody=json.dumps({**batch, "requestId": request_id}))
    sqs.send_message(QueueUrl=q.check_url, MessageBody=POISON)

    poller = SqsPoller(sqs, sqs_case["runtime"], q.check_url, q.check_arn, batch_size=10)
    poller.run_until_empty(timeout=60)

    # Every invocation answered; identifiers are never empty.
    for poll in poller.polls:
        assert poll.result.ok, poll.result
        assert all(poll.failures), poll.result.payload
    received = [m for p in poller.polls for m in p.received]

    # The poison message: reported every time, then moved to the dead-letter queue.
    poison_receipts = [m for m in received if m["Body"] == POISON]
    assert 1 <= len(poison_receipts) <= 5
    dlq = drain_queue(sqs, q.dlq_url)
    assert [m["Body"] for m in dlq] == [POISON]

    # Failures arrive once each in the failure queue.
    reports = [json.loads(m["Body"]) for m in drain_queue(sqs, q.failure_url)]
    by_request = {r["requestId"]: r for r in reports}
    assert len(reports) == len(by_request) == 2, reports
    fail, timeout = by_request["fail"], by_request["timeout"]
    for report in reports:
        assert report["status"] == "FAILED"
        assert report["documents"] == []
        assert report["sourceMessageId"] in {m["MessageId"] for m in received}
    assert [(f["documentId"], f["status"]) for f in fail["failed"]] == [("fail-sqs-e", "FAILED")]
    assert fail["succeeded"] == 1
    assert [(f["documentId"], f["status"]) for f in timeout["failed"]] == [("stuck-sqs-1", "TIMED_OUT")]
    assert timeout["succeeded"] == 1
    assert timeout["attempt"] == 3

    assert queue_is_empty(sqs, q.check_url)
    bodies = [json.loads(m["Body"]) for m in received if m["Body"] != POISON]
    if mode == "republish":
        republished = [m for m in received if m["Body"] != POISON and json.loads(m["Body"]).get("attempt", 0) > 0]
        assert republished, "unfinished batches should have been republished"
        for m in republished:
            body = json.loads(m["Body"])
            assert m["Attributes"]["ApproximateReceiveCount"] == "1", "republished, not redelivered"
            assert body["status"] == "PENDING" and body["documents"]
            # DelaySeconds = min(RETRY_MAX_DELAY_SECONDS, RETRY_DELAY_SECONDS * 2^a), a = attempt before the round.
            delay = min(2, 1 * 2 ** (body["attempt"] - 1))
            visible_after = next(p.received_ms for p in poller.polls if m in p.received) - int(m["Attributes"]["SentTimestamp"])
            assert visible_after >= delay * 1000 - 100, f"{body['requestId']} attempt {body['attempt']}: visible after {visible_after} ms, delay {delay} s"
        # Every document of a lineage counted once: EMF sums match the documents.
        emf = sqs_case["fn"].emf_records()
        assert sum(r["DocumentsSucceeded"] for r in emf) == SUCCEEDING_DOCS
        assert sum(r["DocumentsFailed"] for r in emf) == 2
        assert max(b.get("attempt", 0) for b in bodies) == 2
    else:
        redelivered = [m for m in received if int(m["Attributes"]["ApproximateReceiveCount"]) > 1 and m["Body"] != POISON]
        assert redelivered, "unfinished messages should have been redelivered by SQS"
        assert all(b.get("attempt", 0) == 0 for b in bodies), "nothing is republished in this mode"
        ok_receipts = [m for m in received if m["Body"] != POISON and json.loads(m["Body"])["requestId"] == "ok"]
        assert len(ok_receipts) == 3, "indexing-checks 2: PROCESSING twice, INDEXED on the third receive"
