"""The release bootstrap against the Runtime API emulator and kendra-local: sample events,
init errors, the invocation deadline, error types."""

from __future__ import annotations

import json

import pytest

from harness.events import event_batches
from harness import (
    INDEX_ID,
    doc_id,
    expectations,
    load_event as load,
    received_message,
    sample_event_names,
    sqs_event,
    wait_until,
)

# events/ and events/expectations.json agree: e2e/test_events_shape.py checks that.
EXPECTATIONS = expectations()
SAMPLES = sample_event_names()


def put_ids(event) -> set[str]:
    ids = set()
    for batch in event_batches(event):
        if batch.get("operation", "PUT") == "PUT" and isinstance(batch.get("documents"), list):
            ids |= {doc_id(d) for d in batch["documents"] if isinstance(d, (str, dict)) and doc_id(d)}
    return ids


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_event(e2e, name):
    expected = EXPECTATIONS[name]
    event = load(name)
    kendra = e2e.kendra(indexing_checks=0)
    kendra.put_documents(put_ids(event))
    runtime = e2e.runtime()
    fn = e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)

    result = runtime.invoke(event)

    if "errorType" in expected:
        assert not result.ok, f"{name}: expected {expected['errorType']}, got {result}"
        assert result.error_type == expected["errorType"], result
        if "mentions" in expected:
            assert expected["mentions"] in result.error_message, result.error_message
        # Nothing was asked of Kendra for a rejected event.
        assert kendra.status_requests() == []
        return

    assert result.ok, f"{name}: {result}"
    payload = result.payload
    if expected.get("kind") == "sqs":
        assert len(event["Records"]) == expected["messages"]
        ids = [f["itemIdentifier"] for f in payload["batchItemFailures"]]
        assert all(ids), f"empty itemIdentifier in {payload}"
        assert sorted(ids) == sorted(expected.get("batchItemFailures", [])), payload
        emf = fn.emf_records()[-1]
        assert emf["source"] == "sqs"
        return

    # A direct batch whose documents are all indexed (PUT) or gone (DELETE).
    assert payload["operation"] == expected["operation"]
    assert payload["attempt"] == expected["attempt"]
    for key, value in expected.get("keeps", {}).items():
        assert payload[key] == value, f"correlation field {key} not kept"
    n = len(event["documents"])
    assert payload["documents"] == []
    assert payload["indexId"] == event["indexId"]
    assert payload["maxAttempts"] == event.get("maxAttempts", 60)
    assert payload["succeeded"] == event.get("succeeded", 0) + n
    assert payload["failed"] == event.get("failed", [])
    assert payload["status"] == ("FAILED" if payload["failed"] else "SUCCEEDED")
    target = "INDEXED" if expected["operation"] == "PUT" else "NOT_FOUND"
    assert payload["counts"] == {target: n}
    calls = kendra.status_requests()
    assert sorted(i for c in calls for i in c["documentIds"]) == sorted(doc_id(d) for d in event["documents"])
    emf = fn.emf_records()[-1]
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "KendraWaiter"
    assert (emf["DocumentsSucceeded"], emf["DocumentsFailed"], emf["DocumentsPending"]) == (n, 0, 0)
    assert emf["KendraCalls"] == len(calls)


def test_pending_round_returns_a_batch_the_loop_feeds_back(e2e):
    event = load("step-functions-put.json")
    kendra = e2e.kendra(indexing_checks=1)
    kendra.put_documents(put_ids(event))
    runtime = e2e.runtime()
    e2e.function(runtime, kendra=kendra)

    first = runtime.invoke(event)
    assert first.ok, first
    p = first.payload
    assert p["status"] == "PENDING"
    assert p["attempt"] == 1
    assert p["documents"] == event["documents"], "unfinished documents must come back in the form they came in"
    assert p["counts"] == {"PROCESSING": 4}
    assert (p["succeeded"], p["failed"], p["requestId"]) == (0, [], event["requestId"])

    second = runtime.invoke(p)
    assert second.ok, second
    assert second.payload["status"] == "SUCCEEDED"
    assert second.payload["attempt"] == 2
    assert second.payload["succeeded"] == 4
    assert second.payload["documents"] == []


def test_failed_and_timed_out_documents(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    docs = ["ok-1", "fail-1", "stuck-1", "error-invalid-1", "error-internal-1"]
    kendra.put_documents(docs)
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)

    result = runtime.invoke({"documents": docs, "maxAttempts": 1})
    assert result.ok, result
    p = result.payload
    assert p["status"] == "FAILED"
    assert p["documents"] == []
    assert p["succeeded"] == 1
    by_id = {f["documentId"]: f for f in p["failed"]}
    assert sorted(by_id) == ["error-internal-1", "error-invalid-1", "fail-1", "stuck-1"]
    assert by_id["fail-1"]["status"] == "FAILED" and by_id["fail-1"]["code"] == "KendraLocal.SimulatedFailure"
    assert by_id["error-invalid-1"]["status"] == "INVALID_REQUEST" and by_id["error-invalid-1"]["code"] == "InvalidRequest"
    assert by_id["stuck-1"]["status"] == "TIMED_OUT" and "code" not in by_id["stuck-1"]
    assert by_id["stuck-1"]["reason"].startswith("PROCESSING")
    assert by_id["error-internal-1"]["status"] == "TIMED_OUT"
    assert p["counts"] == {"INDEXED": 1, "FAILED": 1, "PROCESSING": 1, "ERROR": 2}


def test_sqs_fifo_group_stops_at_its_first_failure(e2e):
    event = load("sqs-fifo.json")
    kendra = e2e.kendra(indexing_checks=0)
    # tenant-a/doc-1 never put: NOT_FOUND keeps message 1 (group tenant-a) pending, so
    # message 3 (same group, a DELETE that would succeed) must be reported unprocessed too.
    kendra.put_documents(["tenant-b/doc-1", "tenant-b/doc-2", "tenant-b/doc-3"])
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)
    result = runtime.invoke(event)
    assert result.ok, result
    ids = [f["itemIdentifier"] for f in result.payload["batchItemFailures"]]
    assert ids == ["1f5f8a35-6a3c-4b8e-9a55-0c1c6bd1a001", "1f5f8a35-6a3c-4b8e-9a55-0c1c6bd1a003"]


def test_sqs_messages_share_status_calls(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    ids = [f"shared-{i}" for i in range(100)]
    kendra.put_documents(ids)
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)
    messages = [received_message({"documents": [doc]}, message_id=f"m-{i}") for i, doc in enumerate(ids)]
    result = runtime.invoke(sqs_event(messages))
    assert result.ok, result
    assert result.payload == {"batchItemFailures": []}
    assert len(kendra.status_requests()) == 10, "100 one-document messages must cost 10 calls"


def test_kendra_errors_have_their_error_types(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    runtime = e2e.runtime()
    # One call at a time, so the scripted errors hit one call's three SDK attempts.
    e2e.function(runtime, {"KENDRA_MAX_CONCURRENCY": "1"}, kendra=kendra)
    unknown_index = "99999999-2222-3333-4444-555555555555"
    r = runtime.invoke({"indexId": unknown_index, "documents": ["a"]})
    assert (r.error_type, "ResourceNotFoundException" in (r.error_message or "")) == ("KendraRequestError", True), r


    # Some calls succeed, one keeps failing: the round succeeds, its documents stay pending.
    kendra.put_documents([f"d{i}" for i in range(20)])
    kendra.clear_requests()
    kendra.fail_next(3, "InternalServerException")
    r = runtime.invoke({"indexId": INDEX_ID, "documents": [f"d{i}" for i in range(20)]}, timeout_ms=60_000)
    assert r.ok, r
    assert r.payload["status"] == "PENDING"
    assert r.payload["succeeded"] == 10 and len(r.payload["documents"]) == 10
    assert r.payload["counts"] == {"INDEXED": 10, "ERROR": 10}


def test_throttling_until_the_cutoff_is_kendra_unavailable(e2e):
    # Throttling is put back into the round and tried again, paced, until the cutoff
    # (deadline - DEADLINE_MARGIN_MS): a Kendra that throttles every call is unavailable.
    kendra = e2e.kendra(indexing_checks=0)
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_MAX_CONCURRENCY": "1"}, kendra=kendra)
    kendra.fail_next(1000, "ThrottlingException")
    r = runtime.invoke({"indexId": INDEX_ID, "documents": ["a"]}, timeout_ms=8000)
    assert r.error_type == "KendraUnavailable", r
    throttled = len(kendra.status_requests())
    assert 2 <= throttled < 30, f"{throttled} throttled calls: tried again, but paced"
    assert r.finished_ms <= r.deadline_ms, "answered before the deadline"


@pytest.mark.parametrize(
    "variable,value",
    [
        ("MAX_ATTEMPTS", "0"),
        ("KENDRA_MAX_CONCURRENCY", "x"),
        ("RETRY_QUEUE_URL", "http://127.0.0.1:1/123456789012/kendra-waiter-check.fifo"),
        ("RETRY_DELAY_SECONDS", "901"),
        ("KENDRA_INDEX_ID", "too-short"),
        ("MAX_DOCUMENTS", "-5"),
    ],
)
def test_bad_configuration_is_an_init_error(e2e, variable, value):
    runtime = e2e.runtime()
    fn = e2e.function(runtime, {variable: value}, register_liveness=False)
    assert runtime.init_error_event.wait(20), "no POST /runtime/init/error"
    rc = fn.wait_exit(20)
    assert rc != 0
    assert len(runtime.init_errors) == 1
    error = runtime.init_errors[0]
    assert error["errorType"] == "ConfigurationError"
    assert variable in error["errorMessage"]
    output = fn.stdout() + fn.stderr()
    assert "panicked" not in output
    assert variable in output, "the log should name the variable too"
    assert runtime.history == [] and runtime.next_calls == 0, "no invocation may be taken after a failed init"


def test_missing_runtime_environment_exits_without_panic(e2e):
    runtime = e2e.runtime()
    fn = e2e.function(runtime, {"AWS_LAMBDA_RUNTIME_API": None}, register_liveness=False)
    rc = fn.wait_exit(20)
    assert rc != 0
    output = fn.stdout() + fn.stderr()
    assert "panicked" not in output
    assert "AWS_LAMBDA_RUNTIME_API" in output


def test_deadline_is_honoured(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    docs = [f"slow-{i}" for i in range(25)]
    kendra.put_documents(docs)
    kendra.set_faults(latencyMs=2000)
    runtime = e2e.runtime()
    e2e.function(runtime, {"DEADLINE_MARGIN_MS": "300", "KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)

    result = runtime.invoke({"documents": docs, "requestId": "slow"}, timeout_ms=1500)
    assert result.ok, result
    assert result.finished_ms < result.deadline_ms, (
        f"answer came {result.finished_ms - result.deadline_ms} ms after the deadline"
    )
    p = result.payload
    assert p["status"] == "PENDING"
    assert p["counts"] == {"UNCHECKED": 25}
    assert p["documents"] == docs
    assert (p["attempt"], p["succeeded"], p["failed"], p["requestId"]) == (1, 0, [], "slow")
    assert len(kendra.status_requests()) >= 1, "calls should have started before the cutoff"


def test_no_time_left_is_pending_not_an_error(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    runtime = e2e.runtime()
    e2e.function(runtime, {"DEADLINE_MARGIN_MS": "1000", "KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)
    result = runtime.invoke({"documents": ["a", "b"]}, timeout_ms=500)
    assert result.ok, result
    assert result.payload["status"] == "PENDING"
    assert result.payload["counts"] == {"UNCHECKED": 2}
    assert result.payload["attempt"] == 1
    assert kendra.status_requests() == []


def test_json_logs_carry_the_request_id(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    runtime = e2e.runtime()
    fn = e2e.function(runtime, {"AWS_LAMBDA_LOG_FORMAT": "JSON", "KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)
    result = runtime.invoke({"documents": ["x"]})
    assert result.ok, result
    wait_until(lambda: any("invocation summary" in l for l in fn.stdout().splitlines()), 5, "the summary line")
    summary = [l for l in fn.json_lines() if "invocation summary" in json.dumps(l)]
    assert len(summary) == 1
    assert result.request_id in json.dumps(summary[0])


@pytest.mark.parametrize("level", ["INFO", "ERROR"])
def test_every_log_line_of_an_invocation_names_its_request(e2e, level):
    kendra = e2e.kendra(indexing_checks=0)
    runtime = e2e.runtime()
    fn = e2e.function(runtime, {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": level}, kendra=kendra)
    bad = runtime.invoke({"indexId": "short", "documents": ["x"]})
    assert bad.error_type == "ValidationError", bad
    good = runtime.invoke({"indexId": INDEX_ID, "documents": ["x"]})
    assert good.ok, good
    wait_until(lambda: fn.stdout().count("_aws") >= 2, 5, "both EMF records")
    logs = [l for l in fn.json_lines() if "_aws" not in l]
    bad_lines = [l for l in logs if l.get("span", {}).get("requestId") == bad.request_id]
    assert any(l["level"] == "ERROR" for l in bad_lines), logs
    if level == "INFO":
        assert any(l.get("span", {}).get("requestId") == good.request_id for l in logs), logs
    assert all(l.get("span", {}).get("requestId") in (bad.request_id, good.request_id) for l in logs), logs
    assert level == "INFO" or all(l["level"] in ("WARN", "ERROR") for l in logs), logs


# --- contract probes -------------------------------------------------------------------


def test_duplicates_are_one_document(e2e):
    kendra = e2e.kendra(indexing_checks=1)
    kendra.put_documents(["a", "b"])
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)
    docs = ["a", {"documentId": "a"}, "b", "a", {"documentId": "b", "attributes": {}}]
    first = runtime.invoke({"documents": docs})
    assert first.ok, first
    checked = [i for c in kendra.status_requests() for i in c["documentIds"]]
    assert sorted(checked) == ["a", "b"], "each document is checked once"
    assert first.payload["counts"] == {"PROCESSING": 2}
    pending_ids = [doc_id(d) for d in first.payload["documents"]]
    assert sorted(pending_ids) == ["a", "b"], f"listed once: {first.payload['documents']}"
    second = runtime.invoke(first.payload)
    assert second.ok, second
    assert second.payload["succeeded"] == 2 and second.payload["status"] == "SUCCEEDED"


def test_max_documents_counts_entries_as_given(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID, "MAX_DOCUMENTS": "3"}, kendra=kendra)
    r = runtime.invoke({"documents": ["a", "a", "b", "c"]})
    assert r.error_type == "ValidationError" and "documents" in r.error_message, r
    r = runtime.invoke({"documents": ["a", "a", "b"]})
    assert r.ok, r
    r = runtime.invoke({"documents": []})
    assert r.error_type == "ValidationError" and "documents" in r.error_message, r


def test_statuses_beyond_indexed(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    kendra.put_documents(["re-put", "update-fail-x", "status-WEIRD_NEW-1"])
    kendra.put_documents(["re-put", "update-fail-x"])  # put over a live document
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)
    r = runtime.invoke({"documents": ["re-put", "update-fail-x", "status-WEIRD_NEW-1"], "maxAttempts": 5})
    assert r.ok, r
    p = r.payload
    assert p["counts"] == {"UPDATED": 1, "UPDATE_FAILED": 1, "WEIRD_NEW": 1}
    assert p["succeeded"] == 1
    assert [(f["documentId"], f["status"]) for f in p["failed"]] == [("update-fail-x", "UPDATE_FAILED")]
    assert p["documents"] == ["status-WEIRD_NEW-1"], "an unknown status stays pending"
    assert p["status"] == "PENDING"


def test_delete_classification(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    kendra.put_documents(["still-there"])
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)
    r = runtime.invoke({"operation": "DELETE", "documents": ["still-there", "never-existed", "error-invalid-d", "fail-x"], "maxAttempts": 9})
    assert r.ok, r
    p = r.payload
    assert p["succeeded"] == 2  # never-existed and fail-x (never put): NOT_FOUND
    assert p["documents"] == ["still-there"]
    assert [(f["documentId"], f["status"]) for f in p["failed"]] == [("error-invalid-d", "INVALID_REQUEST")]
    assert p["counts"] == {"INDEXED": 1, "NOT_FOUND": 2, "ERROR": 1}


def test_max_attempts_default_comes_from_the_environment(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    kendra.put_documents(["stuck-env"])
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID, "MAX_ATTEMPTS": "2"}, kendra=kendra)
    first = runtime.invoke({"documents": ["stuck-env"]})
    assert first.ok and first.payload["maxAttempts"] == 2 and first.payload["status"] == "PENDING", first
    second = runtime.invoke(first.payload)
    assert second.ok, second
    assert second.payload["status"] == "FAILED"
    assert second.payload["failed"] == [{"documentId": "stuck-env", "status": "TIMED_OUT", "reason": "PROCESSING after 2 attempts"}]


def test_metrics_count_calls_not_sdk_retries(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    docs = [f"m{i}" for i in range(20)]
    kendra.put_documents(docs)
    runtime = e2e.runtime()
    fn = e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID, "KENDRA_MAX_CONCURRENCY": "1", "METRICS_NAMESPACE": "E2E"}, kendra=kendra)
    kendra.fail_next(3, "InternalServerException")  # the first call's three SDK attempts
    r = runtime.invoke({"documents": docs})
    assert r.ok, r
    assert len(kendra.status_requests()) == 4  # 3 attempts of the first call + the second call
    emf = fn.emf_records()[-1]
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "E2E"
    assert (emf["KendraCalls"], emf["KendraThrottled"]) == (2, 0)
    assert (emf["DocumentsSucceeded"], emf["DocumentsPending"], emf["DocumentsFailed"]) == (10, 10, 0)


def test_throttled_calls_are_tried_again_and_each_counted(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    docs = [f"t{i}" for i in range(20)]
    kendra.put_documents(docs)
    runtime = e2e.runtime()
    fn = e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID, "KENDRA_MAX_CONCURRENCY": "1"}, kendra=kendra)
    kendra.fail_next(2, "ThrottlingException")  # not retried by the SDK: the checker paces and tries again
    r = runtime.invoke({"documents": docs}, timeout_ms=30_000)
    assert r.ok, r
    assert r.payload["status"] == "SUCCEEDED" and r.payload["succeeded"] == 20
    assert len(kendra.status_requests()) == 4  # 2 throttled + 2 answered
    emf = fn.emf_records()[-1]
    assert (emf["KendraCalls"], emf["KendraThrottled"]) == (4, 2)
    assert emf["KendraCallRate"] > 0, "paced after throttling: the adapted rate is a metric"


def test_concurrency_cap(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    docs = [f"c{i}" for i in range(80)]
    kendra.put_documents(docs)
    kendra.set_faults(latencyMs=40)
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID, "KENDRA_MAX_CONCURRENCY": "3"}, kendra=kendra)
    r = runtime.invoke({"documents": docs})
    assert r.ok and r.payload["succeeded"] == 80, r
    in_flight = [c["inFlight"] for c in kendra.status_requests()]
    assert len(in_flight) == 8
    assert max(in_flight) == 3, in_flight


def test_rate_cap(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    docs = [f"r{i}" for i in range(100)]
    kendra.put_documents(docs)
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID, "KENDRA_MAX_RPS": "10"}, kendra=kendra)
    r = runtime.invoke({"documents": docs})
    assert r.ok and r.payload["succeeded"] == 100, r
    arrived = sorted(c["arrivedMs"] for c in kendra.status_requests())
    assert len(arrived) == 10
    # 10 calls at 10 per second: at least ~0.9 s from the first to the last.
    assert arrived[-1] - arrived[0] >= 850, arrived


def test_sqs_index_refused_only_fails_its_messages(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    kendra.put_documents(["good-1"])
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)
    bad_index = "99999999-2222-3333-4444-555555555555"
    messages = [
        received_message({"documents": ["good-1"]}, message_id="good"),
        received_message({"indexId": bad_index, "documents": ["x"]}, message_id="bad"),
    ]
    result = runtime.invoke(sqs_event(messages))
    assert result.ok, result
    assert result.payload == {"batchItemFailures": [{"itemIdentifier": "bad"}]}


BAD_BATCHES = [
    ({"documents": [{"documentId": "a", "attributes": {"flag": True}}]}, "attributes"),
    ({"documents": [{"documentId": "a", "attributes": {"tags": ["x", 1]}}]}, "attributes"),
    ({"documents": ["a"], "succeeded": -1}, "succeeded"),
    ({"documents": ["a"], "failed": "none"}, "failed"),
    ({"documents": ["a"], "attempt": 1.5}, "attempt"),
    ({"documents": ["a"], "attempt": "1"}, "attempt"),
    ({"documents": ["x" * 2049]}, "documentId"),
    ({"documents": [{"attributes": {}}]}, "documentId"),
    ({"documents": [17]}, "documents"),
    ({"indexId": "-1111111-2222-3333-4444-555555555555", "documents": ["a"]}, "indexId"),
    ({"indexId": "11111111_2222_3333_4444_555555555555", "documents": ["a"]}, "indexId"),
    ({"documents": ["a"], "maxAttempts": "many"}, "maxAttempts"),
    ({"documents": ["a"], "operation": "delete"}, "operation"),
    ([{"documents": ["a"]}], None),
    ("just a string", None),
]


@pytest.mark.parametrize("batch,field", BAD_BATCHES, ids=[f"bad-{i}" for i in range(len(BAD_BATCHES))])
def test_bad_batches_are_validation_errors(e2e, batch, field):
    kendra = e2e.kendra(indexing_checks=0)
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)
    r = runtime.invoke(batch)
    assert r.error_type == "ValidationError", r
    if field:
        assert field in r.error_message, r.error_message
    assert kendra.status_requests() == []


def test_limits_at_the_edges(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)
    long_id = "y" * 2048
    kendra.put_documents([long_id])
    r = runtime.invoke({"documents": [long_id]})
    assert r.ok and r.payload["succeeded"] == 1, r
    r = runtime.invoke({"documents": [f"n{i}" for i in range(5001)]})
    assert r.error_type == "ValidationError" and "documents" in r.error_message, r
    kendra.clear_requests()
    r = runtime.invoke({"operation": "DELETE", "documents": [f"n{i}" for i in range(5000)]})
    assert r.ok and r.payload["succeeded"] == 5000 and r.payload["status"] == "SUCCEEDED", r
    assert len(kendra.status_requests()) == 500


def test_correlation_data_is_returned_unchanged(e2e):
    kendra = e2e.kendra(indexing_checks=1)
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)
    extra = {"meta": {"a": [1, 2.5, {"b": None}], "s": "ü"}, "traceId": 7, "flag": False}
    kendra.put_documents(["k"])
    r = runtime.invoke({"documents": ["k"], **extra})
    assert r.ok, r
    assert {k: r.payload[k] for k in extra} == extra
    r2 = runtime.invoke(r.payload)
    assert r2.ok and {k: r2.payload[k] for k in extra} == extra


@pytest.mark.parametrize("code", ["AccessDeniedException", "ResourceNotFoundException", "ConflictException"])
def test_refusals_are_kendra_request_errors(e2e, code):
    kendra = e2e.kendra(indexing_checks=0)
    docs = [f"z{i}" for i in range(20)]
    kendra.put_documents(docs)
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID, "KENDRA_MAX_CONCURRENCY": "1"}, kendra=kendra)
    kendra.fail_next(1, code)
    r = runtime.invoke({"documents": docs})
    assert r.error_type == "KendraRequestError", r
    assert code in r.error_message


def test_a_document_kendra_refuses_fails_alone(e2e):
    # kendra-local refuses a whole call with ValidationException when it holds a reject- id:
    # the function splits the call until that document stands alone, and only it fails.
    kendra = e2e.kendra(indexing_checks=0)
    docs = [f"v{i}" for i in range(9)] + ["reject-7"]
    kendra.put_documents(docs)
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)
    r = runtime.invoke({"documents": docs + [{"documentId": "v-attr", "attributes": {"colour": "red"}}]})
    assert r.ok, r
    assert r.payload["succeeded"] == 9
    failed = {f["documentId"]: (f["status"], f["code"]) for f in r.payload["failed"]}
    assert failed == {"reject-7": ("INVALID_REQUEST", "ValidationException"),
                      "v-attr": ("INVALID_REQUEST", "InvalidAttributes")}
    assert all("v-attr" not in c["documentIds"] for c in kendra.status_requests()), "never sent"


def test_records_not_from_sqs_are_rejected(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    runtime = e2e.runtime()
    e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)
    standard = load("sqs-standard.json")
    mixed = {"Records": standard["Records"][:1] + load("invalid-s3-event.json")["Records"]}
    r = runtime.invoke(mixed)
    assert r.error_type == "ValidationError", r
    assert kendra.status_requests() == []
    empty_id = load("sqs-standard.json")
    empty_id["Records"][1]["messageId"] = ""
    r = runtime.invoke(empty_id)
    assert r.error_type == "ValidationError" and "messageId" in r.error_message, r


def test_sqs_body_that_is_not_a_batch_is_reported(e2e):
    kendra = e2e.kendra(indexing_checks=0)
    kendra.put_documents(["fine"])
    runtime = e2e.runtime()
    fn = e2e.function(runtime, {"KENDRA_INDEX_ID": INDEX_ID}, kendra=kendra)
    bodies = {"ok": {"documents": ["fine"]}, "empty-object": {}, "array": [1], "bad-op": {"documents": ["fine"], "operation": "NOPE"}}
    r = runtime.invoke(sqs_event(received_message(v, message_id=k) for k, v in bodies.items()))
    assert r.ok, r
    assert sorted(f["itemIdentifier"] for f in r.payload["batchItemFailures"]) == ["array", "bad-op", "empty-object"]
    errors = [l for l in fn.stdout().splitlines() if "ERROR" in l]
    assert len(errors) >= 3, "each bad body is logged at ERROR"
