#!/usr/bin/env python3
"""kendra-waiter, locally, in about half a minute.

Runs the real release binary (target/release/bootstrap) behind a Lambda Runtime API
emulator, against kendra-local (a Kendra emulator) and moto (SQS, S3, Step Functions):

  1. the Step Functions wait loop: the template's state machine
     (statemachine/wait-for-indexing.asl.json) run by moto's Step Functions interpreter,
     its task invoking the function: a PUT batch that ends FAILED (one document fails to
     index) and a DELETE batch that ends SUCCEEDED;
  2. the SQS path: batches on a check queue, unfinished ones republished to it with a
     delay, the failure report landing in the failure queue;
  3. callback mode: statemachine/wait-for-indexing-callback.asl.json sends the batch and a
     task token to the check queue and sleeps; the function heartbeats every round and
     answers the token (SendTaskSuccess here);
  4. an ingest: statemachine/wait-for-ingest.asl.json over a 2,500-document CSV manifest in
     S3: planned into 3 batches, each waited for by callback, summarised into exact counts
     and a failedRef object listing the 5 failed documents.

scripts/demo.sh builds the binaries and runs this. By hand, from the repository root:
    cargo build --release --workspace --bins
    PYTHONPATH=e2e .venv/bin/python scripts/demo.py
(KENDRA_WAITER_BIN and KENDRA_LOCAL_BIN point it at other binaries.)
Everything it starts listens on 127.0.0.1 only and is stopped on exit, Ctrl-C or error.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import tempfile
from pathlib import Path

try:
    import harness
except ModuleNotFoundError as e:  # the harness lives in e2e/, which must be on the path
    if e.name != "harness":
        raise
    sys.exit("demo: the e2e harness is not importable: run scripts/demo.sh, or set PYTHONPATH=e2e at the repository root")
from harness import INDEX_ID, FunctionProcess, KendraLocal, LocalStepFunctions, MotoServer, RuntimeApi, SqsPoller, doc_id
from demo_output import phase, say  # noqa: E402
from demo_tokens import callback_phase, ingest_phase  # noqa: E402

PUT_DOCS = [
    "manuals/getting-started.pdf",
    {"documentId": "manuals/admin-guide.pdf", "attributes": {"version": "3"}},
    "faq/billing.md",
    "fail-faq/corrupted-scan.pdf",
]
DELETE_DOCS = ["archive/2019/report.pdf", "archive/2019/old-pricing.md"]
SQS_BATCHES = {
    "sqs-ingest-1": {"documents": ["blog/launch.md", "blog/roadmap.md"]},
    "sqs-ingest-2": {"documents": ["kb/reset-password.md", "fail-kb/broken-table.html"]},
    "sqs-cleanup-1": {"operation": "DELETE", "documents": ["kb/legacy-faq.md"]},
}


def show_round(r: harness.Round) -> None:
    """One CheckStatus invocation, as the execution history records it."""
    if not r.ok:
        message = json.loads(r.cause or "{}").get("errorMessage", "")
        say(f"  round {r.number}: the function failed with {r.error}: {message} (the state machine's Retry decides)")
        return
    p = r.payload
    counts = ", ".join(f"{k} {v}" for k, v in sorted(p.get("counts", {}).items())) or "-"
    say(f"  attempt {p['attempt']}/{p['maxAttempts']}  status {p['status']:<9}  Kendra saw: {counts}")
    say(f"      succeeded so far: {p['succeeded']}   failed so far: {len(p['failed'])}")
    if p["documents"]:
        say(f"      still pending: {', '.join(doc_id(d) for d in p['documents'])}")


def show_outcome(execution: harness.Execution) -> None:
    """How the execution ended, and the documents that failed (the last round's list)."""
    ended = f"{execution.status} ({execution.error})" if execution.error else execution.status
    say(f"  -> the execution ended {ended} after {len(execution.rounds)} round(s)")
    for f in (execution.last_result or {}).get("failed", []):
        say(f"     failed: {f['documentId']} ({f['status']}, {f.get('code', '-')}): {f.get('reason', '')}")


def start_kendra(stack: harness.Stack, workdir: Path) -> KendraLocal:
    """kendra-local with the demo index and documents: every status is PROCESSING twice, so
    the loop visibly takes rounds."""
    phase(
        "Setup",
        "Starting kendra-local with one index. Its documents stay PROCESSING for their "
        "first 2 status checks, so the wait takes a few rounds. Ids starting with 'fail-' "
        "fail to index, like a corrupt file would in Kendra.",
    )
    kendra = stack.add(KendraLocal(indexes=[INDEX_ID], indexing_checks=2, workdir=workdir / "kendra"))
    say(f"  kendra-local: {kendra.endpoint} (index {INDEX_ID})")
    kendra.put_documents([doc_id(d) for d in PUT_DOCS])
    kendra.put_documents(DELETE_DOCS)
    kendra.delete_documents(DELETE_DOCS)
    say(f"  put {len(PUT_DOCS)} documents, deleting {len(DELETE_DOCS)} others")
    return kendra


def step_functions_phase(stack: harness.Stack, workdir: Path, kendra: KendraLocal, runtime: RuntimeApi) -> None:
    """Phase 1: the template's state machine, with the function as its task; stops both
    afterwards, so phase 2's function is the only one taking invocations."""
    fn = stack.add(FunctionProcess(runtime, {"KENDRA_INDEX_ID": INDEX_ID}, kendra_endpoint=kendra.endpoint, workdir=workdir, name="sfn"))
    say(f"  Lambda Runtime API emulator: {runtime.endpoint}; function: {harness.waiter_bin()}")
    phase(
        "1. Step Functions wait loop (PUT)",
        "The template's state machine (statemachine/wait-for-indexing.asl.json), run by "
        "moto's Step Functions interpreter. Each round its CheckStatus task invokes the "
        "function with the batch; the function asks Kendra for the status of every "
        "document and returns the same batch with only the unfinished documents left. The "
        "state machine waits 1 s and feeds that result back in, until the status is "
        "SUCCEEDED or FAILED.",
    )
    sfn = stack.add(LocalStepFunctions(runtime, wait_seconds=1).open())
    put_batch = {"indexId": INDEX_ID, "operation": "PUT", "documents": PUT_DOCS, "maxAttempts": 10, "requestId": "demo-put"}
    show_outcome(sfn.run(put_batch, timeout=120, on_round=show_round))
    phase(
        "1b. Step Functions wait loop (DELETE)",
        "Same loop for deleted documents: a DELETE batch is done when Kendra reports "
        "NOT_FOUND for every document.",
    )
    delete_batch = {"operation": "DELETE", "documents": DELETE_DOCS, "requestId": "demo-delete"}
    show_outcome(sfn.run(delete_batch, timeout=120, on_round=show_round))
    sfn.close()
    fn.close()


def sqs_phase(stack: harness.Stack, workdir: Path, kendra: KendraLocal, runtime: RuntimeApi) -> None:
    """Phase 2: the template's queues on a moto server, the function republishing unfinished
    batches, a poller playing the event source mapping until the check queue is empty."""
    phase(
        "2. SQS with retries",
        "Now the same function behind an SQS queue (a moto server). Each message is one "
        "batch. A poller plays Lambda's event source mapping: it receives messages, "
        "invokes the function, and deletes every message not listed in batchItemFailures. "
        "Unfinished batches are republished by the function to the same queue with a "
        "1 s delay (RETRY_QUEUE_URL); finished batches with failures are reported to the "
        "failure queue.",
    )
    say("  starting moto server (SQS)...")
    moto = stack.add(MotoServer(workdir=workdir / "moto"))
    sqs = moto.client("sqs")
    queues = harness.create_queues(sqs, "demo", visibility_timeout=5)
    say(f"  check queue:   {queues.check_url}")
    say(f"  failure queue: {queues.failure_url}")
    kendra.put_documents(["blog/launch.md", "blog/roadmap.md", "kb/reset-password.md", "fail-kb/broken-table.html", "kb/legacy-faq.md"])
    kendra.delete_documents(["kb/legacy-faq.md"])
    env = {
        "KENDRA_INDEX_ID": INDEX_ID,
        "RETRY_QUEUE_URL": queues.check_url,
        "RETRY_DELAY_SECONDS": "1",
        "RETRY_MAX_DELAY_SECONDS": "4",
        "FAILURE_QUEUE_URL": queues.failure_url,
    }
    fn = stack.add(FunctionProcess(runtime, env, kendra_endpoint=kendra.endpoint, sqs_endpoint=moto.endpoint, workdir=workdir, name="sqs"))
    for rid, batch in SQS_BATCHES.items():
        sqs.send_message(QueueUrl=queues.check_url, MessageBody=json.dumps({**batch, "requestId": rid}))
    say(f"  sent {len(SQS_BATCHES)} messages: {', '.join(SQS_BATCHES)}")
    say()
    poller = SqsPoller(sqs, runtime, queues.check_url, queues.check_arn, batch_size=10)
    poller.run_until_empty(timeout=120, on_poll=lambda poll: show_poll(poll, sqs, queues.check_url))
    say("  the check queue is empty")
    show_reports(harness.drain_queue(sqs, queues.failure_url))
    fn.close()  # phases 3 and 4 run the function configured for another moto
    moto.close()


def show_poll(poll: harness.Poll, sqs, check_url: str) -> None:
    """One poll of the event source mapping: what came in, what went back."""
    labels = []
    for m in poll.received:
        body = json.loads(m["Body"])
        labels.append(f"{body.get('requestId')}(attempt {body.get('attempt', 0)})")
    delayed = harness.queue_counts(sqs, check_url)["ApproximateNumberOfMessagesDelayed"]
    say(f"  poll {poll.number}: received {len(poll.received)}: {', '.join(labels)}")
    failures = poll.failures or "none"
    say(f"      batchItemFailures: {failures}   acknowledged: {len(poll.acknowledged)}   republished (waiting out their delay): {delayed}")


def show_reports(reports: list[dict]) -> None:
    """The failure queue's messages: one report per finished batch with failed documents."""
    say(f"  failure queue: {len(reports)} report(s)")
    for m in reports:
        r = json.loads(m["Body"])
        for f in r["failed"]:
            say(f"     {r.get('requestId')}: {f['documentId']} {f['status']} ({f.get('code', '-')}); {r['succeeded']} other document(s) indexed")


# --------------------------------------------------------------------------------------
# Phases 3 and 4: the state machines that wait by callback, on one moto shared with the
# function (harness.moto_shared: moto's interpreter in this process, and a moto server
# thread answering the function from the same state).
# --------------------------------------------------------------------------------------


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="kendra-waiter-demo-"))
    stack = harness.Stack()
    interrupted = False
    try:
        kendra = start_kendra(stack, workdir)
        runtime = stack.add(RuntimeApi())
        step_functions_phase(stack, workdir, kendra, runtime)
        sqs_phase(stack, workdir, kendra, runtime)
        aws = callback_phase(stack, workdir, kendra, runtime)
        ingest_phase(aws, kendra)
        say()
        say("Done. Everything started by the demo is being stopped.")
        return 0
    except KeyboardInterrupt:
        say("\ninterrupted; stopping everything")
        interrupted = True
        return 130
    finally:
        try:
            stack.close()
        except Exception:
            # Ctrl-C reaches the function too, so the poller's invocation may fail: nothing
            # to report when the demo was stopped on purpose.
            if not interrupted:
                raise
        finally:
            harness.remove_tree(workdir)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    # The interpreter logs each Fail state as an exception; the demo shows the outcome itself.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    # Ctrl-C and SIGTERM both stop the demo through its cleanup, even when started from a
    # shell that ignores SIGINT for background jobs.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        sys.exit(main())
    except harness.HarnessError as e:
        print(f"demo: {e}", file=sys.stderr)
        sys.exit(1)
