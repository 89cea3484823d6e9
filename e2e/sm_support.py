"""Support for the e2e/test_sm_*.py tests: the template's three state machines
(statemachine/*.asl.json, substituted from template.yaml's DefinitionSubstitutions) run by
moto's Step Functions interpreter in this process, against a Python stand-in for the
function that implements the interface the Rust side is building (so the ASL logic is
tested before the Rust side lands):

- a round (direct invocation): the contract's batch in, the round result out; documents
  named ``fail-...`` end FAILED, ``stuck-...`` never finish (TIMED_OUT at maxAttempts),
  every other id succeeds in the round that brings ``attempt`` to ``finish_at``; the claim
  check (``failedRef`` / ``documentsRef`` in S3) and ``ResultTooLarge`` without a bucket;
- the ingest steps (``ingestStep``: plan, record, summarise) on S3;
- the SQS side of callback mode (``CallbackWorker``): receives the check queue's messages,
  heartbeats every round, republishes unfinished batches, and answers the task token with
  SendTaskSuccess / SendTaskFailure.

Lambda tasks reach the stand-in through AWS_ENDPOINT_URL_LAMBDA -> a small Lambda Invoke
API server on 127.0.0.1 (moto's interpreter calls Lambda with boto3; under mock_aws a
non-AWS endpoint is let through). Self-contained on purpose (standard library, boto3,
moto), except for the moto fixes below, which live in harness.moto_shared.

moto 5.2.5 gaps this module patches (``harness.moto_shared.moto_fixes``, shared with the
tests of the release binary), each the smallest change that restores AWS's behaviour;
nothing else of moto is touched:
1. the ``arn:aws:states:::states:startExecution[.sync[:2]]`` integration never converts the
   ASL's PascalCase parameters to the Step Functions API's camelCase (LocalStack, which moto
   ports, does; moto stubs the conversion out): every such task fails with
   ``States.Runtime`` KeyError('StateMachineArn'). The fix converts parameters and the
   DescribeExecution response (dates as epoch milliseconds, as AWS returns them);
2. ``SendTaskFailure`` drops its ``cause`` in moto's response handler;
3. Retry's ``JitterStrategy: FULL`` sleeps a random share of the interval: made 0 s.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from unittest import mock

import boto3
import yaml

from harness.moto_shared import EventSizes
from harness.moto_shared import moto_fixes as _install_moto_fixes

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "template.yaml"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:kendra-waiter"
INDEX_ID = "11111111-2222-3333-4444-555555555555"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/kendra-waiter-state-machine"
PAYLOAD_PREFIX = "kendra-waiter/"
STATES_PAYLOAD_LIMIT = 262_144  # bytes Step Functions moves between states
CAUSE_LIMIT = 32_768  # characters of an error cause


# --------------------------------------------------------------------------------------
# template.yaml and the definitions
# --------------------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """Reads template.yaml with its short-form intrinsic tags (!Ref, !Sub, ...)."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {f"!{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def template() -> dict:
    return yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_CfnLoader)


def state_machine_resource(asl_name: str) -> dict:
    """The AWS::Serverless::StateMachine whose DefinitionUri is statemachine/<asl_name>."""
    uri = f"statemachine/{asl_name}"
    found = [
        r["Properties"]
        for r in template()["Resources"].values()
        if r.get("Type") == "AWS::Serverless::StateMachine" and r["Properties"].get("DefinitionUri") == uri
    ]
    assert len(found) == 1, f"template.yaml: expected one state machine with DefinitionUri {uri}, found {len(found)}"
    return found[0]


def definition(asl_name: str, values: dict[str, Any]) -> str:
    """statemachine/<asl_name> with every placeholder filled from ``values``. The names must
    be exactly the template's DefinitionSubstitutions for that file, so a placeholder added
    to one side only fails here instead of deploying half-substituted."""
    text = (REPO / "statemachine" / asl_name).read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text))
    declared = set(state_machine_resource(asl_name).get("DefinitionSubstitutions", {}))
    assert used == declared, f"{asl_name}: placeholders {sorted(used)} != DefinitionSubstitutions {sorted(declared)}"
    assert used == set(values), f"{asl_name}: placeholders {sorted(used)}, the test fills {sorted(values)}"
    for name, value in values.items():
        text = text.replace("${" + name + "}", str(value))
    json.loads(text)
    return text


# --------------------------------------------------------------------------------------
# The function's interface, in Python
# --------------------------------------------------------------------------------------


class FunctionError(Exception):
    """The invocation fails with this errorType (X-Amz-Function-Error + the error payload)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


def doc_id(doc: Any) -> str:
    return doc if isinstance(doc, str) else doc["documentId"]


def parse_s3_uri(uri: str) -> tuple[str, str]:
    assert uri.startswith("s3://"), uri
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


@dataclass
class Behaviour:
    """How the stand-in answers. ``finish_at``: the round (attempt after it) in which
    ordinary documents succeed and ``fail-...`` ones fail. ``errors``: errorTypes the next
    invocations fail with, one each. ``max_result_bytes`` (MAX_RESULT_BYTES, the template's
    default): a larger result moves its failed list, then its documents, to S3 (failedRef,
    documentsRef); a FAILED result whose failed list would not fit an error cause always
    carries failedRef; without a bucket an oversized result is ResultTooLarge. ``refuse``:
    documents whose id starts with ``refused-`` make the round fail with this errorType
    (ValidationError, KendraRequestError)."""

    finish_at: int = 1
    default_max_attempts: int = 60
    errors: deque = field(default_factory=deque)
    max_result_bytes: int = 122_880
    bucket: str | None = None  # PAYLOAD_BUCKET; Stack fills in its bucket unless no_bucket
    no_bucket: bool = False
    prefix: str = PAYLOAD_PREFIX
    refuse: str = "KendraRequestError"

    def __post_init__(self) -> None:
        self.errors = deque(self.errors)


class Function:
    """The stand-in: ``handle(event)`` is one invocation; ``round(batch)`` one round."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.events: list[dict] = []
        self._lock = threading.Lock()
        self._s3 = boto3.client("s3", region_name=REGION)

    # -- S3 helpers -----------------------------------------------------------------
    def put_json(self, key: str, value: Any) -> str:
        assert self.behaviour.bucket, "no PAYLOAD_BUCKET"
        self._s3.put_object(Bucket=self.behaviour.bucket, Key=key, Body=json.dumps(value).encode())
        return f"s3://{self.behaviour.bucket}/{key}"

    def get_json(self, uri: str) -> Any:
        bucket, key = parse_s3_uri(uri)
        return json.loads(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def get_text(self, uri: str) -> str:
        bucket, key = parse_s3_uri(uri)
        return self._s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")

    # -- one invocation ---------------------------------------------------------------
    def handle(self, event: dict) -> dict:
        with self._lock:
            self.events.append(event)
            error = self.behaviour.errors.popleft() if self.behaviour.errors else None
        if error:
            raise FunctionError(error, f"injected {error}")
        step = event.get("ingestStep")
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
            elif i.startswith("fail-"):
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

    # -- ingest ---------------------------------------------------------------------
    def read_manifest(self, uri: str) -> list:
        text = self.get_text(uri)
        stripped = text.lstrip()
        if stripped.startswith("["):
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
            item.update(ingestId=ingest_id, batchNumber=n, **carried)
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


class InvokeApi:
    """Lambda's Invoke API (POST /2015-03-31/functions/{name}/invocations) on 127.0.0.1,
    answering with ``function.handle``; a FunctionError becomes X-Amz-Function-Error with
    {"errorType", "errorMessage"}, as Lambda answers an unhandled error."""

    def __init__(self, function: Function) -> None:
        api = self
        self.function = function

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
                try:
                    out = api.function.handle(json.loads(body or b"{}"))
                except FunctionError as e:
                    out = {"errorType": e.error_type, "errorMessage": e.message}
                    headers["X-Amz-Function-Error"] = "Unhandled"
                data = json.dumps(out).encode()
                self.send_response(200)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def failure_cause(function: Function, result: dict, first: int | None = None) -> str:
    """The cause the function sends with SendTaskFailure DocumentsFailed (at most 32,768
    characters): {status, succeeded, failedCount, counts, failed, failedRef?}. ``failed``
    holds every failure when they fit; otherwise the first ones, and failedRef names the
    whole list in S3 (written now if the result did not already carry one): a reader
    always has every failure, inline or by reference (without a bucket, only the first
    ones). ``first`` forces the short form."""
    failed = function.get_json(result["failedRef"]["s3Uri"]) if "failedRef" in result else result["failed"]
    cause = {"status": result["status"], "succeeded": result["succeeded"], "failedCount": len(failed),
             "counts": result.get("counts", {}), "failed": failed}
    if first is not None or "failedRef" in result or len(json.dumps(cause)) > CAUSE_LIMIT:
        keep = first if first is not None else 10
        cause["failed"] = failed[:keep]
        if "failedRef" in result:
            cause["failedRef"] = result["failedRef"]
        elif function.behaviour.bucket:
            key = f"{function.behaviour.prefix}results/{uuid.uuid4().hex}/failed.json"
            cause["failedRef"] = {"s3Uri": function.put_json(key, failed), "count": len(failed)}
        # else: no PAYLOAD_BUCKET, only the first failures can be told
    text = json.dumps(cause)
    assert len(text) <= CAUSE_LIMIT
    return text


class CallbackWorker:
    """The function's SQS side for callback mode: a thread that receives the check queue's
    messages and handles each batch like the Rust SQS adapter will: one round per receive,
    SendTaskHeartbeat every round, an unfinished batch republished with its result as body,
    a finished one answered with SendTaskSuccess (SUCCEEDED) or SendTaskFailure
    DocumentsFailed (FAILED); a refused batch (ValidationError / KendraRequestError) fails
    the task at once. ``silent=True`` takes messages and answers nothing (a lost batch)."""

    def __init__(self, function: Function, queue_url: str, silent: bool = False, first_failures: int | None = None) -> None:
        self.function = function
        self.queue_url = queue_url
        self.silent = silent
        self.first_failures = first_failures
        self.heartbeats: dict[str, int] = {}
        self.answers: list[tuple[str, str]] = []  # (token, "success" | error name)
        self.bodies: list[dict] = []  # every message body received, in order
        self.errors: list[BaseException] = []
        self._sqs = boto3.client("sqs", region_name=REGION)
        self._sfn = boto3.client("stepfunctions", region_name=REGION)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
                for m in messages:
                    self._handle(json.loads(m["Body"]))
                    self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
                if not messages:
                    self._stop.wait(0.05)
            except BaseException as e:  # surfaced by close(): a test must not pass with a broken worker
                self.errors.append(e)
                return

    def _handle(self, batch: dict) -> None:
        self.bodies.append(batch)
        if self.silent:
            return
        token = batch["taskToken"]
        try:
            result = self.function.round(batch)
        except FunctionError as e:
            self._sfn.send_task_failure(taskToken=token, error=e.error_type, cause=e.message)
            self.answers.append((token, e.error_type))
            return
        self._sfn.send_task_heartbeat(taskToken=token)
        self.heartbeats[token] = self.heartbeats.get(token, 0) + 1
        if result["status"] == "PENDING":
            self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(result))
        elif result["status"] == "SUCCEEDED":
            self._sfn.send_task_success(taskToken=token, output=json.dumps({k: v for k, v in result.items() if k != "taskToken"}))
            self.answers.append((token, "success"))
        else:
            self._sfn.send_task_failure(taskToken=token, error="DocumentsFailed", cause=failure_cause(self.function, result, self.first_failures))
            self.answers.append((token, "DocumentsFailed"))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.errors:
            raise self.errors[0]


# --------------------------------------------------------------------------------------
# moto, in this process
# --------------------------------------------------------------------------------------


# The three fixes (startExecution parameters, SendTaskFailure's cause, no jitter) and the
# history event sizes (EventSizes) are harness.moto_shared's, shared with the tests of the
# release binary on the same moto (imported above as _install_moto_fixes, EventSizes).


@dataclass
class Finished:
    arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    events: list[dict]

    @property
    def states(self) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.events if "stateEnteredEventDetails" in e]

    def cause_json(self) -> Any:
        return json.loads(self.cause) if self.cause else None

    def __repr__(self) -> str:
        end = f"error={self.error} cause={str(self.cause)[:300]}" if self.error else f"output={json.dumps(self.output)[:300]}"
        return f"Finished({self.status}, {end}, states ...{self.states[-6:]})"


class Stack:
    """moto (S3, SQS, Step Functions with the interpreter on) in this process, the payload
    bucket, the check queue, the stand-in function behind AWS_ENDPOINT_URL_LAMBDA and the
    template's state machines. A context manager; ``with Stack(...) as s``."""

    BUCKET = "kendra-waiter-payloads-test"

    def __init__(self, behaviour: Behaviour | None = None, *, rounds_per_execution: int = 1000, batch_size: int = 100,
                 max_concurrency: int = 4, default_wait_mode: str = "callback", heartbeat_seconds: int = 5,
                 callback_timeout_seconds: int = 60) -> None:
        self.behaviour = behaviour or Behaviour()
        self.settings = dict(rounds_per_execution=rounds_per_execution, batch_size=batch_size, max_concurrency=max_concurrency,
                             default_wait_mode=default_wait_mode, heartbeat_seconds=heartbeat_seconds,
                             callback_timeout_seconds=callback_timeout_seconds)
        self.sizes = EventSizes()
        self._patchers: list = []
        self.workers: list[CallbackWorker] = []

    def __enter__(self) -> "Stack":
        try:
            self._open()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _open(self) -> None:
        from moto import mock_aws

        env = {"AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
        self._start(mock.patch.dict(os.environ, env))
        for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STEPFUNCTIONS", "AWS_ENDPOINT_URL_SFN", "AWS_ENDPOINT_URL_S3",
                    "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE"):
            os.environ.pop(var, None)  # restored with the patch above
        self._start(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        for p in _install_moto_fixes() + [self.sizes.patcher()]:
            self._start(p)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.s3.create_bucket(Bucket=self.BUCKET)
        if not self.behaviour.no_bucket:
            self.behaviour.bucket = self.BUCKET
        self.queue_url = self.sqs.create_queue(QueueName="check")["QueueUrl"]
        self.function = Function(self.behaviour)
        self.api = InvokeApi(self.function)
        self._start(mock.patch.dict(os.environ, {"AWS_ENDPOINT_URL_LAMBDA": self.api.endpoint}))
        s = self.settings
        self.loop_arn = self._create("wait-for-indexing", {
            "KendraWaiterFunctionArn": FUNCTION_ARN, "WaitSeconds": 0, "RoundsPerExecution": s["rounds_per_execution"]})
        callback_values = {"CheckQueueUrl": self.queue_url, "CallbackHeartbeatSeconds": s["heartbeat_seconds"],
                           "CallbackTimeoutSeconds": s["callback_timeout_seconds"]}
        self.callback_arn = self._create("wait-for-indexing-callback", callback_values)
        self.ingest_arn = self._create("wait-for-ingest", {
            **callback_values, "KendraWaiterFunctionArn": FUNCTION_ARN, "WaitForIndexingStateMachineArn": self.loop_arn,
            "PayloadBucketName": self.BUCKET, "PayloadPrefix": PAYLOAD_PREFIX, "MaxConcurrency": s["max_concurrency"],
            "BatchSize": s["batch_size"], "DefaultWaitMode": s["default_wait_mode"]})

    def _start(self, patcher) -> None:
        patcher.start()
        self._patchers.append(patcher)

    def _create(self, name: str, values: dict) -> str:
        return self.sfn.create_state_machine(
            name=name, definition=definition(f"{name}.asl.json", values), roleArn=ROLE_ARN, type="STANDARD"
        )["stateMachineArn"]

    def __exit__(self, *exc: Any) -> None:
        errors = []
        for worker in self.workers:
            try:
                worker.close()
            except BaseException as e:
                errors.append(e)
        if getattr(self, "api", None):
            self.api.close()
        for p in reversed(self._patchers):
            p.stop()
        self._patchers.clear()
        if errors and exc[0] is None:
            raise errors[0]

    # -- helpers ----------------------------------------------------------------------
    def callback_worker(self, **kwargs: Any) -> CallbackWorker:
        worker = CallbackWorker(self.function, self.queue_url, **kwargs)
        self.workers.append(worker)
        return worker

    def start(self, machine_arn: str, execution_input: Any, name: str | None = None) -> str:
        # Always named: moto 5.2.5 names unnamed executions "None", so a second one would clash.
        return self.sfn.start_execution(stateMachineArn=machine_arn, name=name or uuid.uuid4().hex,
                                        input=json.dumps(execution_input))["executionArn"]

    def wait(self, execution_arn: str, timeout: float = 60.0) -> Finished:
        deadline = time.monotonic() + timeout
        while (d := self.sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, f"{execution_arn} still RUNNING after {timeout}s"
            time.sleep(0.05)
        events = []
        for page in self.sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            events += page["events"]
        output = json.loads(d["output"]) if d.get("output") else None
        return Finished(execution_arn, d["status"], output, d.get("error"), d.get("cause"), events)

    def run(self, machine_arn: str, execution_input: Any, timeout: float = 60.0) -> Finished:
        return self.wait(self.start(machine_arn, execution_input), timeout)

    def executions(self, machine_arn: str) -> list[dict]:
        return self.sfn.list_executions(stateMachineArn=machine_arn)["executions"]

    def put_manifest(self, key: str, text: str) -> str:
        self.s3.put_object(Bucket=self.BUCKET, Key=key, Body=text.encode("utf-8"))
        return f"s3://{self.BUCKET}/{key}"

    def read_json(self, uri: str) -> Any:
        return self.function.get_json(uri)


def round_payloads(function: Function) -> list[dict]:
    """The batches the stand-in was invoked with for rounds (ingest steps left out)."""
    return [e for e in function.events if "ingestStep" not in e]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.05)
    return value
