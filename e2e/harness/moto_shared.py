"""One moto for the release binary and the state machines: moto in this process (mock_aws,
Step Functions' interpreter on, the template's ASL running as in ``LocalStepFunctions``) and
moto's ``ThreadedMotoServer`` on 127.0.0.1 in the same process, serving the same in-memory
backends over HTTP to the function (``AWS_ENDPOINT_URL_SQS``, ``_S3``, ``_SFN``,
``_EVENTBRIDGE``).

Why both: moto's *server* interpreter sends Lambda tasks to its own Lambda (Docker), so the
state machines must run in-process, where ``AWS_ENDPOINT_URL_LAMBDA`` takes their Lambda
tasks to a ``RuntimeApi``; and the function is a separate process that can only reach moto
over HTTP. The server thread answers from the same backend objects the interpreter uses:
a queue the state machine sends to is the queue the function republishes to, an S3 object
the function writes is the object the Distributed Map's ItemReader reads, and the task
token the function answers with SendTaskSuccess is the one the interpreter waits on
(``test_part2_shared_moto.py`` checks each of these).

The moto 5.2.5 fixes and the recorders (``moto_fixes``, ``TaskCalls``, ``EventSizes``) live in
harness.moto_patches; they are importable from here too.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from typing import Any
from unittest import mock

from .common import CAUSE_LIMIT, FUNCTION_ARN, REGION, STATES_PAYLOAD_LIMIT, HarnessError, endpoint_client
from .moto_patches import EventSizes, TaskCall, TaskCalls, largest_history_payload, moto_fixes
from .runtime_api import RuntimeApi
from .sqs import Poll, SqsPoller
from .state_machine import ROLE_ARN, Execution, LocalStepFunctions, state_machine_definition
from .template import WAIT_LOOP_URI, parameter_default, state_machine_properties

__all__ = [
    "CALLBACK_URI",
    "CAUSE_LIMIT",
    "FUNCTION_ENDPOINT_VARS",
    "INGEST_URI",
    "PAYLOAD_BUCKET",
    "STATES_PAYLOAD_LIMIT",
    "WAIT_LOOP_URI",
    "BackgroundPoller",
    "EventSizes",
    "SharedMoto",
    "TaskCall",
    "TaskCalls",
    "function_environment",
    "largest_history_payload",
    "moto_fixes",
]

CALLBACK_URI = "statemachine/wait-for-indexing-callback.asl.json"
INGEST_URI = "statemachine/wait-for-ingest.asl.json"
PAYLOAD_BUCKET = "kendra-waiter-payloads-e2e"

# The endpoint variables the function reads (AWS SDK for Rust's service ids).
FUNCTION_ENDPOINT_VARS = ("AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SFN", "AWS_ENDPOINT_URL_EVENTBRIDGE")


# --------------------------------------------------------------------------------------
# The shared moto
# --------------------------------------------------------------------------------------


class SharedMoto:
    """moto in this process (``LocalStepFunctions``: mock_aws with the interpreter on, the
    wait loop state machine, Lambda tasks to ``runtime``) plus a ``ThreadedMotoServer`` on
    127.0.0.1 serving the same backends to the function; ``function_env()`` is what the
    function needs to reach it. ``rounds_per_execution`` and ``wait_seconds`` go into the
    wait loop's definition; ``create_state_machine`` adds the template's other machines.
    ``serve=False``: no server, for when nothing outside this process needs moto.
    A context manager; ``close()`` stops the server, then moto."""

    def __init__(
        self, runtime: RuntimeApi, *, wait_seconds: int = 0, rounds_per_execution: int | None = None, serve: bool = True
    ) -> None:
        self.runtime = runtime
        self.wait_seconds = wait_seconds
        self.serve = serve
        substitutions = {"RoundsPerExecution": rounds_per_execution} if rounds_per_execution is not None else None
        self.sfn = LocalStepFunctions(runtime, wait_seconds=wait_seconds, substitutions=substitutions)
        self.tasks = TaskCalls()
        self.sizes = EventSizes()
        self._patches: list[Any] = []
        self._env: Any = None
        self._server: Any = None
        self._werkzeug_level: int | None = None
        self.endpoint = ""

    # -- lifecycle -----------------------------------------------------------------------
    def open(self) -> "SharedMoto":
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def _open(self) -> None:
        from moto.server import ThreadedMotoServer

        # The test process's own endpoint settings must not send the interpreter's SQS or S3
        # calls anywhere but moto (restored by the patch).
        self._env = mock.patch.dict(os.environ, {})
        self._env.start()
        for var in FUNCTION_ENDPOINT_VARS + ("AWS_ENDPOINT_URL_EVENTS",):
            os.environ.pop(var, None)
        self.sfn.open()
        for patcher in moto_fixes() + self.tasks.patchers() + [self.sizes.patcher()]:
            self._begin(patcher)
        if not self.serve:
            return
        werkzeug = logging.getLogger("werkzeug")
        self._werkzeug_level = werkzeug.level
        werkzeug.setLevel(logging.ERROR)  # no access log line per request on stderr
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        if host != "127.0.0.1":
            raise HarnessError(f"moto's server bound {host}, not 127.0.0.1")
        self.endpoint = f"http://127.0.0.1:{port}"

    def _begin(self, patch: Any) -> None:
        patch.start()
        self._patches.append(patch)

    def close(self) -> None:
        errors: list[BaseException] = []
        if self._server is not None:
            try:
                self._server.stop()
            except BaseException as e:
                errors.append(e)
            self._server = None
        while self._patches:
            self._patches.pop().stop()
        self.sfn.close()
        if self._env is not None:
            self._env.stop()
            self._env = None
        if self._werkzeug_level is not None:
            logging.getLogger("werkzeug").setLevel(self._werkzeug_level)
            self._werkzeug_level = None
        if errors:
            raise errors[0]

    def __enter__(self) -> "SharedMoto":
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- clients and the function's side -------------------------------------------------
    def function_env(self) -> dict[str, str]:
        """The function's endpoint variables, all pointing at the server (with
        AWS_ENDPOINT_URL_S3 set the function addresses S3 path-style)."""
        return {var: self.endpoint for var in FUNCTION_ENDPOINT_VARS}

    def client(self, service: str):
        """An in-process boto3 client (what the interpreter uses)."""
        import boto3

        return boto3.client(service, region_name=REGION)

    def server_client(self, service: str):
        """A boto3 client of the server, as the function sees moto (path-style S3)."""
        return endpoint_client(service, self.endpoint, s3={"addressing_style": "path"})

    # -- state machines --------------------------------------------------------------------
    @property
    def loop_arn(self) -> str:
        return self.sfn.arn

    def create_state_machine(self, definition_uri: str, name: str | None = None, **substitutions: Any) -> str:
        """One of the template's state machines (``definition_uri``), substituted as a
        deployment with default parameters would except for ``substitutions``."""
        wait = self.wait_seconds if definition_uri == WAIT_LOOP_URI else None
        definition = state_machine_definition(FUNCTION_ARN, wait, definition_uri=definition_uri, **substitutions)
        stem = definition_uri.rsplit("/", 1)[-1].removesuffix(".asl.json")
        return self.sfn.client.create_state_machine(
            name=name or f"{stem}-{uuid.uuid4().hex[:8]}",
            definition=definition,
            roleArn=ROLE_ARN,
            type=state_machine_properties(definition_uri).get("Type", "STANDARD"),
        )["stateMachineArn"]

    def start(self, machine_arn: str, execution_input: Any, name: str | None = None) -> str:
        """Always named: moto 5.2.5 names unnamed executions "None"."""
        return self.sfn.client.start_execution(
            stateMachineArn=machine_arn, name=name or uuid.uuid4().hex, input=json.dumps(execution_input)
        )["executionArn"]

    def wait(self, execution_arn: str, timeout: float = 90.0) -> Execution:
        return self.sfn.wait(execution_arn, timeout)

    def run(self, machine_arn: str, execution_input: Any, timeout: float = 90.0) -> Execution:
        return self.wait(self.start(machine_arn, execution_input), timeout)

    def executions(self, machine_arn: str) -> list[dict]:
        pages = self.sfn.client.get_paginator("list_executions").paginate(stateMachineArn=machine_arn)
        return [e for page in pages for e in page["executions"]]

    # -- S3 ----------------------------------------------------------------------------------
    def put_manifest(self, key: str, text: str, bucket: str = PAYLOAD_BUCKET) -> str:
        """Writes ``text`` to ``key`` (the payload bucket by default); returns its s3:// URI."""
        self.client("s3").put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))
        return f"s3://{bucket}/{key}"

    def read_json(self, uri: str) -> Any:
        """The JSON object at an s3:// URI (a failedRef, a documentsRef, ...)."""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return json.loads(self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def function_environment(
    moto: SharedMoto, *, retry_queue_url: str | None = None, bucket: str | None = PAYLOAD_BUCKET, **extra: str | None
) -> dict[str, str | None]:
    """The function's environment as template.yaml sets it, pointed at ``moto``: the payload
    bucket and prefix and MAX_RESULT_BYTES from the template's defaults, the check queue as
    RETRY_QUEUE_URL with RETRY_DELAY_SECONDS 0 (tests do not wait out backoff); ``extra``
    overrides by name (None removes a variable)."""
    env: dict[str, str | None] = dict(moto.function_env())
    env.update(
        PAYLOAD_PREFIX=str(parameter_default("PayloadPrefix")),
        MAX_RESULT_BYTES=str(parameter_default("MaxResultBytes")),
        RETRY_DELAY_SECONDS="0",
        RETRY_MAX_DELAY_SECONDS="0",
        AWS_LAMBDA_LOG_FORMAT="JSON",
    )
    if bucket:
        env["PAYLOAD_BUCKET"] = bucket
    if retry_queue_url:
        env["RETRY_QUEUE_URL"] = retry_queue_url
    env.update(extra)
    return env


# --------------------------------------------------------------------------------------
# The event source mapping, in the background
# --------------------------------------------------------------------------------------


class BackgroundPoller:
    """An ``SqsPoller`` (Lambda's event source mapping) run on a thread while a state machine
    waits: polls, invokes, deletes what the function did not report. ``close()`` stops it
    and re-raises the first error it met (a test must not pass with a broken poller)."""

    def __init__(self, poller: SqsPoller, idle_sleep: float = 0.05) -> None:
        self.poller = poller
        self.idle_sleep = idle_sleep
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sqs-poller")
        self._thread.start()

    @property
    def polls(self) -> list[Poll]:
        return self.poller.polls

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.poller.poll_once() is None:
                    self._stop.wait(self.idle_sleep)
            except BaseException as e:
                self.errors.append(e)
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=90)
        if self._thread.is_alive():
            raise HarnessError("the SQS poller did not stop within 90 s")
        if self.errors:
            raise self.errors[0]

    def __enter__(self) -> "BackgroundPoller":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
