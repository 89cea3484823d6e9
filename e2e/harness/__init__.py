"""End-to-end harness for kendra-waiter: everything the function meets in AWS, locally.

One copy of each test double, shared by e2e/, bench/ and scripts/demo.py (put e2e/ on
PYTHONPATH; scripts/*.sh and e2e/pytest.ini do):

- common:         repository paths, the fake account, release binaries, ``wait_until``, ``Stack``
- runtime_api:    ``RuntimeApi``, the Lambda Runtime API + Invoke API emulator; ``Result``
- processes:      ``FunctionProcess`` (the release bootstrap), ``MotoServer`` (SQS)
- kendra_local:   ``KendraLocal``, the Kendra emulator and its admin API
- sqs:            the template's queues, the SQS record builder, ``SqsPoller`` (event source mapping)
- state_machine:  ``LocalStepFunctions``, the template's ASL on moto's interpreter; ``Execution``
- moto_shared:    ``SharedMoto``, that moto also served over HTTP to the release binary;
                  ``function_environment``, ``BackgroundPoller``
- moto_patches:   the moto 5.2.5 fixes, ``TaskCalls``, ``EventSizes``
- stand_in:       the function's interface in Python (``StandIn``, ``Behaviour``)
- fake_function:  the stand-in served: ``FakeFunction`` (a runtime behind ``RuntimeApi``),
                  ``CallbackWorker`` (its SQS side), ``StandInMoto`` (with the three machines)
- template:       settings read from template.yaml
- events:         the sample events and the one check against events/expectations.json
                  (also ``python -m harness events``, for shell scripts)

Everything binds to 127.0.0.1 on ports the OS picks, waits on conditions with bounded
polling, and is stopped by ``close()`` (all classes are context managers).
"""

from .common import (
    ACCOUNT_ID,
    ASL_PATH,
    EVENTS_DIR,
    FUNCTION_ARN,
    FUNCTION_NAME,
    INDEX_ID,
    REGION,
    REPO,
    TEMPLATE_PATH,
    HarnessError,
    Stack,
    free_port,
    kendra_local_bin,
    now_ms,
    remove_tree,
    wait_until,
    waiter_bin,
)
from .events import doc_id, expectation_problems, expectations, load_event, sample_event_names
from .fake_function import FakeFunction
from .kendra_local import KendraLocal
from .processes import FunctionProcess, MotoServer, stop_process
from .runtime_api import Result, RuntimeApi
from .sqs import (
    CHECK_QUEUE_ARN,
    Poll,
    Queues,
    SqsPoller,
    create_queues,
    drain_queue,
    queue_counts,
    queue_is_empty,
    received_message,
    sqs_event,
    sqs_record,
)
from .state_machine import Execution, LocalStepFunctions, Round, state_machine_definition
from .template import template, template_queue_settings

__all__ = [
    "ACCOUNT_ID",
    "ASL_PATH",
    "CHECK_QUEUE_ARN",
    "EVENTS_DIR",
    "FUNCTION_ARN",
    "FUNCTION_NAME",
    "INDEX_ID",
    "REGION",
    "REPO",
    "TEMPLATE_PATH",
    "Execution",
    "FakeFunction",
    "FunctionProcess",
    "HarnessError",
    "KendraLocal",
    "LocalStepFunctions",
    "MotoServer",
    "Poll",
    "Queues",
    "Result",
    "Round",
    "RuntimeApi",
    "SqsPoller",
    "Stack",
    "create_queues",
    "doc_id",
    "drain_queue",
    "expectation_problems",
    "expectations",
    "free_port",
    "kendra_local_bin",
    "load_event",
    "now_ms",
    "queue_counts",
    "queue_is_empty",
    "received_message",
    "remove_tree",
    "sample_event_names",
    "sqs_event",
    "sqs_record",
    "state_machine_definition",
    "stop_process",
    "template",
    "template_queue_settings",
    "wait_until",
    "waiter_bin",
]
