"""The demo's phases on the shared moto (scripts/demo.py, phases 3 and 4): callback mode, and an
ingest from a manifest in S3, each waited for by task token. The real binary reaches the same
moto the state machines run in (harness.moto_shared.SharedMoto); an event source mapping
(SqsPoller) runs in the background; each round is printed once its outcome is known."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import harness
from demo_output import phase, say
from harness import INDEX_ID, FunctionProcess, KendraLocal, RuntimeApi, SqsPoller, doc_id
from harness.moto_shared import CALLBACK_URI, INGEST_URI, BackgroundPoller, SharedMoto, TaskCall, function_environment

CALLBACK_DOCS = ["guides/onboarding.md", "guides/security.md", {"documentId": "guides/api.md", "attributes": {"version": "2"}}]
# The ingest's manifest: 2,500 handbook pages, 5 of them fail (batches of 1,000: the first
# batch is clean, the second holds 3 failures, the third 2).
INGEST_TOTAL = 2500
INGEST_FAILING = (1290, 1291, 1777, 2048, 2400)
PAYLOAD_BUCKET = "kendra-waiter-payloads-demo"


@dataclass
class SharedAws:
    moto: SharedMoto
    queues: harness.Queues
    poller: BackgroundPoller  # the event source mapping, polling the check queue on a thread


def start_shared_moto(stack: harness.Stack, workdir: Path, kendra: KendraLocal, runtime: RuntimeApi) -> SharedAws:
    """moto (Step Functions, SQS, S3) shared by the state machines and the function, the
    template's queues and payload bucket, the function with the template's environment
    (but republish delays of 1-2 s), and the event source mapping on a thread."""
    moto = stack.add(SharedMoto(runtime).open())
    sqs = moto.client("sqs")
    queues = harness.create_queues(sqs, "demo-cb", visibility_timeout=30)
    moto.client("s3").create_bucket(Bucket=PAYLOAD_BUCKET)
    env = function_environment(
        moto, retry_queue_url=queues.check_url, bucket=PAYLOAD_BUCKET, KENDRA_INDEX_ID=INDEX_ID, RETRY_DELAY_SECONDS="1", RETRY_MAX_DELAY_SECONDS="2"
    )
    stack.add(FunctionProcess(runtime, env, kendra_endpoint=kendra.endpoint, workdir=workdir, name="callback"))
    poller = SqsPoller(sqs, runtime, queues.check_url, queues.check_arn, batch_size=10, invoke_timeout_ms=20_000)
    say(f"  moto (Step Functions, SQS, S3) in this process; the function reaches it at {moto.endpoint}")
    say(f"  check queue: {queues.check_url.rsplit('/', 1)[-1]}; payload bucket: {PAYLOAD_BUCKET}")
    return SharedAws(moto, queues, stack.add(BackgroundPoller(poller)))


@dataclass
class TokenRound:
    """One round of a batch waiting on a task token: the poll that delivered its message,
    the heartbeat the function sent, the batch after the round (the body it republished, or
    the result it answered the token with) and that answer, in the last round."""

    poll: harness.Poll
    heartbeat: TaskCall | None
    after: dict
    answer: TaskCall | None


def _json(text: str | None):
    """A task answer's output or cause: JSON, or the text as it came."""
    try:
        return json.loads(text or "")
    except ValueError:
        return text


def token_rounds(polls: list[harness.Poll], aws: SharedAws, token: str) -> list[TokenRound]:
    """The rounds of ``token``'s batch whose outcome is known so far, in order."""
    mine = [(p, b) for p in polls for b in (json.loads(m["Body"]) for m in p.received) if b.get("taskToken") == token]
    beats = aws.moto.tasks.of("heartbeat", token)
    answers = aws.moto.tasks.of("success", token) + aws.moto.tasks.of("failure", token)
    rounds = []
    for k, (poll, _) in enumerate(mine):
        answer = None
        if k + 1 < len(mine):
            after = mine[k + 1][1]  # the function republished the batch: the next round's message
        elif answers and poll.result is not None and answers[0].at_ms <= poll.result.finished_ms:
            answer = answers[0]
            after = _json(answer.output if answer.kind == "success" else answer.cause)
            if not isinstance(after, dict):  # a refused batch: the cause is a message
                after = {"cause": after}
        else:
            break  # still waiting out its delay, or still being checked
        rounds.append(TokenRound(poll, beats[k] if k < len(beats) else None, after, answer))
    return rounds


class RoundPrinter:
    """Prints every round of every batch on the check queue once its outcome is known
    (polls from now on: an earlier phase's rounds are not shown again)."""

    def __init__(self, aws: SharedAws) -> None:
        self.aws = aws
        self.since = len(aws.poller.polls)
        self.shown: dict[str, int] = {}

    def polls(self) -> list[harness.Poll]:
        return list(self.aws.poller.polls)[self.since:]

    def first_bodies(self, polls: list[harness.Poll]) -> dict[str, dict]:
        """Each task token's first message body (the batch as the state machine sent it)."""
        out: dict[str, dict] = {}
        for p in polls:
            for m in p.received:
                body = json.loads(m["Body"])
                if "taskToken" in body:
                    out.setdefault(body["taskToken"], body)
        return out

    def rounds(self) -> int:
        return sum(self.shown.values())

    def show_new(self) -> None:
        fresh = []
        polls = self.polls()
        for token, first in self.first_bodies(polls).items():
            rounds = token_rounds(polls, self.aws, token)
            for k in range(self.shown.get(token, 0), len(rounds)):
                fresh.append((rounds[k].poll.number, first.get("batchNumber", 0), k + 1, rounds[k]))
            self.shown[token] = len(rounds)
        for _, batch, k, r in sorted(fresh, key=lambda f: f[:3]):
            show_token_round(f"batch {batch}, round {k}: " if batch else f"round {k}: ", r)

    def all_answers_returned(self) -> bool:
        """Every task answer's invocation has returned to the poller (the answer is sent
        before the invocation ends, so the execution can end first)."""
        answers = self.aws.moto.tasks.of("success") + self.aws.moto.tasks.of("failure")
        finished = [p.result.finished_ms for p in list(self.aws.poller.polls) if p.result is not None]
        return not answers or (bool(finished) and max(finished) >= max(a.at_ms for a in answers))


def say_json(label: str, value) -> None:
    """A JSON object, one top-level field a line (the block as a whole is JSON); anything
    else on one line."""
    if not isinstance(value, dict):
        say(f"     {label}: {json.dumps(value)}")
        return
    say(f"     {label}: {{")
    fields = list(value.items())
    for n, (k, v) in enumerate(fields, start=1):
        say(f"       {json.dumps(k)}: {json.dumps(v)}{',' if n < len(fields) else ''}")
    say("     }")


def show_token_round(label: str, r: TokenRound) -> None:
    a = r.after
    counts = ", ".join(f"{k} {v}" for k, v in sorted(a.get("counts", {}).items())) or "-"
    say(f"  {label}attempt {a.get('attempt')}/{a.get('maxAttempts')}  status {a.get('status', '?'):<9}  Kendra saw: {counts}")
    beat = "not sent" if r.heartbeat is None else "accepted" if r.heartbeat.answer is None else f"refused ({r.heartbeat.answer})"
    if r.answer is None:
        then = "republished to the check queue, to be checked again after its delay"
    elif r.answer.kind == "success":
        then = "SendTaskSuccess with the final result"
    else:
        failed = a.get("failedCount", len(a.get("failed", [])))
        then = f"SendTaskFailure {r.answer.error} ({failed} failed, {a.get('succeeded')} indexed)"
    say(f"      heartbeat: {beat}  ->  {then}")


def follow(aws: SharedAws, arn: str, printer: RoundPrinter, timeout: float, on_poll=lambda: None) -> harness.Execution:
    """Prints rounds as they finish until the execution ends (bounded), then the rest."""
    deadline = time.monotonic() + timeout
    while aws.moto.sfn.client.describe_execution(executionArn=arn)["status"] == "RUNNING":
        on_poll()
        printer.show_new()
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {arn} still RUNNING after {timeout:.0f} s")
        time.sleep(0.1)
    execution = aws.moto.wait(arn, timeout=10)
    harness.wait_until(printer.all_answers_returned, 20, "the last round's invocation to return")
    on_poll()
    printer.show_new()
    return execution


def callback_phase(stack: harness.Stack, workdir: Path, kendra: KendraLocal, runtime: RuntimeApi) -> SharedAws:
    phase(
        "3. Callback mode: one task for the whole wait",
        "The callback state machine (statemachine/wait-for-indexing-callback.asl.json) "
        "sends the batch, plus a task token, to the check queue once and sleeps: one "
        "state transition for the whole wait instead of about three a round. The "
        "function, fed by the event source mapping as in phase 2, checks the batch each "
        "round, sends a heartbeat for the token (the batch is still being checked), "
        "republishes it while documents are pending, and finally answers the token: "
        "SendTaskSuccess with the final result, or SendTaskFailure DocumentsFailed. "
        "From here on moto runs in this process and serves the same state to the function.",
    )
    aws = start_shared_moto(stack, workdir, kendra, runtime)
    machine = aws.moto.create_state_machine(CALLBACK_URI, CheckQueueUrl=aws.queues.check_url)
    kendra.put_documents([doc_id(d) for d in CALLBACK_DOCS])
    batch = {"indexId": INDEX_ID, "operation": "PUT", "documents": CALLBACK_DOCS, "maxAttempts": 10, "requestId": "demo-callback"}
    arn = aws.moto.start(machine, batch, name="demo-callback")
    say(f"  started an execution with {len(CALLBACK_DOCS)} documents: {', '.join(doc_id(d) for d in CALLBACK_DOCS)}")
    say()
    printer = RoundPrinter(aws)
    execution = follow(aws, arn, printer, timeout=60)
    ended = f"{execution.status} ({execution.error})" if execution.error else execution.status
    say(f"  -> the callback execution ended {ended} after {printer.rounds()} round(s)")
    say(f"     states entered: {', '.join(execution.states)} (one task for every round)")
    if execution.output is not None:
        say_json("output", execution.output)
    else:
        say_json("cause", _json(execution.cause))
    return aws


def ingest_ids() -> list[str]:
    return [f"{'fail-' if i in INGEST_FAILING else ''}handbook/page-{i:04d}.html" for i in range(1, INGEST_TOTAL + 1)]


def ingest_phase(aws: SharedAws, kendra: KendraLocal) -> None:
    phase(
        "4. An ingest from a manifest in S3",
        "The ingest state machine (statemachine/wait-for-ingest.asl.json) takes a manifest "
        "in S3 instead of a list of documents, so it can be of any size. Plan (the "
        "function) splits it into batches of 1,000 stored in S3; a Distributed Map waits "
        "for every batch by callback, as in phase 3, several at once, and records each "
        "outcome (a batch with failures answers DocumentsFailed, recorded like any "
        "other); Summarise merges them into one result with exact counts and failedRef, "
        "one S3 object listing every failed document. Only small references pass between "
        "states, whatever the manifest's size. With failures the ingest ends "
        "DocumentsFailed, the summary as its cause.",
    )
    ids = ingest_ids()
    kendra.put_documents(ids)
    manifest = "documentId,title\n" + "".join(f"{d},Handbook page {n}\n" for n, d in enumerate(ids, start=1))
    key = "manifests/handbook.csv"
    s3 = aws.moto.client("s3")
    s3.put_object(Bucket=PAYLOAD_BUCKET, Key=key, Body=manifest.encode())
    failing = [d for d in ids if d.startswith("fail-")]
    say(f"  manifest s3://{PAYLOAD_BUCKET}/{key}: {len(ids)} documents ({len(manifest):,} bytes of CSV), {len(failing)} of them 'fail-' ids:")
    for line in manifest.splitlines()[:3]:
        say(f"     {line}")
    say("     ...")
    machine = aws.moto.create_state_machine(
        INGEST_URI, CheckQueueUrl=aws.queues.check_url, WaitForIndexingStateMachineArn=aws.moto.loop_arn, PayloadBucketName=PAYLOAD_BUCKET, BatchSize=1000
    )
    request = {"indexId": INDEX_ID, "operation": "PUT", "manifest": f"s3://{PAYLOAD_BUCKET}/{key}", "waitMode": "callback", "requestId": "demo-ingest"}
    arn = aws.moto.start(machine, request, name="demo-ingest")
    say(f"  started the ingest: {json.dumps(request)}")
    say()
    printer = RoundPrinter(aws)
    plan_shown = []

    def show_plan() -> None:
        if plan_shown:
            return
        results = [r for r in harness.Execution(arn, "RUNNING", events=aws.moto.sfn.history(arn)).rounds if r.ok]
        if not results:
            return
        plan = results[0].payload
        plan_shown.append(plan)
        say(f"  Plan: {plan['total']} documents in {plan['batchCount']} batches; the items list: s3://{plan['itemsBucket']}/{plan['itemsKey']}")
        items = json.loads(s3.get_object(Bucket=plan["itemsBucket"], Key=plan["itemsKey"])["Body"].read())
        for item in items:
            say(f"     batch {item['batchNumber']}: {item['documentsRef']['count']} documents in {item['documentsRef']['s3Uri']}")
        say()

    execution = follow(aws, arn, printer, timeout=120, on_poll=show_plan)
    ended = f"{execution.status} ({execution.error})" if execution.error else execution.status
    summary = execution.output if execution.output is not None else _json(execution.cause)
    say(f"  -> the ingest ended {ended} after {printer.rounds()} batch round(s)")
    where = "its output" if execution.output is not None else "the DocumentsFailed error's cause; without failures it is the output"
    say_json(f"summary ({where})", summary)
    ref = summary.get("failedRef") if isinstance(summary, dict) else None
    if ref:
        bucket, _, ref_key = ref["s3Uri"].removeprefix("s3://").partition("/")
        listed = json.loads(s3.get_object(Bucket=bucket, Key=ref_key)["Body"].read())
        say(f"  failedRef lists {len(listed)} failed document(s); the first ones:")
        for f in listed[:5]:
            say(f"     failed: {f['documentId']} ({f['status']}, {f.get('code', '-')})")
