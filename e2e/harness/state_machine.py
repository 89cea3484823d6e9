"""The template's state machine (statemachine/wait-for-indexing.asl.json, substituted as
template.yaml does) run by moto's Step Functions interpreter, in this process.

There is no Python copy of the wait loop: whatever the ASL says (the Choice on $.status, the
Wait, the Retry on KendraUnavailable, the Catch paths) is what runs. Its Lambda tasks reach
the function through ``AWS_ENDPOINT_URL_LAMBDA`` -> a ``RuntimeApi``'s Invoke API, behind
which runs the release ``bootstrap`` or a ``FakeFunction``. moto's interpreter calls Lambda
with boto3 (moto/stepfunctions/parser/asl/utils/boto_client.py); the URL is not an
amazonaws.com one, so mock_aws lets the call through and the function need not exist in
moto's Lambda backend. A function error (X-Amz-Function-Error + {"errorType",
"errorMessage"}) becomes the state's error name errorType, as in AWS.

moto's *server* cannot do this: there its interpreter sends Lambda calls to the server
itself, whatever the endpoint settings, and the server would need Docker to run a function.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable
from unittest import mock

from .common import ACCOUNT_ID, FUNCTION_ARN, REGION, REPO, HarnessError
from .moto_patches import no_jitter
from .runtime_api import RuntimeApi
from .template import WAIT_LOOP_URI, definition_substitutions, state_machine_properties

ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/kendra-waiter-state-machine"
# ASL's range for a Wait state's Seconds (template.yaml's WaitSeconds parameter starts at 1;
# tests may wait 0 s between rounds, which the ASL accepts).
WAIT_SECONDS_RANGE = range(0, 100_000_000)


def state_machine_definition(
    function_arn: str = FUNCTION_ARN, wait_seconds: int | None = 1, *, definition_uri: str = WAIT_LOOP_URI, **substitutions: Any
) -> str:
    """A state machine definition of template.yaml (the wait loop by default) with its
    DefinitionSubstitutions filled in as a deployment with default parameters would, except
    for the function's ARN, ``wait_seconds`` (for a definition that has WaitSeconds) and any
    other ``substitutions`` by name. A placeholder the template does not substitute is an
    error, as it would break the deployment."""
    if wait_seconds is not None:
        if int(wait_seconds) != wait_seconds or wait_seconds not in WAIT_SECONDS_RANGE:
            raise HarnessError(f"WaitSeconds must be an integer from 0 to 99999999, got {wait_seconds!r}")
        substitutions["WaitSeconds"] = int(wait_seconds)
    values = definition_substitutions(function_arn, substitutions, definition_uri)
    path = REPO / definition_uri
    text = path.read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    left = sorted(set(re.findall(r"\$\{(\w+)\}", text)))
    if left:
        raise HarnessError(f"{path.name}: placeholders {left} are not in template.yaml's DefinitionSubstitutions")
    json.loads(text)  # valid JSON once substituted
    return text


@dataclass
class Round:
    """One invocation of the function by the CheckStatus task: its result, or its error."""

    number: int
    payload: Any = None
    error: str | None = None
    cause: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Execution:
    """A finished execution: describe_execution's status, output, error and cause, plus its
    history, from which the rounds and retries are read."""

    arn: str
    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None
    events: list[dict] = field(default_factory=list)

    @property
    def rounds(self) -> list[Round]:
        return rounds_of(self.events)

    @property
    def retries(self) -> int:
        """Invocations the Retry made again (same state entry, new TaskScheduled)."""
        scheduled = sum(1 for e in self.events if _is_lambda(e, "TaskScheduled"))
        return scheduled - self.states.count("CheckStatus")

    @property
    def states(self) -> list[str]:
        """The names of the states entered, in order."""
        return [e["stateEnteredEventDetails"]["name"] for e in self.events if "stateEnteredEventDetails" in e]

    @property
    def last_result(self) -> Any:
        """The last round result the function returned: the output of a SUCCEEDED execution,
        and what a DocumentsFailed one ended with (its output is only the cause)."""
        ok = [r.payload for r in self.rounds if r.ok]
        return ok[-1] if ok else None

    def cause_json(self) -> Any:
        return json.loads(self.cause) if self.cause else None

    def __repr__(self) -> str:  # short: the history can be long, and it shows in failures
        ended = f"error={self.error} cause={str(self.cause)[:300]}" if self.error else f"output={json.dumps(self.output)[:300]}"
        return f"Execution({self.status}, {ended}, states ...{self.states[-5:]})"


def _is_lambda(event: dict, kind: str) -> bool:
    """True for a history event of this kind (TaskScheduled, TaskSucceeded, ...) of a Lambda
    task, not of a task of another service the definition may use."""
    key = kind[0].lower() + kind[1:] + "EventDetails"
    return event["type"] == kind and event.get(key, {}).get("resourceType") == "lambda"


def rounds_of(events: list[dict]) -> list[Round]:
    """The function's answers in an execution history (Lambda task results and failures)."""
    rounds: list[Round] = []
    for e in events:
        if _is_lambda(e, "TaskSucceeded"):
            output = json.loads(e["taskSucceededEventDetails"]["output"])
            rounds.append(Round(len(rounds) + 1, payload=output.get("Payload")))
        elif _is_lambda(e, "TaskFailed"):
            details = e["taskFailedEventDetails"]
            rounds.append(Round(len(rounds) + 1, error=details.get("error"), cause=details.get("cause")))
    return rounds


class LocalStepFunctions:
    """moto's Step Functions, in-process and executing, with one of the template's state
    machines (the wait loop unless ``definition_uri`` names another; ``substitutions`` fill
    what has no local default, such as a queue URL) whose Lambda tasks invoke ``runtime``.
    A context manager: entering starts moto and points Lambda at the runtime
    (AWS_ENDPOINT_URL_LAMBDA, process-wide, so one at a time); leaving undoes both.
    ``retry_jitter=False`` makes the Retry's FULL jitter wait 0 s."""

    _active = threading.Lock()

    def __init__(
        self,
        runtime: RuntimeApi,
        *,
        wait_seconds: int | None = 1,
        function_arn: str = FUNCTION_ARN,
        retry_jitter: bool = True,
        definition_uri: str = WAIT_LOOP_URI,
        substitutions: dict[str, Any] | None = None,
    ) -> None:
        self.runtime = runtime
        self.definition_uri = definition_uri
        self.definition = state_machine_definition(
            function_arn, wait_seconds, definition_uri=definition_uri, **(substitutions or {})
        )
        self.retry_jitter = retry_jitter
        self._patches: list[Any] = []
        self._holds_lock = False
        self.client: Any = None
        self.arn = ""

    def open(self) -> "LocalStepFunctions":
        """Starts moto and creates the state machine; ``close()`` undoes it (``with`` does both)."""
        if not LocalStepFunctions._active.acquire(blocking=False):
            raise HarnessError("another LocalStepFunctions is running: AWS_ENDPOINT_URL_LAMBDA is process-wide")
        self._holds_lock = True
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        """Environment first (moto's own credential mock nests inside it), then moto, then
        the state machine."""
        import boto3
        from moto import mock_aws

        env = mock.patch.dict(os.environ, {"AWS_ENDPOINT_URL_LAMBDA": self.runtime.endpoint, "AWS_DEFAULT_REGION": REGION})
        self._begin(env)
        for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STEPFUNCTIONS", "AWS_ENDPOINT_URL_SFN", "AWS_PROFILE"):
            os.environ.pop(var, None)  # restored by the patch
        self._begin(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        if not self.retry_jitter:
            self._begin(no_jitter())
        self.client = boto3.client("stepfunctions", region_name=REGION)
        self.arn = self.client.create_state_machine(
            name=f"wait-for-indexing-{uuid.uuid4().hex[:8]}",
            definition=self.definition,
            roleArn=ROLE_ARN,
            type=state_machine_properties(self.definition_uri).get("Type", "STANDARD"),
        )["stateMachineArn"]

    def _begin(self, patch: Any) -> None:
        patch.start()
        self._patches.append(patch)

    def start(self, batch: Any, name: str | None = None) -> str:
        """Starts an execution with ``batch`` as input; returns its ARN. Always named: moto
        5.2.5 names unnamed executions "None", so a second one would clash."""
        return self.client.start_execution(
            stateMachineArn=self.arn, name=name or uuid.uuid4().hex, input=json.dumps(batch)
        )["executionArn"]

    def history(self, execution_arn: str) -> list[dict]:
        """Every history event of an execution, in order."""
        pages = self.client.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        return [e for page in pages for e in page["events"]]

    def wait(self, execution_arn: str, timeout: float = 90.0, on_round: Callable[[Round], None] | None = None) -> Execution:
        """Polls until the execution is no longer RUNNING (TimeoutError after ``timeout`` s).
        ``on_round`` is called with each round as it appears in the history."""
        end = time.monotonic() + timeout
        reported = 0
        while True:
            desc = self.client.describe_execution(executionArn=execution_arn)
            if on_round is not None:
                reported = self._report(execution_arn, reported, on_round)
            if desc["status"] != "RUNNING":
                return self._finished(execution_arn, desc)
            if time.monotonic() > end:
                states = Execution(execution_arn, "RUNNING", events=self.history(execution_arn)).states
                raise TimeoutError(f"execution still RUNNING after {timeout}s; states so far: {states[-6:]}")
            time.sleep(0.05)

    def _report(self, execution_arn: str, reported: int, on_round: Callable[[Round], None]) -> int:
        rounds = rounds_of(self.history(execution_arn))
        for r in rounds[reported:]:
            on_round(r)
        return len(rounds)

    def _finished(self, execution_arn: str, desc: dict) -> Execution:
        """The Execution of a describe_execution answer that is no longer RUNNING."""
        output = desc.get("output")
        return Execution(
            arn=execution_arn,
            status=desc["status"],
            output=json.loads(output) if output else None,
            error=desc.get("error"),
            cause=desc.get("cause"),
            events=self.history(execution_arn),
        )

    def run(self, batch: Any, timeout: float = 90.0, on_round: Callable[[Round], None] | None = None) -> Execution:
        """One execution, start to end."""
        return self.wait(self.start(batch), timeout, on_round)

    def close(self) -> None:
        while self._patches:
            self._patches.pop().stop()
        if self._holds_lock:
            self._holds_lock = False
            LocalStepFunctions._active.release()

    def __enter__(self) -> "LocalStepFunctions":
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()
