"""statemachine/wait-for-ingest.asl.json on moto's Step Functions interpreter: a manifest in
S3 planned into batches by the stand-in function, a Distributed Map over the items object
waiting for each batch by callback (the stand-in's SQS side) or by the wait loop (nested
executions), every outcome recorded, one summary. Payload sizes are measured on every
history event moto writes, Distributed Map children included.
Run: .venv/bin/python -m pytest e2e/test_sm_ingest.py -q -p no:cacheprovider
"""

from __future__ import annotations

import json

from harness.common import INDEX_ID, STATES_PAYLOAD_LIMIT
from harness.fake_function import StandInMoto
from harness.stand_in import Behaviour

LONG = "-" + "q" * 100  # long ids: the manifest is far larger than a state may carry


def manifest_ids(ok: int, failing: int) -> list[str]:
    ids = [f"doc-{i:05d}{LONG}" for i in range(ok)] + [f"fail-{i:05d}{LONG}" for i in range(failing)]
    # Failures spread over the batches, not all in the last one.
    return sorted(ids, key=lambda i: (int(i.split("-")[1][:5]) % 7, i))


def ingest_input(manifest: str, **fields) -> dict:
    return {"indexId": INDEX_ID, "operation": "PUT", "manifest": manifest, "requestId": "ing-1", **fields}


def steps(function) -> list[str]:
    return [e["ingestStep"] for e in function.payloads if "ingestStep" in e]


def test_mixed_outcomes_by_callback_end_with_exact_counts():
    ids = manifest_ids(2_850, 150)
    with StandInMoto(Behaviour(finish_at=2), batch_size=300, max_concurrency=4) as s:
        worker = s.callback_worker()
        manifest = s.put_manifest("manifests/mixed.json", json.dumps(ids))
        assert len(json.dumps(ids)) > STATES_PAYLOAD_LIMIT
        end = s.run(s.ingest_arn, ingest_input(manifest, waitMode="callback"), timeout=120)
        listed = s.read_json(end.cause_json()["failedRef"]["s3Uri"])
        plan = next(e for e in s.function.payloads if e.get("ingestStep") == "plan")
        records = [e for e in s.function.payloads if e.get("ingestStep") == "record"]
        bodies = worker.bodies
        largest = s.sizes.largest
    assert end.status == "FAILED" and end.error == "DocumentsFailed", end
    summary = end.cause_json()
    assert summary == {"status": "FAILED", "total": 3000, "succeeded": 2850, "failedCount": 150, "failedRef": summary["failedRef"]}
    assert sorted(f["documentId"] for f in listed) == sorted(i for i in ids if i.startswith("fail-"))
    assert summary["failedRef"]["count"] == 150
    # The plan step got the execution input as its request, the execution name as ingestId.
    assert plan["request"]["manifest"] == manifest and plan["batchSize"] == 300
    assert plan["ingestId"] == end.arn.rsplit(":", 1)[1]
    # Ten batches, each waited for by callback (first message: the item plus taskToken), each recorded once.
    first_bodies = [b for b in bodies if b.get("attempt", 0) == 0]
    assert sorted(b["batchNumber"] for b in first_bodies) == list(range(1, 11))
    assert all("documentsRef" in b and "documents" not in b and b["requestId"] == "ing-1" for b in first_bodies)
    assert sorted(r["batchNumber"] for r in records) == list(range(1, 11))
    assert end.states == ["ResolveWaitMode", "Plan", "WaitForBatches", "Summarise", "CheckAccounting", "RouteOnSummary", "DocumentsFailed"]
    assert largest < STATES_PAYLOAD_LIMIT, largest


def test_mixed_outcomes_by_loop_use_nested_wait_loops():
    ids = manifest_ids(380, 20)
    with StandInMoto(Behaviour(finish_at=2), batch_size=100, max_concurrency=2) as s:
        manifest = s.put_manifest("manifests/mixed.jsonl", "\n".join(json.dumps(i) for i in ids) + "\n")
        end = s.run(s.ingest_arn, ingest_input(manifest, waitMode="loop"), timeout=120)
        loops = s.executions(s.loop_arn)
        loop_ends = [s.wait(e["executionArn"]) for e in loops]
        listed = s.read_json(end.cause_json()["failedRef"]["s3Uri"])
        largest = s.sizes.largest
    assert end.status == "FAILED" and end.error == "DocumentsFailed", end
    summary = end.cause_json()
    assert (summary["total"], summary["succeeded"], summary["failedCount"]) == (400, 380, 20)
    assert sorted(f["documentId"] for f in listed) == sorted(i for i in ids if i.startswith("fail-"))
    # One wait loop execution per batch, each ending with Succeed and its result (FAILED ones too).
    assert sorted(e["name"].split("-")[0] for e in loops) == ["batch1", "batch2", "batch3", "batch4"]
    assert all(e.status == "SUCCEEDED" and e.output["kendraWaiterIngest"] for e in loop_ends)
    failing = {n for n in range(1, 5) if any(i.startswith("fail-") for i in ids[(n - 1) * 100:n * 100])}
    assert {e.output["batchNumber"] for e in loop_ends if e.output["status"] == "FAILED"} == failing != set()
    assert largest < STATES_PAYLOAD_LIMIT, largest


def test_all_documents_index_from_a_csv_manifest():
    with StandInMoto(Behaviour(finish_at=1), batch_size=3) as s:
        s.callback_worker()
        csv_text = "documentId,title\n" + "".join(f"csv-{i},Title {i}\n" for i in range(10))
        manifest = s.put_manifest("manifests/docs.csv", csv_text)
        end = s.run(s.ingest_arn, ingest_input(manifest))
        recorded = steps(s.function)
    assert end.status == "SUCCEEDED", end
    assert end.output["status"] == "SUCCEEDED"
    assert (end.output["total"], end.output["succeeded"], end.output["failedCount"]) == (10, 10, 0)
    assert recorded.count("plan") == 1 and recorded.count("record") == 4 and recorded.count("summarise") == 1


def test_no_wait_mode_uses_the_stacks_default():
    for default in ("callback", "loop"):
        with StandInMoto(Behaviour(finish_at=1), batch_size=5, default_wait_mode=default) as s:
            worker = s.callback_worker()
            manifest = s.put_manifest("manifests/small.json", json.dumps([f"d-{i}" for i in range(10)]))
            end = s.run(s.ingest_arn, ingest_input(manifest))
            by_callback, by_loop = len(worker.bodies), len(s.executions(s.loop_arn))
        assert end.status == "SUCCEEDED" and end.output["succeeded"] == 10, end
        assert (by_callback, by_loop) == ((2, 0) if default == "callback" else (0, 2))


def test_an_unknown_wait_mode_is_refused_before_anything_is_planned():
    with StandInMoto() as s:
        manifest = s.put_manifest("manifests/x.json", json.dumps(["a"]))
        end = s.run(s.ingest_arn, ingest_input(manifest, waitMode="poll"))
        recorded = steps(s.function)
    assert end.status == "FAILED" and end.error == "ValidationError", end
    assert "waitMode" in end.cause
    assert recorded == []


def test_an_empty_manifest_is_refused_by_the_plan():
    # The function's plan step refuses a manifest without documents (ValidationError, not
    # retried): the ingest fails with it before any batch is waited for.
    with StandInMoto() as s:
        manifest = s.put_manifest("manifests/empty.json", "[]")
        end = s.run(s.ingest_arn, ingest_input(manifest))
        recorded = steps(s.function)
    assert end.status == "FAILED" and end.error == "ValidationError", end
    assert "lists no documents" in end.cause
    assert recorded == ["plan"]


def test_a_batch_that_cannot_be_waited_for_leaves_the_ingest_incomplete():
    # Kendra refuses one batch's documents: its wait fails, so it has no recorded outcome.
    # On AWS the Map fails (no tolerated failures) -> BatchesFailed; moto ignores a failed
    # Map child, so the summary's accounting catches it -> DocumentsUnaccounted. Both end
    # IngestIncomplete; never a SUCCEEDED ingest with documents unaccounted for.
    ids = [f"d-{i}" for i in range(8)] + ["refused-1", "refused-2"]
    with StandInMoto(Behaviour(finish_at=1, refuse="KendraRequestError"), batch_size=5) as s:
        s.callback_worker()
        manifest = s.put_manifest("manifests/refused.json", json.dumps(ids))
        end = s.run(s.ingest_arn, ingest_input(manifest))
    assert end.status == "FAILED" and end.error == "IngestIncomplete", end
    if end.states[-1] == "DocumentsUnaccounted":
        summary = end.cause_json()
        assert (summary["total"], summary["succeeded"] + summary["failedCount"]) == (10, 5)
    else:
        assert end.states[-1] == "BatchesFailed"
