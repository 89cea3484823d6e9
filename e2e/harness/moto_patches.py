"""moto 5.2.5 as the tests need it: the fixes that make its Step Functions interpreter behave
as AWS does, and recorders of what reached it (``TaskCalls``, ``EventSizes``). Used by
``SharedMoto`` (harness.moto_shared) and ``LocalStepFunctions`` (harness.state_machine).

The gaps ``moto_fixes`` patches, each the smallest change that restores AWS's behaviour;
nothing else of moto is touched:
1. the ``arn:aws:states:::states:startExecution[.sync[:2]]`` integration never converts the
   ASL's PascalCase parameters to the Step Functions API's camelCase (moto stubs LocalStack's
   conversion out): every such task fails with ``States.Runtime`` KeyError('StateMachineArn').
   The fix converts the parameters and the DescribeExecution answer (dates as epoch
   milliseconds, as AWS returns them);
2. ``SendTaskFailure`` drops its ``cause`` in moto's response handler (in-process and
   server alike: both dispatch to the same handler class);
3. Retry's ``JitterStrategy: FULL`` sleeps a random share of the interval: made 0 s
   (``no_jitter``), so a test of the Retry does not wait out random back-off;
4. a ``.waitForTaskToken`` task sets up its heartbeat timer only after its message is sent,
   and a worker that answers at once (as the function does) races it: a SendTaskHeartbeat
   before the set-up answers InvalidToken, and a SendTaskSuccess / SendTaskFailure before it
   is not seen until HeartbeatSeconds have passed, then ends the task as timed out. AWS
   takes both as soon as the token is out; with the fix, a heartbeat before the set-up is
   accepted and, like an answer before it, counts as the timer's first heartbeat.

Recorded, for assertions: every SendTaskHeartbeat / SendTaskSuccess / SendTaskFailure that
reached the Step Functions backend (``TaskCalls``), and the size of every history event the
interpreter writes, Distributed Map children included (``EventSizes``).
"""

from __future__ import annotations

import datetime
import json
import threading
from dataclasses import dataclass, field
from unittest import mock

from .common import now_ms

_SFN_MODEL: list = []


def _sfn_operation(action: str):
    """botocore's model of a Step Functions operation, from an ASL action ("startExecution")
    or a boto method name ("describe_execution")."""
    import botocore.session

    if not _SFN_MODEL:
        _SFN_MODEL.append(botocore.session.get_session().get_service_model("stepfunctions"))
    return _SFN_MODEL[0].operation_model("".join(p[:1].upper() + p[1:] for p in action.split("_")))


class _NoJitter:
    """Stands in for the ``random`` module in moto's JitterStrategy: FULL jitter waits 0 s."""

    @staticmethod
    def uniform(low: float, high: float) -> float:
        return low


def no_jitter():
    """The patcher (not started) that makes Retry's FULL jitter wait 0 s (gap 3)."""
    from moto.stepfunctions.parser.asl.component.common.retry import jitter_strategy_decl

    return mock.patch.object(jitter_strategy_decl, "random", _NoJitter())


def moto_fixes(jitter: bool = False) -> list:
    """The patchers for the gaps in the module docstring (not started); ``jitter=True``
    leaves Retry's FULL jitter as moto has it."""
    from moto.stepfunctions import responses as sfn_responses
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_sfn

    cls = state_task_service_sfn.StateTaskServiceSfn
    own_normalise = cls._normalise_parameters

    def normalise_parameters(self, parameters, boto_service_name=None, service_action_name=None):
        own_normalise(self, parameters, boto_service_name, service_action_name)  # Input -> JSON string
        shape = _sfn_operation(service_action_name or self.resource.api_action).input_shape
        if shape is not None:
            self._to_boto_request(parameters, shape)

    def normalise_response(self, response, boto_service_name=None, service_action_name=None):
        shape = _sfn_operation(service_action_name or self.resource.api_action).output_shape
        if shape is not None and isinstance(response, dict):
            self._from_boto_response(response, shape)
            for key, value in list(response.items()):
                if isinstance(value, datetime.datetime):
                    response[key] = int(value.timestamp() * 1000)

    def send_task_failure(self):
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return sfn_responses.EmptyResult()

    own_setup = CallbackEndpoint.setup_heartbeat_endpoint

    # A heartbeat or an answer marks the endpoint before it looks for the timer; the set-up
    # makes the timer before it looks for the marks: whatever the order, the timer hears it.
    def notify_heartbeat(endpoint) -> bool:
        endpoint.heartbeat_before_timer = True
        if endpoint._heartbeat_endpoint is not None:
            endpoint._heartbeat_endpoint.notify()
        return True  # the token is in the pool: its task is in progress

    def setup_heartbeat_endpoint(endpoint, heartbeat_seconds):
        timer = own_setup(endpoint, heartbeat_seconds)
        if getattr(endpoint, "heartbeat_before_timer", False) or endpoint._outcome is not None:
            timer.notify()
        return timer

    patchers = [
        mock.patch.object(cls, "_normalise_parameters", normalise_parameters),
        mock.patch.object(cls, "_normalise_response", normalise_response),
        mock.patch.object(sfn_responses.StepFunctionResponse, "send_task_failure", send_task_failure),
        mock.patch.object(CallbackEndpoint, "notify_heartbeat", notify_heartbeat),
        mock.patch.object(CallbackEndpoint, "setup_heartbeat_endpoint", setup_heartbeat_endpoint),
    ]
    if not jitter:
        patchers.append(no_jitter())
    return patchers


class EventSizes:
    """Records the size of every history event moto's interpreter writes, in every execution
    and in every Distributed Map child (whose events moto keeps in no history)."""

    def __init__(self) -> None:
        self.largest = 0
        self.largest_event: tuple[str, int] = ("", 0)
        self.count = 0
        self._lock = threading.Lock()

    def patcher(self):
        from moto.stepfunctions.parser.asl.eval.event import event_manager

        original = event_manager.EventManager.add_event
        sizes = self

        def add_event(manager, context, event_type, event_details=None, *args, **kwargs):
            size = len(json.dumps(event_details or {}, default=str).encode("utf-8"))
            with sizes._lock:
                sizes.count += 1
                if size > sizes.largest:
                    sizes.largest = size
                    sizes.largest_event = (str(event_type), size)
            return original(manager, context, event_type, event_details, *args, **kwargs)

        return mock.patch.object(event_manager.EventManager, "add_event", add_event)


def largest_history_payload(events: list[dict]) -> int:
    """The largest input, output or cause (bytes, UTF-8) of any event in a history."""
    largest = 0
    for event in events:
        for key, details in event.items():
            if key.endswith("EventDetails") and isinstance(details, dict):
                for name in ("input", "output", "cause", "parameters"):
                    value = details.get(name)
                    if isinstance(value, str):
                        largest = max(largest, len(value.encode("utf-8")))
    return largest


# --------------------------------------------------------------------------------------
# Task token calls, as the Step Functions backend received them
# --------------------------------------------------------------------------------------


@dataclass
class TaskCall:
    """One SendTaskHeartbeat / SendTaskSuccess / SendTaskFailure that reached moto's backend
    (through the server or in-process). ``answer``: None when it was accepted, else the
    exception moto raised (InvalidToken, TaskTimedOut, TaskDoesNotExist)."""

    kind: str  # "heartbeat" | "success" | "failure"
    token: str
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    answer: str | None = None
    at_ms: int = field(default_factory=now_ms)  # wall clock, as Poll.received_ms and Result.finished_ms


class TaskCalls:
    """Wraps the backend's three task-token methods and keeps every call, in order."""

    def __init__(self) -> None:
        self.calls: list[TaskCall] = []
        self._lock = threading.Lock()

    def patchers(self) -> list:
        from moto.stepfunctions.parser.models import StepFunctionsParserBackend as Backend

        def wrap(kind: str, original):
            def method(backend, task_token, *args, **kwargs):
                call = TaskCall(kind, task_token)
                if kind == "success":
                    call.output = args[0] if args else kwargs.get("outcome")
                elif kind == "failure":
                    call.error, call.cause = kwargs.get("error"), kwargs.get("cause")
                try:
                    return original(backend, task_token, *args, **kwargs)
                except Exception as e:
                    call.answer = type(e).__name__
                    raise
                finally:
                    with self._lock:
                        self.calls.append(call)

            return method

        return [
            mock.patch.object(Backend, name, wrap(kind, getattr(Backend, name)))
            for kind, name in (
                ("heartbeat", "send_task_heartbeat"),
                ("success", "send_task_success"),
                ("failure", "send_task_failure"),
            )
        ]

    def of(self, kind: str | None = None, token: str | None = None) -> list[TaskCall]:
        with self._lock:
            return [c for c in self.calls if (kind is None or c.kind == kind) and (token is None or c.token == token)]
