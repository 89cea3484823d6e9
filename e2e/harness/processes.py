"""The processes a test runs beside itself: the function's release binary behind a
``RuntimeApi``, and moto's server (SQS). kendra-local has its own module (kendra_local.py).

Each is a context manager whose ``close()`` stops the process, so a failing test leaves
nothing running; every port is 127.0.0.1 and picked by the OS.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import FUNCTION_NAME, REGION, HarnessError, endpoint_client, free_port, waiter_bin
from .runtime_api import RuntimeApi


def stop_process(proc: subprocess.Popen | None, grace: float = 5.0) -> int | None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit code (a clean shutdown
    on SIGTERM is something tests assert)."""
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


def lambda_environment(runtime: RuntimeApi) -> dict[str, str]:
    """The variables Lambda sets for a provided.al2023 function, with throw-away credentials
    (the emulators accept any SigV4 signature)."""
    return {
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


class FunctionProcess:
    """The release ``bootstrap`` binary, running against a ``RuntimeApi``.

    ``env`` is added to Lambda's variables; a value of None removes a variable (to test a
    missing one). stdout and stderr go to files in ``workdir`` so tests can read the logs and
    EMF records after the fact.
    """

    def __init__(
        self,
        runtime: RuntimeApi,
        env: dict[str, str | None] | None = None,
        *,
        kendra_endpoint: str | None = None,
        sqs_endpoint: str | None = None,
        workdir: Path | None = None,
        name: str = "function",
        base_env: bool = True,
        register_liveness: bool = True,
    ) -> None:
        self.runtime = runtime
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="kendra-waiter-fn-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = self.workdir / f"{name}.stdout"
        self.stderr_path = self.workdir / f"{name}.stderr"
        self.env = self._environment(env, base_env, kendra_endpoint, sqs_endpoint)
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(waiter_bin())],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
            cwd=str(self.workdir),
        )
        if register_liveness:
            runtime.liveness_check = self.check_alive

    def _environment(
        self, env: dict[str, str | None] | None, base_env: bool, kendra_endpoint: str | None, sqs_endpoint: str | None
    ) -> dict[str, str]:
        """Only PATH from the test's own environment: the function must not pick up the
        developer's AWS settings."""
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        if base_env:
            full_env.update(lambda_environment(self.runtime))
            if kendra_endpoint:
                full_env["AWS_ENDPOINT_URL_KENDRA"] = kendra_endpoint
            if sqs_endpoint:
                full_env["AWS_ENDPOINT_URL_SQS"] = sqs_endpoint
        for k, v in (env or {}).items():
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = v
        return full_env

    def check_alive(self) -> None:
        """Raises with the tail of the logs when the process has exited: the reason a test
        waiting on an answer should fail."""
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
        """Every stdout line that is a JSON object (JSON logs and EMF records)."""
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
        """The CloudWatch Embedded Metric Format records, one per invocation."""
        return [r for r in self.json_lines() if isinstance(r.get("_aws"), dict)]

    def close(self) -> int | None:
        if self.runtime.liveness_check == self.check_alive:
            self.runtime.liveness_check = None
        rc = stop_process(self.proc)
        self._out.close()
        self._err.close()
        return rc

    def __enter__(self) -> "FunctionProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class MotoServer:
    """``python -m moto.server`` on 127.0.0.1 and a free port, for SQS: the function is a
    separate process and needs a real endpoint (in-process moto only patches Python)."""

    def __init__(self, workdir: Path | None = None, start_timeout: float = 60.0, attempts: int = 3) -> None:
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="moto-server-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "moto.log"
        self._log = open(self.log_path, "ab")
        last_error = ""
        # A port free when picked can be taken before moto binds it: try a few.
        for _ in range(attempts):
            if self._start(start_timeout):
                return
            last_error = f"exit code {self.proc.poll()}"
            stop_process(self.proc)
        self._log.close()
        raise HarnessError(f"moto server did not start ({last_error}); log: {self.log_path}")

    def _start(self, start_timeout: float) -> bool:
        """Starts one server and polls until it answers, the process exits, or time is up."""
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
                return True
            time.sleep(0.05)
        return False

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
        """Forgets every queue: each test starts from an empty account."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("POST", "/moto-api/reset")
        conn.getresponse().read()
        conn.close()

    def client(self, service: str):
        """A boto3 client of this server, with few retries so a broken server shows quickly."""
        return endpoint_client(service, self.endpoint)

    def close(self) -> None:
        stop_process(self.proc)
        self._log.close()

    def __enter__(self) -> "MotoServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
