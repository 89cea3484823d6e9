"""A stand-in for kendra-waiter, written in Python, for state machine tests that are about
the state machine (its loop, Choice, Retry and Catch), not about the function.

It is a runtime like the release binary: it takes invocations from a ``RuntimeApi`` with
``GET .../invocation/next`` and answers them, so the state machine reaches it by exactly the
same path (Invoke API -> RuntimeApi) as it reaches the real function, and nothing inside moto
has to be patched.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from typing import Any

from .runtime_api import NEXT_PATH, RuntimeApi


class FakeFunction:
    """Documents finish in the round that brings ``attempt`` to ``finish_at``; ids in
    ``fail_docs`` end up FAILED. ``error=(errorType, message)`` fails every invocation with
    that error; ``transient_errors=n`` fails the next n with KendraUnavailable. Every batch it
    was given is in ``payloads``. Override ``answer`` for other behaviour."""

    def __init__(self, runtime: RuntimeApi, finish_at: int = 1, fail_docs=(), error=None, transient_errors: int = 0) -> None:
        self.runtime = runtime
        self.finish_at = finish_at
        self.fail_docs = set(fail_docs)
        self.error = error
        self.transient_errors = transient_errors
        self.payloads: list[dict] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    # -- what the function answers --------------------------------------------------------
    def answer(self, batch: dict) -> tuple[str, dict]:
        """("response", round result) or ("error", {errorType, errorMessage}) for one batch."""
        if self.error:
            return self._error(*self.error)
        if self.transient_errors:
            self.transient_errors -= 1
            return self._error("KendraUnavailable", "ThrottlingException: slow down")
        return "response", self.round_result(batch)

    def round_result(self, batch: dict) -> dict:
        """The contract's result of one round: ``attempt`` + 1, and every document either
        still pending or, from ``finish_at`` on, succeeded or failed."""
        ids = [d if isinstance(d, str) else d["documentId"] for d in batch["documents"]]
        attempt = batch.get("attempt", 0) + 1
        result = dict(batch, attempt=attempt, counts={"PROCESSING": len(ids)})
        result.setdefault("succeeded", 0)
        result.setdefault("failed", [])
        if attempt >= self.finish_at:
            failed = [{"documentId": i, "status": "FAILED", "code": "500", "reason": "bad"} for i in ids if i in self.fail_docs]
            result["succeeded"] += len(ids) - len(failed)
            result["failed"] = result["failed"] + failed
            result["documents"] = []
            result["counts"] = {"INDEXED": len(ids) - len(failed), "FAILED": len(failed)}
        result["status"] = "PENDING" if result["documents"] else "FAILED" if result["failed"] else "SUCCEEDED"
        return result

    @staticmethod
    def _error(error_type: str, message: str) -> tuple[str, dict]:
        return "error", {"errorType": error_type, "errorMessage": message}

    # -- the runtime loop -----------------------------------------------------------------
    def _serve(self) -> None:
        """GET next, answer, repeat, until closed or the Runtime API shuts down."""
        while True:
            with self._lock:  # close() sees every connection it has to wake
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
                batch = json.loads(body)
                self.payloads.append(batch)
                kind, payload = self._answer_safely(batch)
                self._post(f"/2018-06-01/runtime/invocation/{request_id}/{kind}", payload)
            except (OSError, http.client.HTTPException):
                return  # closed under us
            finally:
                self._conn.close()

    def _answer_safely(self, batch: dict) -> tuple[str, dict]:
        """A bug in an ``answer`` override becomes a function error the test sees at once,
        not an invocation that never gets an answer."""
        try:
            return self.answer(batch)
        except Exception as e:
            return self._error(f"FakeFunction.{type(e).__name__}", str(e))

    def _post(self, path: str, payload: Any) -> None:
        assert self._conn is not None
        self._conn.request("POST", path, body=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
        self._conn.getresponse().read()

    def close(self) -> None:
        """Stops taking invocations: shutting the socket down wakes the GET that is waiting,
        and the Runtime API sees the runtime gone and keeps its invocations for others."""
        with self._lock:
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
