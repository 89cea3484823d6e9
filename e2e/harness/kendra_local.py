"""The project's Kendra emulator (kendra-local) as a process, and its admin API.

The admin API (``/_kendra_local/...``) is how tests arrange Kendra's side: which documents
exist, which faults to inject, and afterwards which calls the function really made.
"""

from __future__ import annotations

import http.client
import json
import queue
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable

from .common import INDEX_ID, HarnessError, kendra_local_bin, wait_until
from .processes import stop_process

LISTENING = "kendra-local listening on "


class KendraLocal:
    """kendra-local on a free 127.0.0.1 port (``--port 0``; the address is read from the first
    line it prints), with the given indexes. ``indexing_checks``: status checks a document
    stays PROCESSING for (None leaves the emulator's default)."""

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
        line = self._first_line(start_timeout)
        if not line.startswith(LISTENING):
            self.close()
            raise HarnessError(
                f"kendra-local did not start: first line {line!r}; stderr: {self.stderr_path.read_text(errors='replace')[-2000:]}"
            )
        self.endpoint = line[len(LISTENING):].strip().rstrip("/")
        self.host, _, port = self.endpoint.split("://", 1)[1].partition(":")
        self.port = int(port)
        wait_until(self._health_ok, 10, "kendra-local health")

    def _first_line(self, timeout: float) -> str:
        """The first stdout line, read on a thread that keeps draining stdout afterwards so
        the emulator never blocks on a full pipe."""
        first: queue.Queue[str] = queue.Queue()

        def drain() -> None:
            assert self.proc.stdout is not None
            for i, raw in enumerate(iter(self.proc.stdout.readline, b"")):
                if i == 0:
                    first.put(raw.decode("utf-8", "replace").strip())
            first.put("")

        threading.Thread(target=drain, daemon=True).start()
        try:
            return first.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise HarnessError(f"kendra-local printed nothing within {timeout}s") from None

    # -- admin API ---------------------------------------------------------------------
    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        """One admin API call; a non-2xx answer is a HarnessError (the arrangement failed)."""
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
        """Every Kendra call the emulator answered, in order (operation, documentIds,
        error, inFlight, arrivedMs, ...)."""
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
        """The next ``count`` calls fail with ``error`` (an exact script, unlike the rates)."""
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

    def close(self) -> int | None:
        """Stops the emulator with SIGTERM; returns its exit code (0 is a clean shutdown)."""
        rc = stop_process(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._err.close()
        return rc

    def __enter__(self) -> "KendraLocal":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
