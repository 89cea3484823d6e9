"""A Lambda Runtime API emulator that also speaks the Lambda Invoke API.

The function under test is the real ``bootstrap`` binary, which only knows how to ask the
Runtime API for work (``GET /2018-06-01/runtime/invocation/next``) and answer it. This
server plays Lambda's side of that conversation, so the binary runs exactly as in AWS. It
also answers ``POST /2015-03-31/functions/{name}/invocations`` (the Invoke API), so boto3 and
moto's Step Functions interpreter can invoke the function through it
(``AWS_ENDPOINT_URL_LAMBDA``). Only the standard library is used.
"""

from __future__ import annotations

import json
import queue
import select
import socket
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from .common import FUNCTION_ARN, now_ms

NEXT_PATH = "/2018-06-01/runtime/invocation/next"


@dataclass
class Result:
    """The outcome of one invocation, with the times the Runtime API saw (tests check the
    deadline against them)."""

    request_id: str
    event: Any
    deadline_ms: int = 0
    delivered_ms: int = 0
    finished_ms: int = 0
    payload: Any = None
    error_type: str | None = None
    error_message: str | None = None
    error_body: Any = None
    error_header: str | None = None
    # The FunctionName of an Invoke API call (what a state machine's task asked for); None
    # for invocations made with ``RuntimeApi.invoke``.
    function_name: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_type is None

    def __repr__(self) -> str:  # short: events can be huge
        if self.ok:
            return f"Result(ok, {json.dumps(self.payload)[:400]})"
        return f"Result({self.error_type}: {self.error_message})"


class _Invocation:
    """One queued invocation, until a runtime answers it."""

    def __init__(self, event_bytes: bytes, timeout_ms: int, function_name: str | None = None) -> None:
        self.request_id = str(uuid.uuid4())
        self.event_bytes = event_bytes
        self.timeout_ms = timeout_ms
        self.done = threading.Event()
        try:
            event = json.loads(event_bytes)
        except ValueError:
            event = event_bytes.decode("utf-8", "replace")
        self.result = Result(request_id=self.request_id, event=event, function_name=function_name)


def _peer_closed(sock: socket.socket) -> bool:
    """True when the runtime waiting in GET next has hung up (it exited): an invocation handed
    to it would be lost."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True
    return False


def _trace_id() -> str:
    """An X-Ray trace header of the shape Lambda sends."""
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"


def _parse_json(body: bytes, fallback: Callable[[str], Any]) -> Any:
    """The JSON a runtime sent, or ``fallback(text)`` when it is not JSON."""
    try:
        return json.loads(body) if body else None
    except ValueError:
        return fallback(body.decode("utf-8", "replace"))


class _Handler(BaseHTTPRequestHandler):
    """Routes the Runtime API and Invoke API paths to the ``RuntimeApi`` that owns the server."""

    protocol_version = "HTTP/1.1"
    api: "RuntimeApi"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0].rstrip("/") == NEXT_PATH:
            self.api._next(self)
        else:
            self.send(404, b'{"errorType":"NotFound"}')

    def do_POST(self) -> None:
        body = self.body()
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        try:
            if parts[:3] == ["2018-06-01", "runtime", "init"] and parts[3:] == ["error"]:
                self.api._init_error(self, body)
            elif parts[:3] == ["2018-06-01", "runtime", "invocation"] and len(parts) == 5:
                self.api._answer(self, parts[3], parts[4], body)
            elif parts[:2] == ["2015-03-31", "functions"] and parts[3:] == ["invocations"]:
                self.api._invoke_api(self, urllib.parse.unquote(parts[2]), body)
            else:
                self.send(404, b'{"errorType":"NotFound"}')
        except (BrokenPipeError, ConnectionResetError):
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class RuntimeApi:
    """Lambda Runtime API + Invoke API on 127.0.0.1 (a free port).

    ``invoke(event)`` queues an invocation and waits for the function's answer; one or more
    runtimes (``bootstrap`` processes, or a ``FakeFunction``) take invocations with
    ``GET .../invocation/next``. Every answered invocation is appended to ``history``.
    """

    def __init__(self, default_timeout_ms: int = 60_000) -> None:
        self.default_timeout_ms = default_timeout_ms
        self._pending: queue.Queue[_Invocation] = queue.Queue()
        self._inflight: dict[str, _Invocation] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.init_errors: list[dict] = []
        self.init_error_event = threading.Event()
        self.history: list[Result] = []
        self.next_calls = 0
        # time.perf_counter() of the first GET next: the end of a cold start.
        self.first_next: float | None = None
        # A callable that raises when the function cannot answer any more (process died).
        self.liveness_check: Callable[[], None] | None = None
        handler = type("Handler", (_Handler,), {"api": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self.port = self._server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self.endpoint = f"http://{self.address}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # -- Runtime API side ------------------------------------------------------------
    def _next(self, handler: _Handler) -> None:
        """GET next: blocks until an invocation is queued, then hands it over with Lambda's
        headers (request id, deadline, ARN, trace id)."""
        with self._lock:
            self.next_calls += 1
            if self.first_next is None:
                self.first_next = time.perf_counter()
        while not self._closing.is_set():
            try:
                inv = self._pending.get(timeout=0.05)
            except queue.Empty:
                if _peer_closed(handler.connection):
                    return  # that runtime is gone; do not hand it an invocation
                continue
            self._deliver(handler, inv)
            return
        # Shutting down: answer rather than leave the connection hanging.
        try:
            handler.send(500, b'{"errorType":"ShuttingDown"}')
        except OSError:
            pass

    def _deliver(self, handler: _Handler, inv: _Invocation) -> None:
        """Sends one invocation to a waiting runtime; if it went away before reading it, the
        invocation goes back to the queue for the next runtime."""
        delivered = now_ms()
        inv.result.delivered_ms = delivered
        inv.result.deadline_ms = delivered + inv.timeout_ms
        with self._lock:
            self._inflight[inv.request_id] = inv
        headers = {
            "Lambda-Runtime-Aws-Request-Id": inv.request_id,
            "Lambda-Runtime-Deadline-Ms": str(inv.result.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
            "Lambda-Runtime-Trace-Id": _trace_id(),
        }
        try:
            handler.send(200, inv.event_bytes, headers)
        except OSError:
            with self._lock:
                self._inflight.pop(inv.request_id, None)
            self._pending.put(inv)

    def _answer(self, handler: _Handler, request_id: str, kind: str, body: bytes) -> None:
        """POST .../response or .../error: records the outcome and wakes the invoker."""
        with self._lock:
            inv = self._inflight.pop(request_id, None)
        if inv is None or kind not in ("response", "error"):
            handler.send(400, b'{"errorType":"InvalidRequestID"}')
            return
        result = inv.result
        result.finished_ms = now_ms()
        if kind == "response":
            result.payload = _parse_json(body, lambda text: text)
        else:
            result.error_header = handler.headers.get("Lambda-Runtime-Function-Error-Type")
            parsed = _parse_json(body, lambda text: {"errorType": "Unparseable", "errorMessage": text}) or {}
            result.error_body = parsed
            result.error_type = str(parsed.get("errorType") or result.error_header or "Unknown")
            result.error_message = str(parsed.get("errorMessage", ""))
        handler.send(202, b'{"status":"OK"}')
        with self._lock:
            self.history.append(result)
        inv.done.set()

    def _init_error(self, handler: _Handler, body: bytes) -> None:
        """POST init/error: a function that failed its start reports here, once."""
        parsed = _parse_json(body, lambda text: {"raw": text}) or {}
        parsed["_header"] = handler.headers.get("Lambda-Runtime-Function-Error-Type")
        self.init_errors.append(parsed)
        self.init_error_event.set()
        handler.send(202, b'{"status":"OK"}')

    # -- Invoke API side (boto3 / moto Step Functions) ---------------------------------
    def _invoke_api(self, handler: _Handler, function_name: str, body: bytes) -> None:
        """Answers like Lambda's synchronous Invoke: 200 with the payload, or 200 with
        X-Amz-Function-Error and {errorType, errorMessage} when the function failed."""
        inv = _Invocation(body or b"{}", self.default_timeout_ms, function_name)
        self._pending.put(inv)
        if not self._wait(inv, self.default_timeout_ms / 1000 + 30):
            handler.send(
                500,
                b'{"Type":"Service","message":"the function did not answer"}',
                {"x-amzn-ErrorType": "ServiceException", "x-amzn-RequestId": inv.request_id},
            )
            return
        result = inv.result
        headers = {"X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": inv.request_id}
        if result.ok:
            handler.send(200, json.dumps(result.payload).encode(), headers)
        else:
            headers["X-Amz-Function-Error"] = "Unhandled"
            body = json.dumps({"errorType": result.error_type, "errorMessage": result.error_message})
            handler.send(200, body.encode(), headers)

    # -- Python API ----------------------------------------------------------------------
    def _wait(self, inv: _Invocation, timeout: float) -> bool:
        """Waits for an answer, checking that the function is still alive so a crash fails
        the test at once instead of after the timeout."""
        end = time.monotonic() + timeout
        while not inv.done.wait(0.05):
            if self.liveness_check is not None:
                self.liveness_check()
            if time.monotonic() >= end or self._closing.is_set():
                return False
        return True

    def invoke(self, event: Any, timeout_ms: int | None = None, wait: float | None = None) -> Result:
        """Invokes the function with ``event`` (JSON-serialisable, or bytes) and returns its
        answer. ``timeout_ms`` sets the deadline announced in Lambda-Runtime-Deadline-Ms."""
        timeout_ms = self.default_timeout_ms if timeout_ms is None else timeout_ms
        data = event if isinstance(event, bytes) else json.dumps(event).encode()
        inv = _Invocation(data, timeout_ms)
        self._pending.put(inv)
        limit = wait if wait is not None else timeout_ms / 1000 + 30
        if not self._wait(inv, limit):
            raise TimeoutError(f"the function did not answer invocation {inv.request_id} within {limit:.0f}s")
        return inv.result

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "RuntimeApi":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
