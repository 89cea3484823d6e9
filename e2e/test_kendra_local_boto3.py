"""kendra-local against a client nobody here wrote: boto3 (botocore's own awsJson1_1
serializer, SigV4 signer, error parser and retry handler).

Starts the ``kendra-local`` binary itself on a free 127.0.0.1 port (``--port 0``; the port is
read from the first line it prints) and stops it with SIGTERM at the end. The binary is
``$KENDRA_LOCAL_BIN``, else target/release/kendra-local, built with cargo when missing.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import queue
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

REPO = Path(__file__).resolve().parent.parent
INDEX = "0123456789abcdef0123456789abcdef0123"
PREFIX = "kendra-local listening on "


def kendra_local_bin() -> Path:
    env = os.environ.get("KENDRA_LOCAL_BIN")
    if env:
        path = Path(env)
        if not path.is_file():
            pytest.fail(f"KENDRA_LOCAL_BIN={env} does not exist", pytrace=False)
        return path
    path = REPO / "target" / "release" / "kendra-local"
    if not path.is_file():
        subprocess.run(
            ["cargo", "build", "--release", "-p", "kendra-local", "--bin", "kendra-local"],
            cwd=REPO,
            check=True,
        )
    return path


class Emulator:
    """A running kendra-local process and its admin interface."""

    def __init__(self, *args: str) -> None:
        cmd = [str(kendra_local_bin()), "--port", "0", "--index", INDEX, *args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines: queue.Queue[str] = queue.Queue()

        def read_first_line() -> None:
            assert self.proc.stdout is not None
            lines.put(self.proc.stdout.readline().decode("utf-8", "replace"))

        threading.Thread(target=read_first_line, daemon=True).start()
        try:
            first = lines.get(timeout=30)
        except queue.Empty:
            self.proc.kill()
            pytest.fail("kendra-local printed nothing within 30s", pytrace=False)
        if not first.startswith(PREFIX):
            self.proc.kill()
            pytest.fail(f"unexpected first line {first!r}", pytrace=False)
        self.endpoint = first[len(PREFIX):].strip()
        host_port = self.endpoint.removeprefix("http://")
        self.host, _, port = host_port.rpartition(":")
        self.port = int(port)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, "/_kendra_local/" + path, body=data)
            resp = conn.getresponse()
            raw = resp.read()
            assert resp.status == 200, (method, path, resp.status, raw)
            return json.loads(raw) if raw else None
        finally:
            conn.close()

    def client(self, max_attempts: int = 3) -> Any:
        return boto3.client(
            "kendra",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            # Any SigV4 credentials are accepted.
            aws_access_key_id="AKIDBOTO3",
            aws_secret_access_key="secret",
            # botocore's "max_attempts" counts retries; "total_max_attempts" counts calls.
            config=Config(retries={"mode": "standard", "total_max_attempts": max_attempts}),
        )

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        if self.proc.stderr:
            self.proc.stderr.close()
        return self.proc.returncode


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator("--indexing-checks", "1")
    try:
        yield emu
    finally:
        emu.stop()


def statuses(kendra: Any, ids: list[str]) -> tuple[dict[str, dict], dict[str, dict]]:
    out = kendra.batch_get_document_status(
        IndexId=INDEX, DocumentInfoList=[{"DocumentId": i} for i in ids]
    )
    return (
        {s["DocumentId"]: s for s in out["DocumentStatusList"]},
        {e["DocumentId"]: e for e in out["Errors"]},
    )


def test_put_get_delete_lifecycle(emulator: Emulator) -> None:
    kendra = emulator.client()
    out = kendra.batch_put_document(
        IndexId=INDEX,
        Documents=[
            {
                "Id": "doc-1",
                "Title": "one",
                "Blob": b"hello kendra",
                "ContentType": "PLAIN_TEXT",
                "Attributes": [{"Key": "_category", "Value": {"StringValue": "test"}}],
            },
            {"Id": "fail-1", "Blob": b"x"},
            {"Id": "reject-invalid-1", "Blob": b"x"},
        ],
    )
    assert [(f["Id"], f["ErrorCode"]) for f in out["FailedDocuments"]] == [("reject-invalid-1", "InvalidRequest")]
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert len(out["ResponseMetadata"]["RequestId"]) == 36

    got, errors = statuses(kendra, ["doc-1", "fail-1", "never-put", "error-invalid-1"])
    assert got["doc-1"]["DocumentStatus"] == "PROCESSING"
    assert got["never-put"]["DocumentStatus"] == "NOT_FOUND"
    assert "error-invalid-1" not in got
    assert errors["error-invalid-1"]["ErrorCode"] == "InvalidRequest"
    assert "error-invalid-1" in errors["error-invalid-1"]["ErrorMessage"]

    got, _ = statuses(kendra, ["doc-1", "fail-1"])
    assert got["doc-1"]["DocumentStatus"] == "INDEXED"
    assert got["fail-1"]["DocumentStatus"] == "FAILED"
    assert got["fail-1"]["FailureCode"] == "KendraLocal.SimulatedFailure"
    assert got["fail-1"]["FailureReason"] == "simulated failure for document fail-1"

    out = kendra.batch_delete_document(IndexId=INDEX, DocumentIdList=["doc-1"])
    assert out["FailedDocuments"] == []
    got, _ = statuses(kendra, ["doc-1"])
    assert got["doc-1"]["DocumentStatus"] == "PROCESSING"
    got, _ = statuses(kendra, ["doc-1"])
    assert got["doc-1"]["DocumentStatus"] == "NOT_FOUND"

    ops = [(r["operation"], r["documentIds"]) for r in emulator.admin("GET", "requests")]
    assert ops[0] == ("BatchPutDocument", ["doc-1", "fail-1", "reject-invalid-1"])
    assert ops[1] == ("BatchGetDocumentStatus", ["doc-1", "fail-1", "never-put", "error-invalid-1"])
    assert [o for o, _ in ops].count("BatchDeleteDocument") == 1


def test_errors_are_typed_for_botocore(emulator: Emulator) -> None:
    kendra = emulator.client()
    with pytest.raises(kendra.exceptions.ResourceNotFoundException):
        kendra.batch_get_document_status(
            IndexId="f" * 36, DocumentInfoList=[{"DocumentId": "a"}]
        )
    # botocore checks minimum lengths itself but not maximums: those reach the server.
    with pytest.raises(kendra.exceptions.ValidationException) as exc:
        kendra.batch_get_document_status(
            IndexId=INDEX, DocumentInfoList=[{"DocumentId": str(i)} for i in range(11)]
        )
    assert "'documentInfoList'" in str(exc.value)
    with pytest.raises(kendra.exceptions.ValidationException) as exc:
        kendra.batch_delete_document(IndexId=INDEX, DocumentIdList=["x" * 2049])
    assert "'documentIdList.1.member'" in str(exc.value)
    with pytest.raises(kendra.exceptions.ValidationException) as exc:
        kendra.batch_put_document(IndexId=INDEX, Documents=[{"Id": "y" * 2049, "Blob": b"x"}])
    assert "'documents.1.member.id'" in str(exc.value)
    # Client errors are not retried: one call each.
    calls = emulator.admin("GET", "requests")
    assert [c["error"] for c in calls] == [
        "ResourceNotFoundException",
        "ValidationException",
        "ValidationException",
        "ValidationException",
    ]


def test_botocore_retries_throttling_and_500s(emulator: Emulator) -> None:
    kendra = emulator.client(max_attempts=3)
    emulator.admin("POST", "fail-next", {"count": 2, "error": "ThrottlingException"})
    out = kendra.batch_get_document_status(IndexId=INDEX, DocumentInfoList=[{"DocumentId": "a"}])
    assert out["ResponseMetadata"]["RetryAttempts"] == 2
    assert [c["error"] for c in emulator.admin("GET", "requests")] == [
        "ThrottlingException",
        "ThrottlingException",
        None,
    ]
    emulator.admin("DELETE", "requests")
    emulator.admin("PUT", "faults", {"internalErrorRate": 1.0})
    with pytest.raises(ClientError) as exc:
        kendra.batch_get_document_status(IndexId=INDEX, DocumentInfoList=[{"DocumentId": "a"}])
    assert exc.value.response["Error"]["Code"] == "InternalServerException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert exc.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert len(emulator.admin("GET", "requests")) == 3
    emulator.admin("PUT", "faults", {})
    kendra.batch_get_document_status(IndexId=INDEX, DocumentInfoList=[{"DocumentId": "a"}])


def test_index_operations(emulator: Emulator) -> None:
    kendra = emulator.client()
    created = kendra.create_index(Name="boto3-index", RoleArn="arn:aws:iam::123456789012:role/kendra")
    index_id = created["Id"]
    assert len(index_id) == 36
    described = kendra.describe_index(Id=index_id)
    assert described["Name"] == "boto3-index"
    assert described["Status"] == "ACTIVE"
    assert described["CreatedAt"].year >= 2024
    ids = [i["Id"] for i in kendra.list_indices()["IndexConfigurationSummaryItems"]]
    assert ids == [INDEX, index_id]
    kendra.delete_index(Id=index_id)
    with pytest.raises(kendra.exceptions.ResourceNotFoundException):
        kendra.describe_index(Id=index_id)


def test_stops_cleanly_on_sigterm() -> None:
    emu = Emulator()
    kendra = emu.client()
    kendra.batch_put_document(IndexId=INDEX, Documents=[{"Id": "a", "Blob": base64.b64decode("eA==")}])
    assert emu.stop() == 0
