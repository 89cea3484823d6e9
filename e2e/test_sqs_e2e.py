"""SQS end to end: the template's queues (check queue with a dead-letter queue after
maxReceiveCount receives, failure queue) on a moto server, a poller acting as the event
source mapping (ReportBatchItemFailures), the release bootstrap, kendra-local. Both modes:
republish to the check queue itself (RETRY_QUEUE_URL), and batch item failures only."""

from __future__ import annotations

import json
import uuid

import pytest

from harness import (
    INDEX_ID,
    SqsPoller,
    create_queues,
    drain_queue,
    now_ms,
    queue_counts,
    queue_is_empty,
    received_message,
    sqs_event,
    template_queue_settings,
    wait_until,
)

POISON = "this is not JSON {"


def batches() -> dict[str, dict]:
    """requestId -> batch. Expected outcome in the requestId."""
    return {
        "ok": {"indexId": INDEX_ID, "operation": "PUT", "documents": ["sqs-a", "sqs-b", {"documentId": "sqs-c", "attributes": {"version": "2"}}]},
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
    # The backoff applies in both modes: a republish's DelaySeconds, or (redelivery mode) the
    # reported message's visibility timeout (ChangeMessageVisibility).
    env = {"KENDRA_INDEX_ID": INDEX_ID, "FAILURE_QUEUE_URL": queues.failure_url, "MAX_ATTEMPTS": "10",
           "RETRY_DELAY_SECONDS": "1", "RETRY_MAX_DELAY_SECONDS": "2"}
    if mode == "republish":
        env["RETRY_QUEUE_URL"] = queues.check_url
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
        # Each redelivery waits the backoff the function set with ChangeMessageVisibility:
        # min(RETRY_MAX_DELAY_SECONDS, RETRY_DELAY_SECONDS * 2^a), a = the attempt before.
        for m in redelivered:
            count = int(m["Attributes"]["ApproximateReceiveCount"])
            previous = [p.received_ms for p in poller.polls
                        if any(r["MessageId"] == m["MessageId"] and int(r["Attributes"]["ApproximateReceiveCount"]) == count - 1
                               for r in p.received)]
            this = next(p.received_ms for p in poller.polls if m in p.received)
            delay = min(2, 2 ** (count - 2))
            assert previous and this - previous[0] >= delay * 1000 - 100, f"receive {count}: {this - previous[0]} ms after the last, delay {delay} s"


# --- SQS contract probes (moto server queues, hand-built events) ----------------------


@pytest.fixture
def probe(e2e, sqs, moto_server):
    queues = create_queues(sqs, f"probe-{uuid.uuid4().hex[:8]}", visibility_timeout=1)
    kendra = e2e.kendra(indexing_checks=0)
    runtime = e2e.runtime()

    def start(**env):
        base = {"KENDRA_INDEX_ID": INDEX_ID, "FAILURE_QUEUE_URL": queues.failure_url, "RETRY_QUEUE_URL": queues.check_url,
                "RETRY_DELAY_SECONDS": "0", "RETRY_MAX_DELAY_SECONDS": "0"}
        base.update(env)
        return e2e.function(runtime, base, kendra=kendra, sqs_endpoint=moto_server.endpoint)

    return {"queues": queues, "kendra": kendra, "runtime": runtime, "start": start, "sqs": sqs}


def test_attempt_counts_sqs_redeliveries(probe):
    q, sqs = probe["queues"], probe["sqs"]
    probe["kendra"].put_documents(["stuck-rc"])
    probe["start"]()
    # attempt 2 in the body + 2 earlier receives = attempt 4 before this round; maxAttempts 5:
    # this round is the last, so the document times out and the report goes out.
    body = {"documents": ["stuck-rc"], "attempt": 2, "maxAttempts": 5, "requestId": "rc"}
    r = probe["runtime"].invoke(sqs_event([received_message(body, message_id="rc-1", receive_count=3)], q.check_arn))
    assert r.ok and r.payload == {"batchItemFailures": []}, r
    reports = [json.loads(m["Body"]) for m in drain_queue(sqs, q.failure_url)]
    assert len(reports) == 1
    assert reports[0]["attempt"] == 5
    assert reports[0]["failed"] == [{"documentId": "stuck-rc", "status": "TIMED_OUT", "reason": "PROCESSING after 5 attempts"}]
    assert reports[0]["sourceMessageId"] == "rc-1"
    assert queue_is_empty(sqs, q.check_url), "a finished message is not republished"


def test_republished_body_and_delay(probe):
    q, sqs = probe["queues"], probe["sqs"]
    probe["kendra"].put_documents(["stuck-rp", "rp-ok"])
    probe["start"](RETRY_DELAY_SECONDS="1", RETRY_MAX_DELAY_SECONDS="900")
    body = {"documents": ["stuck-rp", "rp-ok"], "requestId": "rp"}
    # Second receive: attempt before the round = 0 + (2 - 1) = 1, so DelaySeconds = 1 * 2^1 = 2.
    r = probe["runtime"].invoke(sqs_event([received_message(body, message_id="rp-1", receive_count=2)], q.check_arn))
    assert r.ok and r.payload == {"batchItemFailures": []}, r
    counts = queue_counts(sqs, q.check_url)
    assert counts["ApproximateNumberOfMessagesDelayed"] == 1, counts

    def receive():
        return sqs.receive_message(QueueUrl=q.check_url, AttributeNames=["All"], MaxNumberOfMessages=1).get("Messages")

    msgs = wait_until(receive, 10, "the republished message")
    visible_after = now_ms() - int(msgs[0]["Attributes"]["SentTimestamp"])
    assert 1900 <= visible_after < 3500, f"DelaySeconds should be 2 s, visible after {visible_after} ms"
    sent = json.loads(msgs[0]["Body"])
    assert sent["attempt"] == 2 and sent["documents"] == ["stuck-rp"] and sent["succeeded"] == 1
    assert sent["requestId"] == "rp" and sent["status"] == "PENDING" and sent["failed"] == []


def test_fifo_sources_are_never_republished(probe):
    q, sqs = probe["queues"], probe["sqs"]
    probe["start"]()
    fifo_arn = "arn:aws:sqs:us-east-1:123456789012:probe-check.fifo"
    r = probe["runtime"].invoke(sqs_event([received_message({"documents": ["never-put"]}, message_id="f-1", group="g")], fifo_arn))
    assert r.ok, r
    assert r.payload == {"batchItemFailures": [{"itemIdentifier": "f-1"}]}
    assert queue_is_empty(sqs, q.check_url), "RETRY_QUEUE_URL must not be used for FIFO sources"


def test_failed_sends_become_batch_item_failures(probe, moto_server):
    q = probe["queues"]
    probe["kendra"].put_documents(["fail-send", "pending-send"])
    missing = f"{moto_server.endpoint}/123456789012/does-not-exist"
    # Both sends fail (no such queue): the failed message and the unfinished one must be
    # reported so SQS delivers them again; the finished one is acknowledged.
    probe["start"](FAILURE_QUEUE_URL=missing, RETRY_QUEUE_URL=missing)
    messages = [
        received_message({"documents": ["fail-send"]}, message_id="s-fail"),
        received_message({"documents": ["never-put-doc"]}, message_id="s-pending"),
        received_message({"documents": ["pending-send"]}, message_id="s-ok"),
    ]
    r = probe["runtime"].invoke(sqs_event(messages, q.check_arn))
    assert r.ok, r
    ids = sorted(f["itemIdentifier"] for f in r.payload["batchItemFailures"])
    assert ids == ["s-fail", "s-pending"]


def test_sqs_deadline_republishes_unchecked_messages(probe):
    q, sqs = probe["queues"], probe["sqs"]
    docs = [f"late-{i}" for i in range(12)]
    probe["kendra"].put_documents(docs)
    probe["kendra"].set_faults(latencyMs=2000)
    probe["start"](DEADLINE_MARGIN_MS="300", RETRY_DELAY_SECONDS="0")
    messages = [received_message({"documents": docs[i * 3:(i + 1) * 3], "requestId": f"late-{i}"}, message_id=f"late-{i}") for i in range(4)]
    r = probe["runtime"].invoke(sqs_event(messages, q.check_arn), timeout_ms=1500)
    assert r.ok, r
    assert r.finished_ms < r.deadline_ms, f"answered {r.finished_ms - r.deadline_ms} ms after the deadline"
    assert r.payload == {"batchItemFailures": []}, "unchecked messages are republished, not reported"
    republished = wait_until(lambda: drain_queue(sqs, q.check_url) or None, 10, "the republished messages")
    bodies = sorted((json.loads(m["Body"]) for m in republished), key=lambda b: b["requestId"])
    assert [b["requestId"] for b in bodies] == [f"late-{i}" for i in range(4)]
    for i, b in enumerate(bodies):
        assert b["documents"] == docs[i * 3:(i + 1) * 3]
        assert b["counts"] == {"UNCHECKED": 3} and b["attempt"] == 1
