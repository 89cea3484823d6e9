"""What every part of the harness shares: the repository's files, the fake account the
emulators pretend to be, AWS's payload limits, where the release binaries are, and the
bounded polling helper.

Paths are derived from this file's place in the checkout, never written out, so the harness
works from any clone and any working directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent.parent
EVENTS_DIR = REPO / "events"
ASL_PATH = REPO / "statemachine" / "wait-for-indexing.asl.json"
TEMPLATE_PATH = REPO / "template.yaml"

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
FUNCTION_NAME = "kendra-waiter"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{FUNCTION_NAME}"
# The demo index: every sample event in events/ and events/env.json use it.
INDEX_ID = "11111111-2222-3333-4444-555555555555"

# AWS's limits the state machines are built around.
STATES_PAYLOAD_LIMIT = 262_144  # bytes Step Functions moves between states (256 KiB)
CAUSE_LIMIT = 32_768  # characters of an error cause

BUILD_HINT = "run `cargo build --release --workspace --bins` at the repository root"


class HarnessError(RuntimeError):
    """Something the harness itself could not set up (a missing binary, an emulator that
    would not start): a broken environment, as opposed to a failing assertion."""


def waiter_bin() -> Path:
    """The function's release binary: $KENDRA_WAITER_BIN, else target/release/bootstrap."""
    return _binary("KENDRA_WAITER_BIN", REPO / "target" / "release" / "bootstrap")


def kendra_local_bin() -> Path:
    """The emulator's release binary: $KENDRA_LOCAL_BIN, else target/release/kendra-local."""
    return _binary("KENDRA_LOCAL_BIN", REPO / "target" / "release" / "kendra-local")


def _binary(var: str, default: Path) -> Path:
    """A relative override is taken from the repository root, so the same value works from
    any working directory; the error says how to build what is missing."""
    path = Path(os.environ.get(var) or default)
    if not path.is_absolute():
        path = REPO / path
    if not (path.is_file() and os.access(path, os.X_OK)):
        shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        raise HarnessError(f"{shown} not found or not executable ({var}); {BUILD_HINT}")
    return path


def now_ms() -> int:
    """Wall-clock milliseconds, the unit of Lambda's deadline and of SQS timestamps."""
    return int(time.time() * 1000)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Polls ``predicate`` until it returns something truthy and returns that, or raises
    TimeoutError after ``timeout`` seconds: the only way the suite waits for a condition."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def endpoint_client(service: str, endpoint: str, **config: Any) -> Any:
    """A boto3 client of a local emulator at ``endpoint`` (test credentials), with few retries
    so a broken server shows quickly; ``config``: more botocore Config settings."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, **config),
    )


def free_port() -> int:
    """A port the OS considers free on 127.0.0.1, for servers that cannot bind port 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def remove_tree(path: Path) -> None:
    """Removes a scratch directory, ignoring what is already gone."""
    shutil.rmtree(path, ignore_errors=True)


class Stack:
    """Things with a ``close()`` (processes, servers), closed together in reverse order of
    ``add``, so a function stops before the emulators it talks to; every closer runs even
    when one fails."""

    def __init__(self) -> None:
        self._closers: list[Callable[[], Any]] = []

    def __len__(self) -> int:
        return len(self._closers)

    def add(self, obj: Any) -> Any:
        self._closers.append(obj.close)
        return obj

    def close(self) -> None:
        errors = []
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception as e:  # keep closing the rest
                errors.append(e)
        if errors:
            raise errors[0]

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
