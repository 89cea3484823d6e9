"""SQS as the function meets it: the template's queues on a moto server, the Lambda SQS event
(one record builder for every hand-built or polled event), and a poller that plays Lambda's
event source mapping with ReportBatchItemFailures.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .common import ACCOUNT_ID, REGION, now_ms
from .runtime_api import Result, RuntimeApi
from .template import queue_retention, template_queue_settings

# For events that need no real queue (the function only reads the ARN's .fifo suffix).
CHECK_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:kendra-waiter-check"

# The message attributes Lambda copies into a record's "attributes", in ReceiveMessage's names.
RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)

_sequence = itertools.count(1)


@dataclass
class Queues:
    check_url: str
    check_arn: str
    dlq_url: str
    dlq_arn: str
    failure_url: str
    failure_arn: str


def create_queues(sqs, prefix: str, visibility_timeout: int = 2, max_receive_count: int | None = None) -> Queues:
    """The template's three queues: check queue (redrive to the DLQ after the template's
    maxReceiveCount), DLQ, failure queue. Tests shorten the visibility timeout so
    redeliveries happen in seconds."""
    settings = template_queue_settings()
    mrc = max_receive_count if max_receive_count is not None else settings["maxReceiveCount"]

    def arn(url: str) -> str:
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def create(name: str, resource: str, **attributes: str) -> str:
        attributes["MessageRetentionPeriod"] = str(queue_retention(resource))
        return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]

    dlq_url = create(f"{prefix}-dlq", "CheckDeadLetterQueue")
    failure_url = create(f"{prefix}-failures", "FailureQueue")
    dlq_arn = arn(dlq_url)
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": mrc})
    check_url = create(f"{prefix}-check", "CheckQueue", VisibilityTimeout=str(visibility_timeout), RedrivePolicy=redrive)
    return Queues(check_url, arn(check_url), dlq_url, dlq_arn, failure_url, arn(failure_url))


def queue_counts(sqs, url: str) -> dict[str, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return {n: int(attrs.get(n, 0)) for n in names}


def queue_is_empty(sqs, url: str) -> bool:
    """Nothing visible, in flight or delayed: the queue's work is done."""
    return sum(queue_counts(sqs, url).values()) == 0


def drain_queue(sqs, url: str) -> list[dict]:
    """Receives (and deletes) every visible message of a queue."""
    out: list[dict] = []
    while True:
        msgs = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def received_message(
    body: Any, *, message_id: str | None = None, receive_count: int = 1, group: str | None = None
) -> dict:
    """A message as ReceiveMessage returns it, for events built by hand: ``body`` is text or
    JSON-serialisable; ``group`` makes it a FIFO message (group, deduplication id, sequence)."""
    text = body if isinstance(body, str) else json.dumps(body)
    sent = str(now_ms())
    attributes = {
        "ApproximateReceiveCount": str(receive_count),
        "SentTimestamp": sent,
        "SenderId": "AIDAE2EHARNESS",
        "ApproximateFirstReceiveTimestamp": sent,
    }
    message_id = message_id or str(uuid.uuid4())
    if group is not None:
        attributes.update(MessageGroupId=group, MessageDeduplicationId=message_id, SequenceNumber=f"{next(_sequence):020d}")
    return {"MessageId": message_id, "ReceiptHandle": uuid.uuid4().hex, "Body": text, "Attributes": attributes}


def sqs_record(message: dict, queue_arn: str) -> dict:
    """One record of a Lambda SQS event, built from a ReceiveMessage message exactly as the
    event source mapping does."""
    attrs = message.get("Attributes", {})
    message_attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        mav: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value.get("DataType")}
        if "StringValue" in value:
            mav["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            mav["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        message_attributes[name] = mav
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {k: attrs[k] for k in RECORD_ATTRIBUTES if k in attrs},
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def sqs_event(messages: Iterable[dict], queue_arn: str = CHECK_QUEUE_ARN) -> dict:
    """The Lambda event for ReceiveMessage messages from one queue."""
    return {"Records": [sqs_record(m, queue_arn) for m in messages]}


@dataclass
class Poll:
    """What one poll of the event source mapping did."""

    number: int
    received: list[dict]
    result: Result | None
    failures: list[str] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    received_ms: int = 0
    delete_failures: list[dict] = field(default_factory=list)


class SqsPoller:
    """Lambda's SQS event source mapping with ReportBatchItemFailures, one poll at a time:
    receive up to ``batch_size`` messages (in ReceiveMessage calls of 10), invoke the function
    with the SQS event, delete the messages not reported in batchItemFailures (the rest
    become visible again after the visibility timeout). A failed invocation deletes nothing."""

    def __init__(
        self, sqs, runtime: RuntimeApi, queue_url: str, queue_arn: str, batch_size: int = 10, invoke_timeout_ms: int = 60_000
    ) -> None:
        """``invoke_timeout_ms``: the function's timeout; keep it below the queue's visibility
        timeout, as AWS requires, or messages reappear while they are being handled."""
        self.invoke_timeout_ms = invoke_timeout_ms
        self.sqs = sqs
        self.runtime = runtime
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.batch_size = batch_size
        self.polls: list[Poll] = []

    def receive(self) -> list[dict]:
        """Up to ``batch_size`` messages. A message whose visibility timeout ran out while the
        batch was being collected (tests use timeouts of a second or two, and a loaded
        machine is slow) can come back in a later ReceiveMessage of the same batch: keep one
        copy, the latest, like a batch of SQS messages would hold it once."""
        messages: dict[str, dict] = {}
        while len(messages) < self.batch_size:
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            for m in got:
                messages.pop(m["MessageId"], None)
                messages[m["MessageId"]] = m
            if len(got) < 10:
                break
        return list(messages.values())

    def poll_once(self, timeout_ms: int | None = None) -> Poll | None:
        """One receive-invoke-delete cycle; None when nothing was visible."""
        timeout_ms = self.invoke_timeout_ms if timeout_ms is None else timeout_ms
        messages = self.receive()
        if not messages:
            return None
        received_ms = now_ms()
        result = self.runtime.invoke(sqs_event(messages, self.queue_arn), timeout_ms=timeout_ms)
        poll = Poll(number=len(self.polls) + 1, received=messages, result=result, received_ms=received_ms)
        if result.ok:
            self._acknowledge(poll, messages, result)
        self.polls.append(poll)
        return poll

    def _acknowledge(self, poll: Poll, messages: list[dict], result: Result) -> None:
        """Deletes every message the function did not report, as Lambda does."""
        failures = [f.get("itemIdentifier") for f in (result.payload or {}).get("batchItemFailures", [])]
        poll.failures = failures
        failed = set(failures)
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages) if m["MessageId"] not in failed
        ]
        for i in range(0, len(entries), 10):
            answer = self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries[i:i + 10])
            poll.delete_failures += answer.get("Failed", [])
        poll.acknowledged = [m["MessageId"] for m in messages if m["MessageId"] not in failed]

    def run_until_empty(self, timeout: float, on_poll: Callable[[Poll], None] | None = None, idle_sleep: float = 0.1) -> None:
        """Polls until the queue holds no message at all (visible, in flight or delayed), or
        raises TimeoutError after ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while True:
            poll = self.poll_once()
            if poll is not None:
                if on_poll:
                    on_poll(poll)
                continue
            if queue_is_empty(self.sqs, self.queue_url):
                return
            if time.monotonic() >= end:
                raise TimeoutError(f"queue not empty after {timeout}s: {queue_counts(self.sqs, self.queue_url)}")
            time.sleep(idle_sleep)
