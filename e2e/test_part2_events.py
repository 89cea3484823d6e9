"""Completion events with the release binary (contract Part 2, "Completion events" and
"Duplicates are recognisable"; issue 11): with EVENT_BUS_NAME set, every batch that finishes
on the SQS path puts one EventBridge event, which rules on the same moto route to SQS queues
the test reads back: a rule on source kendra-waiter (every event) and the template's own
DocumentsFailedRule pattern (failed batches only). Run:
KENDRA_WAITER_BIN=/work/bins/bootstrap KENDRA_LOCAL_BIN=/work/bins/kendra-local \
  .venv/bin/python -m pytest e2e/test_part2_events.py -q -p no:cacheprovider
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from harness import INDEX_ID, Queues, SqsPoller, Stack, create_queues, drain_queue, queue_is_empty
from harness.moto_shared import PAYLOAD_BUCKET, SharedMoto, function_environment
from harness.template import resource_properties


def queue_with_arn(sqs, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def route(events, rule: str, pattern: dict, target_arn: str) -> None:
    events.put_rule(Name=rule, EventBusName="default", EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule=rule, EventBusName="default", Targets=[{"Id": rule, "Arn": target_arn}])


@dataclass
class Events:
    moto: SharedMoto
    kendra: object
    queues: Queues
    runtime: object
    all_url: str
    failed_url: str

    def send(self, docs: list, request_id: str) -> str:
        body = {"indexId": INDEX_ID, "operation": "PUT", "documents": docs, "requestId": request_id}
        return self.moto.client("sqs").send_message(QueueUrl=self.queues.check_url, MessageBody=json.dumps(body))["MessageId"]

    def drain(self) -> SqsPoller:
        """Lambda's event source mapping until the check queue is empty."""
        poller = SqsPoller(self.moto.client("sqs"), self.runtime, self.queues.check_url, self.queues.check_arn, batch_size=100, invoke_timeout_ms=20_000)
        poller.run_until_empty(timeout=60)
        assert queue_is_empty(self.moto.client("sqs"), self.queues.dlq_url)
        return poller

    def read(self, url: str) -> list[dict]:
        return [json.loads(m["Body"]) for m in drain_queue(self.moto.client("sqs"), url)]


@pytest.fixture
def events(e2e):
    """kendra-local (PROCESSING once: every batch takes two rounds), the shared moto with the
    template's queues, the payload bucket and two rules (every kendra-waiter event; the
    template's DocumentsFailedRule) to queues, and the function with EVENT_BUS_NAME default."""
    kendra = e2e.kendra(indexing_checks=1)
    runtime = e2e.runtime(default_timeout_ms=20_000)
    with Stack() as stack:
        moto = stack.add(SharedMoto(runtime).open())
        sqs = moto.client("sqs")
        queues = create_queues(sqs, "ev", visibility_timeout=30)
        moto.client("s3").create_bucket(Bucket=PAYLOAD_BUCKET)
        all_url, all_arn = queue_with_arn(sqs, "ev-all-events")
        failed_url, failed_arn = queue_with_arn(sqs, "ev-failed-events")
        bridge = moto.client("events")
        route(bridge, "kendra-waiter-all", {"source": ["kendra-waiter"]}, all_arn)
        route(bridge, "documents-failed", resource_properties("DocumentsFailedRule")["EventPattern"], failed_arn)
        env = function_environment(moto, retry_queue_url=queues.check_url, EVENT_BUS_NAME="default")
        e2e.function(runtime, env, kendra=kendra)
        yield Events(moto, kendra, queues, runtime, all_url, failed_url)


def test_one_event_per_finished_batch_indexed_or_failed(events):
    ok_docs, mixed_docs = ["ev-ok-1", "ev-ok-2"], ["ev-ok-3", "fail-ev-1"]
    events.kendra.put_documents(ok_docs + mixed_docs)
    sent = {"ok": events.send(ok_docs, "req-ok"), "mixed": events.send(mixed_docs, "req-mixed")}
    poller = events.drain()
    delivered = events.read(events.all_url)
    failed_only = events.read(events.failed_url)

    # The message each batch finished with: the republished one (attempt 1 in its body).
    last_message = {}
    for poll in poller.polls:
        assert poll.failures == []
        for m in poll.received:
            body = json.loads(m["Body"])
            if body.get("attempt") == 1:
                last_message[body["requestId"]] = m["MessageId"]
    assert set(last_message) == {"req-ok", "req-mixed"}

    assert sorted(e["detail-type"] for e in delivered) == ["Kendra Documents Failed", "Kendra Documents Indexed"]
    assert all(e["source"] == "kendra-waiter" for e in delivered)
    by_type = {e["detail-type"]: e["detail"] for e in delivered}

    indexed = by_type["Kendra Documents Indexed"]
    assert (indexed["status"], indexed["succeeded"], indexed["failed"], indexed["attempt"]) == ("SUCCEEDED", 2, [], 2)
    assert indexed["requestId"] == "req-ok" and indexed["indexId"] == INDEX_ID
    # batchId: the batch's first message, kept through the republish; sourceMessageId: the
    # message it finished with.
    assert indexed["batchId"] == sent["ok"]
    assert indexed["sourceMessageId"] == last_message["req-ok"] != sent["ok"]

    failed = by_type["Kendra Documents Failed"]
    assert (failed["status"], failed["succeeded"]) == ("FAILED", 1)
    assert [(f["documentId"], f["status"]) for f in failed["failed"]] == [("fail-ev-1", "FAILED")]
    assert failed["requestId"] == "req-mixed"
    assert failed["batchId"] == sent["mixed"]
    assert failed["sourceMessageId"] == last_message["req-mixed"] != sent["mixed"]

    for detail in (indexed, failed):
        assert "documents" not in detail and "documentsRef" not in detail
    # The template's example rule sees the failed batch only.
    assert [(e["detail-type"], e["detail"]) for e in failed_only] == [("Kendra Documents Failed", failed)]


def test_a_detail_too_large_for_eventbridge_carries_failed_ref(events):
    # 1,500 failures with long ids: the detail would be about 300 KB, over EventBridge's
    # 256 KiB; with a payload bucket the failures go to S3 and the detail names them.
    failing = [f"fail-ev-{i:05d}-" + "e" * 100 for i in range(1500)]
    events.kendra.put_documents(failing)
    batch_id = events.send(failing, "req-big")
    events.drain()
    [event] = events.read(events.all_url)
    assert event["detail-type"] == "Kendra Documents Failed"
    detail = event["detail"]
    assert len(json.dumps(detail).encode()) <= 262_144
    assert (detail["status"], detail["succeeded"], detail["batchId"]) == ("FAILED", 0, batch_id)
    assert "failed" not in detail and "documents" not in detail and detail["failedRef"]["count"] == 1500
    bucket, _, key = detail["failedRef"]["s3Uri"].removeprefix("s3://").partition("/")
    listed = json.loads(events.moto.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert sorted(f["documentId"] for f in listed) == sorted(failing)
    assert [e["detail"] for e in events.read(events.failed_url)] == [detail]
