"""The Python stand-in for kendra-waiter (``harness.stand_in``), served the ways the release
binary is reached, for state machine tests that are about the state machines, not about the
function:

- ``FakeFunction``: a runtime like the release binary. It takes invocations from a
  ``RuntimeApi`` with ``GET .../invocation/next`` and answers them, so a state machine
  reaches it by exactly the same path (Invoke API -> RuntimeApi) as it reaches the real
  function, and nothing inside moto has to be patched;
- ``CallbackWorker``: the function's SQS side in callback mode, on the check queue;
- ``StandInMoto``: the template's three state machines on the shared moto
  (``harness.moto_shared.SharedMoto``) with a ``FakeFunction`` behind their Lambda tasks,
  the payload bucket and the check queue.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from typing import Any

from .common import REGION
from .moto_shared import CALLBACK_URI, INGEST_URI, PAYLOAD_BUCKET, SharedMoto
from .runtime_api import NEXT_PATH, RuntimeApi
from .stand_in import Behaviour, FunctionError, StandIn


class FakeFunction(StandIn):
    """The stand-in (``behaviour``: how it answers; every event in ``payloads``) as a runtime
    behind ``runtime``: GET next, ``handle``, POST the response or, for a FunctionError, the
    error. Override ``round`` for other answers."""

    def __init__(self, runtime: RuntimeApi, behaviour: Behaviour | None = None) -> None:
        super().__init__(behaviour)
        self.runtime = runtime
        self._stopping = threading.Event()
        self._conn_lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _answer(self, event: Any) -> tuple[str, Any]:
        """("response", result) or ("error", {errorType, errorMessage}). A bug in an override
        becomes a function error the test sees at once, not an invocation never answered."""
        try:
            return "response", self.handle(event)
        except FunctionError as e:
            return "error", {"errorType": e.error_type, "errorMessage": e.message}
        except Exception as e:
            return "error", {"errorType": f"FakeFunction.{type(e).__name__}", "errorMessage": str(e)}

    def _serve(self) -> None:
        """GET next, answer, repeat, until closed or the Runtime API shuts down."""
        while True:
            with self._conn_lock:  # close() sees every connection it has to wake
                if self._stopping.is_set():
                    return
                self._conn = http.client.HTTPConnection("127.0.0.1", self.runtime.port)
                try:
                    self._conn.connect()
                except OSError:
                    return  # the Runtime API is gone
            try:
                self._conn.request("GET", NEXT_PATH)
                resp = self._conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    return  # the Runtime API is shutting down
                request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id")
                kind, payload = self._answer(json.loads(body))
                self._post(f"/2018-06-01/runtime/invocation/{request_id}/{kind}", payload)
            except (OSError, http.client.HTTPException):
                return  # closed under us
            finally:
                self._conn.close()

    def _post(self, path: str, payload: Any) -> None:
        assert self._conn is not None
        self._conn.request("POST", path, body=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
        self._conn.getresponse().read()

    def close(self) -> None:
        """Stops taking invocations: shutting the socket down wakes the GET that is waiting,
        and the Runtime API sees the runtime gone and keeps its invocations for others."""
        with self._conn_lock:
            self._stopping.set()
            conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)

    def __enter__(self) -> "FakeFunction":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class CallbackWorker:
    """The function's SQS side for callback mode: a thread that receives the check queue's
    messages and handles each batch like the Rust SQS adapter: one round per receive,
    SendTaskHeartbeat every round, an unfinished batch republished with its result as body,
    a finished one answered with SendTaskSuccess (SUCCEEDED) or SendTaskFailure
    DocumentsFailed (FAILED, ``function.failure_cause``); a refused batch (ValidationError /
    KendraRequestError) fails the task at once. ``silent=True`` takes messages and answers
    nothing (a lost batch)."""

    def __init__(self, function: StandIn, queue_url: str, silent: bool = False, first_failures: int | None = None) -> None:
        import boto3

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
            cause = self.function.failure_cause(result, self.first_failures)
            self._sfn.send_task_failure(taskToken=token, error="DocumentsFailed", cause=cause)
            self.answers.append((token, "DocumentsFailed"))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.errors:
            raise self.errors[0]


class StandInMoto(SharedMoto):
    """``SharedMoto`` (in-process only: ``serve=False``) with its own ``RuntimeApi`` and a
    ``FakeFunction`` behind it (``function``, answering as ``behaviour`` says), the payload
    bucket (PAYLOAD_BUCKET, the function's unless ``behaviour.no_bucket``), the check queue
    (``queue_url``) and the template's three state machines: the wait loop (``loop_arn``:
    WaitSeconds 0, ``rounds_per_execution``), callback (``callback_arn``) and ingest
    (``ingest_arn``), with the settings given and the template's defaults for the rest.
    ``callback_worker()`` starts the function's SQS side. A context manager."""

    def __init__(self, behaviour: Behaviour | None = None, *, rounds_per_execution: int = 1000, batch_size: int = 100,
                 max_concurrency: int = 4, default_wait_mode: str = "callback", heartbeat_seconds: int = 5,
                 callback_timeout_seconds: int = 60) -> None:
        super().__init__(RuntimeApi(), rounds_per_execution=rounds_per_execution, serve=False)
        self.behaviour = behaviour or Behaviour()
        self.callback_settings = {"CallbackHeartbeatSeconds": heartbeat_seconds, "CallbackTimeoutSeconds": callback_timeout_seconds}
        self.ingest_settings = {"BatchSize": batch_size, "MaxConcurrency": max_concurrency, "DefaultWaitMode": default_wait_mode}
        self.function: FakeFunction | None = None
        self.workers: list[CallbackWorker] = []

    def _open(self) -> None:
        super()._open()
        self.client("s3").create_bucket(Bucket=PAYLOAD_BUCKET)
        if not self.behaviour.no_bucket:
            self.behaviour.bucket = PAYLOAD_BUCKET
        self.queue_url = self.client("sqs").create_queue(QueueName="check")["QueueUrl"]
        self.function = FakeFunction(self.runtime, self.behaviour)
        callback = {"CheckQueueUrl": self.queue_url, **self.callback_settings}
        self.callback_arn = self.create_state_machine(CALLBACK_URI, **callback)
        self.ingest_arn = self.create_state_machine(
            INGEST_URI, WaitForIndexingStateMachineArn=self.loop_arn, PayloadBucketName=PAYLOAD_BUCKET,
            **callback, **self.ingest_settings)

    def callback_worker(self, **kwargs: Any) -> CallbackWorker:
        """A CallbackWorker for the stand-in on the check queue, closed with the rest."""
        worker = CallbackWorker(self.function, self.queue_url, **kwargs)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        """Workers (re-raising the first error one met), then the function, moto and the
        Runtime API."""
        errors: list[BaseException] = []
        for worker in self.workers:
            try:
                worker.close()
            except BaseException as e:
                errors.append(e)
        self.workers.clear()
        if self.function is not None:
            self.function.close()
        try:
            super().close()
        finally:
            self.runtime.close()
        if errors:
            raise errors[0]
