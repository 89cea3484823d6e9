"""The function's interface, in Python: what kendra-waiter answers, for state machine tests
that are about the state machines (their loops, Choices, Retries, Catches, the Distributed
Map), not about the function. ``harness.fake_function`` serves it: ``FakeFunction`` behind a
``RuntimeApi`` (the Lambda side), ``CallbackWorker`` on the check queue (the SQS side).

- a round (``StandIn.round``): the contract's batch in, the round result out; documents named
  ``fail-...`` (or listed in ``Behaviour.fail_ids``) end FAILED, ``stuck-...`` never finish
  (TIMED_OUT at maxAttempts), every other id succeeds in the round that brings ``attempt``
  to ``finish_at``; the claim check (``failedRef`` / ``documentsRef`` in S3) and
  ``ResultTooLarge`` without a bucket;
- the ingest steps (``ingestStep``: plan, record, summarise) on S3;
- the cause of SendTaskFailure DocumentsFailed (``StandIn.failure_cause``).

S3 is reached with in-process boto3 clients: the stand-in runs where moto's mock_aws does.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .common import CAUSE_LIMIT, REGION
from .events import doc_id
from .template import parameter_default


class FunctionError(Exception):
    """The invocation fails with this errorType (the Runtime API's error answer, which Lambda
    turns into X-Amz-Function-Error + {"errorType", "errorMessage"})."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


@dataclass
class Behaviour:
    """How the stand-in answers. ``finish_at``: the round (attempt after it) in which
    ordinary documents succeed and ``fail-...`` ones (and ``fail_ids``) fail. ``errors``:
    errorTypes the next invocations fail with, one each. ``max_result_bytes``
    (MAX_RESULT_BYTES, the template's default): a larger result moves its failed list, then
    its documents, to S3 (failedRef, documentsRef); a FAILED result whose failed list would
    not fit an error cause always carries failedRef; without a bucket an oversized result is
    ResultTooLarge. ``refuse``: documents whose id starts with ``refused-`` make the round
    fail with this errorType (ValidationError, KendraRequestError)."""

    finish_at: int = 1
    fail_ids: set = field(default_factory=set)
    default_max_attempts: int = field(default_factory=lambda: int(parameter_default("MaxAttempts")))
    errors: deque = field(default_factory=deque)
    max_result_bytes: int = field(default_factory=lambda: int(parameter_default("MaxResultBytes")))
    bucket: str | None = None  # PAYLOAD_BUCKET; StandInMoto fills in its bucket unless no_bucket
    no_bucket: bool = False
    prefix: str = field(default_factory=lambda: str(parameter_default("PayloadPrefix")))
    refuse: str = "KendraRequestError"

    def __post_init__(self) -> None:
        self.errors = deque(self.errors)
        self.fail_ids = set(self.fail_ids)


class StandIn:
    """``handle(event)`` is one invocation (every event is kept in ``payloads``), ``round(batch)``
    one round; a FunctionError is the invocation's error."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self.payloads: list[dict] = []
        self._lock = threading.Lock()
        self._s3_client: Any = None

    # -- S3 helpers -----------------------------------------------------------------
    @property
    def _s3(self) -> Any:
        if self._s3_client is None:
            import boto3

            self._s3_client = boto3.client("s3", region_name=REGION)
        return self._s3_client

    def put_json(self, key: str, value: Any) -> str:
        assert self.behaviour.bucket, "no PAYLOAD_BUCKET"
        self._s3.put_object(Bucket=self.behaviour.bucket, Key=key, Body=json.dumps(value).encode())
        return f"s3://{self.behaviour.bucket}/{key}"

    def get_text(self, uri: str) -> str:
        assert uri.startswith("s3://"), uri
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return self._s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")

    def get_json(self, uri: str) -> Any:
        return json.loads(self.get_text(uri))

    # -- one invocation ---------------------------------------------------------------
    def handle(self, event: dict) -> dict:
        with self._lock:
            self.payloads.append(event)
            error = self.behaviour.errors.popleft() if self.behaviour.errors else None
        if error:
            raise FunctionError(error, f"injected {error}")
        step = event.get("ingestStep") if isinstance(event, dict) else None
        if step == "plan":
            return self.plan(event)
        if step == "record":
            return self.record(event)
        if step == "summarise":
            return self.summarise(event)
        return self.round(event)

    def round(self, batch: dict) -> dict:
        """The contract's round: documents out of ``documents``/``documentsRef`` into
        ``succeeded``, ``failed``/``failedRef`` or back into ``documents``."""
        b = self.behaviour
        docs = self.get_json(batch["documentsRef"]["s3Uri"]) if "documentsRef" in batch else batch.get("documents")
        if not isinstance(docs, list) or not docs:
            raise FunctionError("ValidationError", "documents: must be a non-empty list")
        if any(doc_id(d).startswith("refused-") for d in docs):
            raise FunctionError(b.refuse, f"{b.refuse}: the index refused the call")
        failed = self.get_json(batch["failedRef"]["s3Uri"]) if "failedRef" in batch else list(batch.get("failed") or [])
        attempt = int(batch.get("attempt") or 0) + 1
        max_attempts = int(batch.get("maxAttempts") or b.default_max_attempts)
        succeeded = int(batch.get("succeeded") or 0)
        pending, counts = [], {}
        for d in docs:
            i = doc_id(d)
            if i.startswith("stuck-") or attempt < b.finish_at:
                pending.append(d)
                counts["PROCESSING"] = counts.get("PROCESSING", 0) + 1
            elif i.startswith("fail-") or i in b.fail_ids:
                failed.append({"documentId": i, "status": "FAILED", "code": "500", "reason": "scripted failure"})
                counts["FAILED"] = counts.get("FAILED", 0) + 1
            else:
                succeeded += 1
                counts["INDEXED"] = counts.get("INDEXED", 0) + 1
        if attempt >= max_attempts:
            for d in pending:
                failed.append({"documentId": doc_id(d), "status": "TIMED_OUT", "reason": f"PROCESSING after {attempt} attempts"})
            pending = []
        result = {k: v for k, v in batch.items() if k not in ("documentsRef", "failedRef", "failed", "documents")}
        result.update(
            attempt=attempt,
            maxAttempts=max_attempts,
            documents=pending,
            succeeded=succeeded,
            counts=counts,
            status="PENDING" if pending else ("FAILED" if failed else "SUCCEEDED"),
        )
        result["failed"] = failed
        return self._claim_check(result)

    def _claim_check(self, result: dict) -> dict:
        """The contract's claim check: a FAILED result whose failed list would not fit an
        error cause gets failedRef; a result over MAX_RESULT_BYTES moves failed, then
        documents, to S3; what still does not fit (or cannot move: no bucket) is
        ResultTooLarge."""
        b = self.behaviour

        def size() -> int:
            return len(json.dumps(result).encode("utf-8"))

        def move(name: str, ref: str) -> None:
            values = result.pop(name)
            key = f"{b.prefix}results/{uuid.uuid4().hex}/{name}.json"
            result[ref] = {"s3Uri": self.put_json(key, values), "count": len(values)}

        if b.bucket and result["status"] == "FAILED" and len(json.dumps(result["failed"])) > CAUSE_LIMIT - 1024:
            move("failed", "failedRef")
        for name, ref in (("failed", "failedRef"), ("documents", "documentsRef")):
            if b.bucket and name in result and size() > b.max_result_bytes:
                move(name, ref)
        if size() > b.max_result_bytes:
            raise FunctionError("ResultTooLarge", f"the result exceeds MAX_RESULT_BYTES ({b.max_result_bytes}); set PAYLOAD_BUCKET")
        return result

    def failure_cause(self, result: dict, first: int | None = None) -> str:
        """The cause the function sends with SendTaskFailure DocumentsFailed (at most 32,768
        characters): {status, succeeded, failedCount, counts, failed, failedRef?}. ``failed``
        holds every failure when they fit; otherwise the first ones, and failedRef names the
        whole list in S3 (written now if the result did not already carry one): a reader
        always has every failure, inline or by reference (without a bucket, only the first
        ones). ``first`` forces the short form."""
        failed = self.get_json(result["failedRef"]["s3Uri"]) if "failedRef" in result else result["failed"]
        cause = {"status": result["status"], "succeeded": result["succeeded"], "failedCount": len(failed),
                 "counts": result.get("counts", {}), "failed": failed}
        if first is not None or "failedRef" in result or len(json.dumps(cause)) > CAUSE_LIMIT:
            cause["failed"] = failed[:first if first is not None else 10]
            if "failedRef" in result:
                cause["failedRef"] = result["failedRef"]
            elif self.behaviour.bucket:
                key = f"{self.behaviour.prefix}results/{uuid.uuid4().hex}/failed.json"
                cause["failedRef"] = {"s3Uri": self.put_json(key, failed), "count": len(failed)}
            # else: no PAYLOAD_BUCKET, only the first failures can be told
        text = json.dumps(cause)
        assert len(text) <= CAUSE_LIMIT
        return text

    # -- ingest ---------------------------------------------------------------------
    def read_manifest(self, uri: str) -> list:
        text = self.get_text(uri)
        if text.lstrip().startswith("["):
            return json.loads(text)
        if uri.endswith(".csv"):
            return [row["documentId"] for row in csv.DictReader(io.StringIO(text))]
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def plan(self, event: dict) -> dict:
        request, ingest_id, size = event["request"], event["ingestId"], int(event["batchSize"])
        docs = self.read_manifest(request["manifest"])
        if not docs:
            raise FunctionError("ValidationError", f"manifest: {request['manifest']} lists no documents")
        carried = {k: v for k, v in request.items() if k not in ("manifest", "indexId", "operation", "maxAttempts")}
        base = f"{self.behaviour.prefix}ingest/{ingest_id}/"
        items = []
        for n, start in enumerate(range(0, len(docs), size), start=1):
            chunk = docs[start:start + size]
            item = {"indexId": request.get("indexId"), "operation": request.get("operation", "PUT")}
            item["documentsRef"] = {"s3Uri": self.put_json(f"{base}batches/{n}.json", chunk), "count": len(chunk)}
            item.update(kendraWaiterIngest=ingest_id, batchNumber=n, **carried)
            if "maxAttempts" in request:
                item["maxAttempts"] = request["maxAttempts"]
            items.append(item)
        self.put_json(f"{base}items.json", items)
        return {"ingestId": ingest_id, "total": len(docs), "batchCount": len(items),
                "itemsBucket": self.behaviour.bucket, "itemsKey": f"{base}items.json"}

    def record(self, event: dict) -> dict:
        result = event["result"]
        failed = self.get_json(result["failedRef"]["s3Uri"]) if "failedRef" in result else result.get("failed", [])
        if "failedRef" not in result and len(failed) < int(result.get("failedCount", len(failed))):
            raise FunctionError("ValidationError", "result: the failures are neither complete inline nor in failedRef")
        key = f"{self.behaviour.prefix}ingest/{event['ingestId']}/results/{int(event['batchNumber'])}.json"
        self.put_json(key, {"succeeded": int(result.get("succeeded", 0)), "failed": failed})
        return {"recorded": int(event["batchNumber"])}

    def summarise(self, event: dict) -> dict:
        base = f"{self.behaviour.prefix}ingest/{event['ingestId']}/"
        succeeded, failed = 0, []
        for n in range(1, int(event["batchCount"]) + 1):
            try:
                recorded = self.get_json(f"s3://{self.behaviour.bucket}/{base}results/{n}.json")
            except self._s3.exceptions.NoSuchKey:
                continue  # a batch that was never recorded: the ASL's total check sees it
            succeeded += recorded["succeeded"]
            failed += recorded["failed"]
        ref = {"s3Uri": self.put_json(f"{base}failed.json", failed), "count": len(failed)}
        return {"status": "FAILED" if failed else "SUCCEEDED", "total": int(event["total"]),
                "succeeded": succeeded, "failedCount": len(failed), "failedRef": ref}
