"""End-to-end harness for kendra-waiter: everything the function meets in AWS, locally.

- ``RuntimeApi``: a Lambda Runtime API emulator (``/2018-06-01/runtime/...``) that also
  speaks the Lambda Invoke API (``POST /2015-03-31/functions/{name}/invocations``), so
  boto3 / moto's Step Functions interpreter can invoke the function through it.
- ``FunctionProcess``: runs the release ``bootstrap`` binary against a ``RuntimeApi``.
- ``KendraLocal``: runs the ``kendra-local`` emulator and talks to its admin API.
- ``MotoServer``: runs ``moto.server`` (SQS) as a separate process.
- ``SqsPoller``: acts as Lambda's SQS event source mapping (ReportBatchItemFailures).
- ``run_wait_loop``: a Python mirror of statemachine/wait-for-indexing.asl.json.

Everything binds to 127.0.0.1 on ports the OS picks, waits on conditions with bounded
polling loops, and is stopped by ``close()`` (all classes are context managers).
Only the standard library is used here, except boto3 in the SQS helpers.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import queue
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable

REPO = Path(__file__).resolve().parent.parent
EVENTS_DIR = REPO / "events"
ASL_PATH = REPO / "statemachine" / "wait-for-indexing.asl.json"
TEMPLATE_PATH = REPO / "template.yaml"

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
FUNCTION_NAME = "kendra-waiter"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{FUNCTION_NAME}"
INDEX_ID = "11111111-2222-3333-4444-555555555555"

BUILD_HINT = "run `cargo build --release --workspace --bins` in /work/main first"


class HarnessError(RuntimeError):
    pass


def waiter_bin() -> Path:
    return _binary("KENDRA_WAITER_BIN", REPO / "target" / "release" / "bootstrap")


def kendra_local_bin() -> Path:
    return _binary("KENDRA_LOCAL_BIN", REPO / "target" / "release" / "kendra-local")


def _binary(var: str, default: Path) -> Path:
    path = Path(os.environ.get(var) or default)
    if not path.is_absolute():
        path = REPO / path
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise HarnessError(f"{path} not found or not executable ({var}); {BUILD_HINT}")
    return path


def now_ms() -> int:
    return int(time.time() * 1000)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Polls ``predicate`` until it returns something truthy, or fails after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_process(proc: subprocess.Popen | None, grace: float = 5.0) -> int | None:
    if proc is None:
        return None
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)
    return proc.returncode


# --------------------------------------------------------------------------------------
# Lambda Runtime API emulator
# --------------------------------------------------------------------------------------


@dataclass
class Result:
    """The outcome of one invocation."""

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

    @property
    def ok(self) -> bool:
        return self.error_type is None

    def __repr__(self) -> str:  # short: events can be huge
        if self.ok:
            return f"Result(ok, {json.dumps(self.payload)[:400]})"
        return f"Result({self.error_type}: {self.error_message})"


class _Invocation:
    def __init__(self, event_bytes: bytes, timeout_ms: int) -> None:
        self.request_id = str(uuid.uuid4())
        self.event_bytes = event_bytes
        self.timeout_ms = timeout_ms
        self.done = threading.Event()
        try:
            event = json.loads(event_bytes)
        except ValueError:
            event = event_bytes.decode("utf-8", "replace")
        self.result = Result(request_id=self.request_id, event=event)


def _peer_closed(sock: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True
    return False


class RuntimeApi:
    """Lambda Runtime API + Invoke API on 127.0.0.1 (a free port).

    ``invoke(event)`` queues an invocation and waits for the function's answer; one or more
    ``bootstrap`` processes take invocations with ``GET .../invocation/next``.
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
        # A callable that raises when the function cannot answer any more (process died).
        self.liveness_check: Callable[[], None] | None = None
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.split("?", 1)[0].rstrip("/") == "/2018-06-01/runtime/invocation/next":
                    api._next(self)
                else:
                    self._send(404, b'{"errorType":"NotFound"}')

            def do_POST(self) -> None:
                body = self._body()
                parts = self.path.split("?", 1)[0].strip("/").split("/")
                try:
                    if parts[:3] == ["2018-06-01", "runtime", "init"] and parts[3:] == ["error"]:
                        api._init_error(self, body)
                    elif parts[:3] == ["2018-06-01", "runtime", "invocation"] and len(parts) == 5:
                        api._answer(self, parts[3], parts[4], body)
                    elif parts[:2] == ["2015-03-31", "functions"] and parts[3:] == ["invocations"]:
                        api._invoke_api(self, body)
                    else:
                        self._send(404, b'{"errorType":"NotFound"}')
                except (BrokenPipeError, ConnectionResetError):
                    pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self.endpoint = f"http://{self.address}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # -- Runtime API side ------------------------------------------------------------
    def _next(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.next_calls += 1
        while not self._closing.is_set():
            try:
                inv = self._pending.get(timeout=0.05)
            except queue.Empty:
                if _peer_closed(handler.connection):
                    return  # that runtime is gone; do not hand it an invocation
                continue
            delivered = now_ms()
            inv.result.delivered_ms = delivered
            inv.result.deadline_ms = delivered + inv.timeout_ms
            with self._lock:
                self._inflight[inv.request_id] = inv
            try:
                handler._send(
                    200,
                    inv.event_bytes,
                    {
                        "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(inv.result.deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                        "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0",
                    },
                )
            except OSError:
                # The runtime went away before reading it: hand it to the next one.
                with self._lock:
                    self._inflight.pop(inv.request_id, None)
                self._pending.put(inv)
            return
        # Shutting down: leave the connection hanging is impolite; answer 500.
        try:
            handler._send(500, b'{"errorType":"ShuttingDown"}')
        except OSError:
            pass

    def _answer(self, handler: Any, request_id: str, kind: str, body: bytes) -> None:
        with self._lock:
            inv = self._inflight.pop(request_id, None)
        if inv is None or kind not in ("response", "error"):
            handler._send(400, b'{"errorType":"InvalidRequestID"}')
            return
        result = inv.result
        result.finished_ms = now_ms()
        if kind == "response":
            try:
                result.payload = json.loads(body) if body else None
            except ValueError:
                result.payload = body.decode("utf-8", "replace")
        else:
            result.error_header = handler.headers.get("Lambda-Runtime-Function-Error-Type")
            try:
                parsed = json.loads(body) if body else {}
            except ValueError:
                parsed = {"errorType": "Unparseable", "errorMessage": body.decode("utf-8", "replace")}
            result.error_body = parsed
            result.error_type = str(parsed.get("errorType") or result.error_header or "Unknown")
            result.error_message = str(parsed.get("errorMessage", ""))
        handler._send(202, b'{"status":"OK"}')
        with self._lock:
            self.history.append(result)
        inv.done.set()

    def _init_error(self, handler: Any, body: bytes) -> None:
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            parsed = {"raw": body.decode("utf-8", "replace")}
        parsed["_header"] = handler.headers.get("Lambda-Runtime-Function-Error-Type")
        self.init_errors.append(parsed)
        self.init_error_event.set()
        handler._send(202, b'{"status":"OK"}')

    # -- Invoke API side (boto3 / moto Step Functions) ---------------------------------
    def _invoke_api(self, handler: Any, body: bytes) -> None:
        inv = _Invocation(body or b"{}", self.default_timeout_ms)
        self._pending.put(inv)
        if not self._wait(inv, self.default_timeout_ms / 1000 + 30):
            handler._send(
                500,
                b'{"Type":"Service","message":"the function did not answer"}',
                {"x-amzn-ErrorType": "ServiceException", "x-amzn-RequestId": inv.request_id},
            )
            return
        result = inv.result
        headers = {"X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": inv.request_id}
        if result.ok:
            handler._send(200, json.dumps(result.payload).encode(), headers)
        else:
            headers["X-Amz-Function-Error"] = "Unhandled"
            body = json.dumps({"errorType": result.error_type, "errorMessage": result.error_message})
            handler._send(200, body.encode(), headers)

    # -- Python API ----------------------------------------------------------------------
    def _wait(self, inv: _Invocation, timeout: float) -> bool:
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


# --------------------------------------------------------------------------------------
# The function's process
# --------------------------------------------------------------------------------------


class FunctionProcess:
    """The release ``bootstrap`` binary, running against a ``RuntimeApi``."""

    def __init__(
        self,
        runtime: RuntimeApi,
        env: dict[str, str] | None = None,
        *,
        kendra_endpoint: str | None = None,
        sqs_endpoint: str | None = None,
        workdir: Path | None = None,
        name: str = "function",
        base_env: bool = True,
        register_liveness: bool = True,
    ) -> None:
        self.runtime = runtime
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="kendra-waiter-fn-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = self.workdir / f"{name}.stdout"
        self.stderr_path = self.workdir / f"{name}.stderr"
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        if base_env:
            full_env.update(
                {
                    "AWS_LAMBDA_RUNTIME_API": runtime.address,
                    "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
                    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                    "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION_NAME}",
                    "AWS_LAMBDA_LOG_STREAM_NAME": "e2e",
                    "AWS_REGION": REGION,
                    "AWS_DEFAULT_REGION": REGION,
                    "AWS_ACCESS_KEY_ID": "test",
                    "AWS_SECRET_ACCESS_KEY": "test",
                    "AWS_EC2_METADATA_DISABLED": "true",
                }
            )
            if kendra_endpoint:
                full_env["AWS_ENDPOINT_URL_KENDRA"] = kendra_endpoint
            if sqs_endpoint:
                full_env["AWS_ENDPOINT_URL_SQS"] = sqs_endpoint
        full_env.update({k: v for k, v in (env or {}).items() if v is not None})
        # Explicit None in env removes a variable.
        for k, v in (env or {}).items():
            if v is None:
                full_env.pop(k, None)
        self.env = full_env
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(waiter_bin())],
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
            cwd=str(self.workdir),
        )
        if register_liveness:
            runtime.liveness_check = self.check_alive

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise HarnessError(
                f"the function exited with code {self.proc.returncode}\n"
                f"--- stdout (tail)\n{self.stdout()[-3000:]}\n--- stderr (tail)\n{self.stderr()[-3000:]}"
            )

    def wait_exit(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stdout(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        if not self._err.closed:
            self._err.flush()
        return self.stderr_path.read_text(errors="replace")

    def json_lines(self) -> list[dict]:
        out = []
        for line in self.stdout().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def emf_records(self) -> list[dict]:
        return [r for r in self.json_lines() if isinstance(r.get("_aws"), dict)]

    def close(self) -> int | None:
        if self.runtime.liveness_check == self.check_alive:
            self.runtime.liveness_check = None
        rc = _stop_process(self.proc)
        self._out.close()
        self._err.close()
        return rc

    def __enter__(self) -> "FunctionProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# --------------------------------------------------------------------------------------
# kendra-local
# --------------------------------------------------------------------------------------


class KendraLocal:
    """The kendra-local emulator on a free port, plus its admin API."""

    def __init__(
        self,
        indexes: Iterable[str] = (INDEX_ID,),
        indexing_checks: int | None = 0,
        extra_args: Iterable[str] = (),
        workdir: Path | None = None,
        start_timeout: float = 20.0,
    ) -> None:
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="kendra-local-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [str(kendra_local_bin()), "--port", "0"]
        for ix in indexes:
            args += ["--index", ix]
        if indexing_checks is not None:
            args += ["--indexing-checks", str(indexing_checks)]
        args += list(extra_args)
        self.stderr_path = self.workdir / "kendra-local.stderr"
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._err)
        first: queue.Queue[str] = queue.Queue()

        def drain() -> None:
            assert self.proc.stdout is not None
            for i, raw in enumerate(iter(self.proc.stdout.readline, b"")):
                if i == 0:
                    first.put(raw.decode("utf-8", "replace").strip())
            first.put("")

        threading.Thread(target=drain, daemon=True).start()
        try:
            line = first.get(timeout=start_timeout)
        except queue.Empty:
            self.close()
            raise HarnessError(f"kendra-local printed nothing within {start_timeout}s")
        prefix = "kendra-local listening on "
        if not line.startswith(prefix):
            self.close()
            raise HarnessError(
                f"kendra-local did not start: first line {line!r}; stderr: {self.stderr_path.read_text(errors='replace')[-2000:]}"
            )
        self.endpoint = line[len(prefix):].strip().rstrip("/")
        self.host, _, port = self.endpoint.split("://", 1)[1].partition(":")
        self.port = int(port)
        wait_until(lambda: self._health_ok(), 10, "kendra-local health")

    # -- admin API ---------------------------------------------------------------------
    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, "/_kendra_local/" + path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            if resp.status >= 300:
                raise HarnessError(f"kendra-local admin {method} {path}: {resp.status} {raw[:500]!r}")
            return json.loads(raw) if raw else None
        finally:
            conn.close()

    def _health_ok(self) -> bool:
        try:
            return self._admin("GET", "health").get("status") == "ok"
        except OSError:
            return False

    def requests(self) -> list[dict]:
        return self._admin("GET", "requests")

    def status_requests(self) -> list[dict]:
        return [r for r in self.requests() if r["operation"] == "BatchGetDocumentStatus"]

    def clear_requests(self) -> None:
        self._admin("DELETE", "requests")

    def set_faults(self, **faults: Any) -> None:
        """camelCase keys: latencyMs, latencyJitterMs, maxRps, internalErrorRate,
        throttleRate, seed, operations. ``set_faults()`` turns faults off."""
        self._admin("PUT", "faults", faults)

    def fail_next(self, count: int, error: str, operation: str | None = None) -> None:
        body: dict[str, Any] = {"count": count, "error": error}
        if operation:
            body["operation"] = operation
        self._admin("POST", "fail-next", body)

    def put_documents(self, ids: Iterable[str], index_id: str = INDEX_ID) -> None:
        self._documents(index_id, put=list(ids))

    def delete_documents(self, ids: Iterable[str], index_id: str = INDEX_ID) -> None:
        self._documents(index_id, delete=list(ids))

    def _documents(self, index_id: str, put: list[str] | None = None, delete: list[str] | None = None) -> None:
        put, delete = put or [], delete or []
        step = 1000  # keep admin bodies small
        for i in range(0, max(len(put), len(delete), 1), step):
            self._admin("POST", "documents", {"indexId": index_id, "put": put[i:i + step], "delete": delete[i:i + step]})

    def create_index(self, index_id: str) -> None:
        self._admin("POST", f"indexes/{index_id}")

    def close(self) -> None:
        _stop_process(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._err.close()

    def __enter__(self) -> "KendraLocal":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# --------------------------------------------------------------------------------------
# moto server (SQS)
# --------------------------------------------------------------------------------------


class MotoServer:
    """``python -m moto.server`` on 127.0.0.1 and a free port."""

    def __init__(self, workdir: Path | None = None, start_timeout: float = 60.0, attempts: int = 3) -> None:
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="moto-server-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "moto.log"
        self._log = open(self.log_path, "ab")
        last_error = ""
        for _ in range(attempts):
            self.port = free_port()
            self.endpoint = f"http://127.0.0.1:{self.port}"
            env = dict(os.environ)
            env.setdefault("AWS_DEFAULT_REGION", REGION)
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=env,
            )
            end = time.monotonic() + start_timeout
            while time.monotonic() < end and self.proc.poll() is None:
                if self._answers():
                    return
                time.sleep(0.05)
            last_error = f"exit code {self.proc.poll()}"
            _stop_process(self.proc)
        self._log.close()
        raise HarnessError(f"moto server did not start ({last_error}); log: {self.log_path}")

    def _answers(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/moto-api/")
            ok = conn.getresponse().status < 500
            conn.close()
            return ok
        except OSError:
            return False

    def reset(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("POST", "/moto-api/reset")
        conn.getresponse().read()
        conn.close()

    def client(self, service: str):
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )

    def close(self) -> None:
        _stop_process(self.proc)
        self._log.close()

    def __enter__(self) -> "MotoServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# --------------------------------------------------------------------------------------
# template.yaml settings
# --------------------------------------------------------------------------------------


def template_text() -> str:
    return TEMPLATE_PATH.read_text()


def _resource_block(name: str) -> list[str]:
    lines = template_text().splitlines()
    start = next(i for i, l in enumerate(lines) if l.rstrip() == f"  {name}:")
    block = []
    for line in lines[start + 1:]:
        if line.strip() and not line.startswith("    "):
            break
        block.append(line)
    return block


def template_queue_settings() -> dict[str, Any]:
    """The check queue's redrive settings from template.yaml (a tiny parser for the few
    scalars needed; the template uses CloudFormation tags PyYAML's safe loader refuses)."""
    block = _resource_block("CheckQueue")
    settings: dict[str, Any] = {}
    for line in block:
        key, _, value = line.strip().partition(":")
        value = value.strip()
        if key in ("VisibilityTimeout", "MessageRetentionPeriod", "maxReceiveCount"):
            settings[key] = int(value)
        elif key == "deadLetterTargetArn":
            settings[key] = value
    if "maxReceiveCount" not in settings:
        raise HarnessError("template.yaml: CheckQueue has no RedrivePolicy maxReceiveCount")
    return settings


def state_machine_definition(function_arn: str = FUNCTION_ARN, wait_seconds: int = 1) -> str:
    """statemachine/wait-for-indexing.asl.json with its DefinitionSubstitutions applied."""
    text = ASL_PATH.read_text()
    text = text.replace("${KendraWaiterFunctionArn}", function_arn).replace("${WaitSeconds}", str(int(wait_seconds)))
    json.loads(text)  # valid JSON once substituted
    return text


# --------------------------------------------------------------------------------------
# SQS helpers and the event source mapping
# --------------------------------------------------------------------------------------


@dataclass
class Queues:
    check_url: str
    check_arn: str
    dlq_url: str
    dlq_arn: str
    failure_url: str
    failure_arn: str


def create_queues(sqs, prefix: str, visibility_timeout: int = 2, max_receive_count: int | None = None) -> Queues:
    """The template's three queues: check queue (redrive to the DLQ), DLQ, failure queue."""
    settings = template_queue_settings()
    mrc = max_receive_count if max_receive_count is not None else settings["maxReceiveCount"]

    def arn(url: str) -> str:
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    dlq_url = sqs.create_queue(QueueName=f"{prefix}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    failure_url = sqs.create_queue(QueueName=f"{prefix}-failures", Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    dlq_arn = arn(dlq_url)
    check_url = sqs.create_queue(
        QueueName=f"{prefix}-check",
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "MessageRetentionPeriod": str(settings.get("MessageRetentionPeriod", 345600)),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": mrc}),
        },
    )["QueueUrl"]
    return Queues(check_url, arn(check_url), dlq_url, dlq_arn, failure_url, arn(failure_url))


def queue_counts(sqs, url: str) -> dict[str, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return {n: int(attrs.get(n, 0)) for n in names}


def queue_is_empty(sqs, url: str) -> bool:
    return sum(queue_counts(sqs, url).values()) == 0


def drain_queue(sqs, url: str, wait: float = 0.0) -> list[dict]:
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


def sqs_record(message: dict, queue_arn: str) -> dict:
    """One record of a Lambda SQS event, built from a ReceiveMessage message exactly as the
    event source mapping does."""
    attrs = dict(message.get("Attributes", {}))
    record_attrs = {
        k: attrs[k]
        for k in (
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
        if k in attrs
    }
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
        "attributes": record_attrs,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


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
        timeout_ms = self.invoke_timeout_ms if timeout_ms is None else timeout_ms
        messages = self.receive()
        if not messages:
            return None
        received_ms = now_ms()
        event = {"Records": [sqs_record(m, self.queue_arn) for m in messages]}
        result = self.runtime.invoke(event, timeout_ms=timeout_ms)
        poll = Poll(number=len(self.polls) + 1, received=messages, result=result, received_ms=received_ms)
        if result.ok:
            failures = [f.get("itemIdentifier") for f in (result.payload or {}).get("batchItemFailures", [])]
            poll.failures = failures
            failed = set(failures)
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages)
                if m["MessageId"] not in failed
            ]
            for i in range(0, len(entries), 10):
                answer = self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries[i:i + 10])
                poll.delete_failures += answer.get("Failed", [])
            poll.acknowledged = [m["MessageId"] for m in messages if m["MessageId"] not in failed]
        self.polls.append(poll)
        return poll

    def run_until_empty(self, timeout: float, on_poll: Callable[[Poll], None] | None = None, idle_sleep: float = 0.1) -> None:
        """Polls until the queue holds no message at all (visible, in flight or delayed)."""
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


# --------------------------------------------------------------------------------------
# The Step Functions loop, mirrored in Python
# --------------------------------------------------------------------------------------


@dataclass
class LoopOutcome:
    status: str  # SUCCEEDED, FAILED, or the error type that ended it
    output: Any
    rounds: list[Result]
    retries: int


def run_wait_loop(
    runtime: RuntimeApi,
    batch: dict,
    wait_seconds: float = 0.0,
    max_rounds: int = 1000,
    retry_errors: tuple[str, ...] = ("KendraUnavailable",),
    max_retries: int = 8,
    on_round: Callable[[int, Result], None] | None = None,
    timeout_ms: int | None = None,
) -> LoopOutcome:
    """CheckStatus -> RouteOnStatus -> WaitBeforeNextCheck -> CheckStatus, as the ASL does:
    KendraUnavailable is retried with the same input; ValidationError / KendraRequestError end
    the loop (the Catch paths)."""
    rounds: list[Result] = []
    retries = 0
    state = batch
    for n in range(max_rounds):
        result = runtime.invoke(state, timeout_ms=timeout_ms)
        rounds.append(result)
        if on_round:
            on_round(n + 1, result)
        if not result.ok:
            if result.error_type in retry_errors and retries < max_retries:
                retries += 1
                continue
            return LoopOutcome(result.error_type or "Error", result, rounds, retries)
        status = (result.payload or {}).get("status")
        if status in ("SUCCEEDED", "FAILED"):
            return LoopOutcome(status, result.payload, rounds, retries)
        if status != "PENDING":
            return LoopOutcome("UnexpectedStatus", result.payload, rounds, retries)
        state = result.payload
        if wait_seconds:
            time.sleep(wait_seconds)  # the state machine's Wait state, not a synchronisation
    raise HarnessError(f"the loop did not end within {max_rounds} rounds")


class Stack:
    """kendra-local + Runtime API + function process (+ optional moto server endpoint),
    stopped together by ``close()`` in reverse order."""

    def __init__(self) -> None:
        self._closers: list[Callable[[], Any]] = []

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


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
