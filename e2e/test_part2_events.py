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

from harness import INDEX_ID, SqsPoller, Stack, create_queues, drain_queue, queue_is_empty
from harness.moto_shared import PAYLOAD_BUCKET, SharedMoto, function_environment
from harness.template import resource_properties


def queue_with_arn(sqs, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def route(events, rule: str, pattern: dict, target_arn: str) -> None:
    events.put_rule(Name=rule, EventBusName="default", EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule=rule, EventBusName="default", Targets=[{"Id": rule, "Arn": target_arn}])


def test_one_event_per_finished_batch_indexed_or_failed(e2e):
    kendra = e2e.kendra(indexing_checks=1)  # PROCESSING once: every batch takes two rounds
    runtime = e2e.runtime(default_timeout_ms=20_000)
    with Stack() as stack:
        moto = stack.add(SharedMoto(runtime).open())
        sqs = moto.client("sqs")
        queues = create_queues(sqs, "ev", visibility_timeout=30)
        moto.client("s3").create_bucket(Bucket=PAYLOAD_BUCKET)
        all_url, all_arn = queue_with_arn(sqs, "ev-all-events")
        failed_url, failed_arn = queue_with_arn(sqs, "ev-failed-events")
        events = moto.client("events")
        route(events, "kendra-waiter-all", {"source": ["kendra-waiter"]}, all_arn)
        route(events, "documents-failed", resource_properties("DocumentsFailedRule")["EventPattern"], failed_arn)
        env = function_environment(moto, retry_queue_url=queues.check_url, EVENT_BUS_NAME="default")
        e2e.function(runtime, env, kendra=kendra)

        ok_docs, mixed_docs = ["ev-ok-1", "ev-ok-2"], ["ev-ok-3", "fail-ev-1"]
        kendra.put_documents(ok_docs + mixed_docs)
        sent = {}
        for name, docs in (("ok", ok_docs), ("mixed", mixed_docs)):
            body = {"indexId": INDEX_ID, "operation": "PUT", "documents": docs, "requestId": f"req-{name}"}
            sent[name] = sqs.send_message(QueueUrl=queues.check_url, MessageBody=json.dumps(body))["MessageId"]
        poller = SqsPoller(sqs, runtime, queues.check_url, queues.check_arn, batch_size=100, invoke_timeout_ms=20_000)
        poller.run_until_empty(timeout=60)

        delivered = [json.loads(m["Body"]) for m in drain_queue(sqs, all_url)]
        failed_only = [json.loads(m["Body"]) for m in drain_queue(sqs, failed_url)]
        assert queue_is_empty(sqs, queues.dlq_url)

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
