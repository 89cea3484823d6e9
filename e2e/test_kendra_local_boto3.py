"""kendra-local against a client nobody here wrote: boto3 (botocore's own awsJson1_1
serializer, SigV4 signer, error parser and retry handler).

The emulator is the ``kendra-local`` binary (``$KENDRA_LOCAL_BIN``, else
target/release/kendra-local) run by harness.KendraLocal on a free 127.0.0.1 port and
stopped with SIGTERM at the end; the admin API arranges faults and reads the request log.
"""

from __future__ import annotations

import base64
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import REGION, KendraLocal

INDEX = "0123456789abcdef0123456789abcdef0123"


def client(emulator: KendraLocal, max_attempts: int = 3) -> Any:
    """A boto3 Kendra client of the emulator."""
    return boto3.client(
        "kendra",
        endpoint_url=emulator.endpoint,
        region_name=REGION,
        # Any SigV4 credentials are accepted.
        aws_access_key_id="AKIDBOTO3",
        aws_secret_access_key="secret",
        # botocore's "max_attempts" counts retries; "total_max_attempts" counts calls.
        config=Config(retries={"mode": "standard", "total_max_attempts": max_attempts}),
    )


@pytest.fixture
def emulator(e2e) -> KendraLocal:
    return e2e.kendra(indexes=[INDEX], indexing_checks=1)


def statuses(kendra: Any, ids: list[str]) -> tuple[dict[str, dict], dict[str, dict]]:
    out = kendra.batch_get_document_status(
        IndexId=INDEX, DocumentInfoList=[{"DocumentId": i} for i in ids]
    )
    return (
        {s["DocumentId"]: s for s in out["DocumentStatusList"]},
        {e["DocumentId"]: e for e in out["Errors"]},
    )


def test_put_get_delete_lifecycle(emulator: KendraLocal) -> None:
    kendra = client(emulator)
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

    ops = [(r["operation"], r["documentIds"]) for r in emulator.requests()]
    assert ops[0] == ("BatchPutDocument", ["doc-1", "fail-1", "reject-invalid-1"])
    assert ops[1] == ("BatchGetDocumentStatus", ["doc-1", "fail-1", "never-put", "error-invalid-1"])
    assert [o for o, _ in ops].count("BatchDeleteDocument") == 1


def test_errors_are_typed_for_botocore(emulator: KendraLocal) -> None:
    kendra = client(emulator)
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
    calls = emulator.requests()
    assert [c["error"] for c in calls] == [
        "ResourceNotFoundException",
        "ValidationException",
        "ValidationException",
        "ValidationException",
    ]


def test_botocore_retries_throttling_and_500s(emulator: KendraLocal) -> None:
    kendra = client(emulator, max_attempts=3)
    emulator.fail_next(2, "ThrottlingException")
    out = kendra.batch_get_document_status(IndexId=INDEX, DocumentInfoList=[{"DocumentId": "a"}])
    assert out["ResponseMetadata"]["RetryAttempts"] == 2
    assert [c["error"] for c in emulator.requests()] == [
        "ThrottlingException",
        "ThrottlingException",
        None,
    ]
    emulator.clear_requests()
    emulator.set_faults(internalErrorRate=1.0)
    with pytest.raises(ClientError) as exc:
        kendra.batch_get_document_status(IndexId=INDEX, DocumentInfoList=[{"DocumentId": "a"}])
    assert exc.value.response["Error"]["Code"] == "InternalServerException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert exc.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert len(emulator.requests()) == 3
    emulator.set_faults()
    kendra.batch_get_document_status(IndexId=INDEX, DocumentInfoList=[{"DocumentId": "a"}])


def test_index_operations(emulator: KendraLocal) -> None:
    kendra = client(emulator)
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


def test_stops_cleanly_on_sigterm(binaries, tmp_path) -> None:
    emu = KendraLocal(indexes=[INDEX], indexing_checks=None, workdir=tmp_path)
    try:
        kendra = client(emu)
        kendra.batch_put_document(IndexId=INDEX, Documents=[{"Id": "a", "Blob": base64.b64decode("eA==")}])
    finally:
        rc = emu.close()
    assert rc == 0
