"""The benchmark's scenarios (bench/run.py describes each): the release ``bootstrap`` against
the release ``kendra-local``, driven through the e2e harness's Lambda Runtime API emulator,
plus the helpers that read a process's CPU time and peak RSS from /proc."""

from __future__ import annotations

import http.client
import json
import math
import os
import statistics
import threading
import time
import uuid

import harness
from harness import FunctionProcess, KendraLocal, RuntimeApi, received_message, sqs_event

INDEX = harness.INDEX_ID
CLK_TCK = os.sysconf("SC_CLK_TCK")
SQS_ARN = f"arn:aws:sqs:{harness.REGION}:{harness.ACCOUNT_ID}:bench-check-queue"

# Extra environment for the function (run.py --env), for experiments.
EXTRA_ENV: dict[str, str] = {}


def cpu_split(pid: int) -> tuple[float, float]:
    """(utime, stime) of the whole process (all threads), in seconds: user space (our code,
    the SDK, the allocator) and the kernel (syscalls of the HTTP round trips, scheduling)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15.
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    return sum(cpu_split(pid))


def proc_status(pid: int, key: str) -> int:
    """A kB value from /proc/<pid>/status (VmHWM, VmRSS, ...), in kB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def wait_ready(runtime: RuntimeApi, fn: FunctionProcess, timeout: float = 20.0) -> None:
    """Waits for the function's first GET next (the end of its init), failing at once if it
    exits instead."""
    harness.wait_until(lambda: runtime.first_next is not None or fn.proc.poll() is not None,
                       timeout, "the function's first GET next", interval=0.001)
    fn.check_alive()


def function_env(kendra: KendraLocal, **extra: str) -> dict[str, str]:
    """The function's environment for a scenario, with --env's experiments on top."""
    env = {"KENDRA_INDEX_ID": INDEX, "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    env.update(EXTRA_ENV)
    env.update(extra)
    return env


def status_calls(kendra: KendraLocal) -> list[dict]:
    return kendra.status_requests()


def median(values: list[float]) -> float:
    return statistics.median(values)


def bench_cpu(kendra: KendraLocal, repeats: int, documents: int = 100_000, pending: bool = False) -> dict:
    """(1) CPU per document of one round of ``documents`` distinct documents; a fresh process
    per run, CPU counted from after its init.

    By default every document is put into kendra-local first, so every answer is INDEXED and
    the result is the short summary of a finished batch. With ``pending`` (the scenario of the
    issue-6 table) no document is put: every answer is NOT_FOUND and every document comes back
    pending, a 1.9 MB answer that the function no longer returns directly since Part 2 capped
    a direct result at MAX_RESULT_BYTES (256 KiB at most; longer lists go to S3); only the
    binaries from before that can run it (bench/compare.py --pending)."""
    kendra.set_faults()
    ids = [f"bench-doc-{i:06d}" for i in range(documents)]
    if not pending:
        kendra.put_documents(ids)
    event = {"indexId": INDEX, "documents": ids}
    per_doc_us, user_us, sys_us, init_cpu, wall = [], [], [], [], []
    calls = None
    for _ in range(repeats):
        kendra.clear_requests()
        with RuntimeApi(default_timeout_ms=600_000) as runtime, FunctionProcess(
            runtime, function_env(kendra, MAX_DOCUMENTS=str(documents)), kendra_endpoint=kendra.endpoint,
            name="cpu",
        ) as fn:
            wait_ready(runtime, fn)
            time.sleep(0.05)  # let init finish settling (nothing runs: it waits in GET next)
            user_before, sys_before = cpu_split(fn.proc.pid)
            result = runtime.invoke(event, timeout_ms=600_000)
            user_after, sys_after = cpu_split(fn.proc.pid)
            before, after = user_before + sys_before, user_after + sys_after
            if not result.ok:
                raise SystemExit(f"cpu run failed: {result!r}")
            expected = {"NOT_FOUND": documents} if pending else {"INDEXED": documents}
            if result.payload.get("counts") != expected:
                raise SystemExit(f"cpu run: counts {result.payload.get('counts')}, expected {expected}")
            per_doc_us.append((after - before) / documents * 1e6)
            user_us.append((user_after - user_before) / documents * 1e6)
            sys_us.append((sys_after - sys_before) / documents * 1e6)
            init_cpu.append(before)
            wall.append((result.finished_ms - result.delivered_ms) / 1000)
            calls = len(status_calls(kendra))
    if not pending:
        kendra.delete_documents(ids)
    return {
        "documents": documents,
        "answers": "NOT_FOUND (pending)" if pending else "INDEXED",
        "calls": calls,
        "cpu_us_per_doc_runs": per_doc_us,
        "cpu_us_per_doc": median(per_doc_us),
        "user_us_per_doc": median(user_us),
        "sys_us_per_doc": median(sys_us),
        "init_cpu_s": median(init_cpu),
        "wall_s": median(wall),
    }


def one_throughput_run(kendra: KendraLocal, documents: int, env: dict[str, str], faults: dict,
                       warm: bool = False) -> dict:
    """One invocation of (2) in a fresh process: wall time from delivery to answer, the calls
    kendra-local logged, CPU and peak RSS of the process. ``warm``: the process first answers
    one invocation of the same size (not measured), as a warm Lambda process would have; its
    pacing state (the window a cold process opens from one call) carries over."""
    kendra.set_faults(**faults)
    event = {"indexId": INDEX, "documents": [f"tp-{uuid.uuid4().hex[:8]}-{i}" for i in range(documents)]}
    with RuntimeApi(default_timeout_ms=120_000) as runtime, FunctionProcess(
        runtime, function_env(kendra, **env), kendra_endpoint=kendra.endpoint, name="throughput",
    ) as fn:
        wait_ready(runtime, fn)
        if warm:
            warm_up = {"indexId": INDEX, "documents": [f"warm-{uuid.uuid4().hex[:8]}-{i}" for i in range(documents)]}
            if not runtime.invoke(warm_up, timeout_ms=120_000).ok:
                raise SystemExit("throughput warm-up failed")
            time.sleep(1.1)  # a fresh second of kendra-local's bucket in (2b)
        kendra.clear_requests()
        time.sleep(0.05)
        cpu_before = cpu_seconds(fn.proc.pid)
        result = runtime.invoke(event, timeout_ms=120_000)
        cpu_after = cpu_seconds(fn.proc.pid)
        hwm_kb = proc_status(fn.proc.pid, "VmHWM")
        # The peak's two kinds: private memory (heap, stacks) and pages of the mapped binary
        # and libraries (clean, shared, reclaimable; they grow with the binary's size).
        anon_kb, file_kb = proc_status(fn.proc.pid, "RssAnon"), proc_status(fn.proc.pid, "RssFile")
        if not result.ok:
            raise SystemExit(f"throughput run failed: {result!r}")
        emf = fn.emf_records()[-1:]
    calls = status_calls(kendra)
    errors = [r for r in calls if r.get("error")]
    wall = (result.finished_ms - result.delivered_ms) / 1000
    arrivals = sorted(r["arrivedMs"] for r in calls)
    return {
        "wall_s": wall,
        "docs_per_s": documents / wall,
        "calls": len(calls),
        "errors": len(errors),
        "error_kinds": sorted({r["error"] for r in errors}),
        "throttled_metric": sum(int(r.get("KendraThrottled", 0)) for r in emf),
        "peak_rss_kb": hwm_kb,
        "rss_anon_kb": anon_kb,
        "rss_file_kb": file_kb,
        "cpu_s": cpu_after - cpu_before,
        "call_span_s": (arrivals[-1] - arrivals[0]) / 1000 if arrivals else 0.0,
        "max_in_flight": max((r["inFlight"] for r in calls), default=0),
        "pending": len(result.payload["documents"]),
    }


def reference_client(kendra: KendraLocal, documents: int = 5_000, concurrency: int = 10) -> dict:
    """The same 500 BatchGetDocumentStatus calls made by a minimal client (10 threads, one
    keep-alive connection each, no signing, no SDK): the rate kendra-local itself allows with
    its 20 ms of added latency, i.e. the practical ceiling of scenario (2a)."""
    ids = [f"ref-{i}" for i in range(documents)]
    bodies = [json.dumps({"IndexId": INDEX, "DocumentInfoList": [{"DocumentId": d} for d in ids[i:i + 10]]}).encode()
              for i in range(0, documents, 10)]
    work = list(range(len(bodies)))
    lock = threading.Lock()
    errors = []

    def lane() -> None:
        conn = http.client.HTTPConnection(kendra.host, kendra.port, timeout=30)
        while True:
            with lock:
                if not work:
                    break
                i = work.pop()
            conn.request("POST", "/", body=bodies[i], headers={
                "X-Amz-Target": "AWSKendraFrontendService.BatchGetDocumentStatus",
                "Content-Type": "application/x-amz-json-1.1"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                errors.append(resp.status)
        conn.close()

    threads = [threading.Thread(target=lane) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {"wall_s": wall, "docs_per_s": documents / wall, "errors": len(errors)}


def bench_throughput(kendra: KendraLocal, repeats: int, documents: int = 5_000) -> dict:
    """(2a) in a fresh (cold) process and in a warm one, (2b), against their ideal rates, plus
    the reference client's rate: the ceiling kendra-local itself allows on this machine."""
    out = {}
    setups = {
        "latency": ({"KENDRA_MAX_CONCURRENCY": "10"}, {"latencyMs": 20}, 5_000.0, False),
        "latency_warm": ({"KENDRA_MAX_CONCURRENCY": "10"}, {"latencyMs": 20}, 5_000.0, True),
        "rps": ({"KENDRA_MAX_CONCURRENCY": "10", "KENDRA_MAX_RPS": "100"},
                {"latencyMs": 20, "maxRps": 100}, 1_000.0, False),
    }
    for name, (env, faults, ideal, warm) in setups.items():
        runs = [one_throughput_run(kendra, documents, env, faults, warm) for _ in range(repeats)]
        rates = [r["docs_per_s"] for r in runs]
        mid = sorted(runs, key=lambda r: r["docs_per_s"])[len(runs) // 2]
        out[name] = {
            "ideal": ideal,
            "runs_docs_per_s": rates,
            "docs_per_s": median(rates),
            "fraction": median(rates) / ideal,
            "errors_total": sum(r["errors"] for r in runs),
            "error_kinds": sorted({k for r in runs for k in r["error_kinds"]}),
            "peak_rss_kb_runs": [r["peak_rss_kb"] for r in runs],
            "peak_rss_kb": median([r["peak_rss_kb"] for r in runs]),
            "median_run": mid,
        }
    kendra.set_faults(latencyMs=20)
    refs = [reference_client(kendra, documents) for _ in range(repeats)]
    kendra.set_faults()
    rates = [r["docs_per_s"] for r in refs]
    out["reference"] = {"runs_docs_per_s": rates, "docs_per_s": median(rates),
                        "errors": sum(r["errors"] for r in refs)}
    return out


def bench_sqs_event(bodies: list[dict]) -> dict:
    """An SQS event of one-receive messages with these bodies, as the event source mapping
    would deliver them."""
    return sqs_event([received_message(body) for body in bodies], SQS_ARN)


def bench_sqs(kendra: KendraLocal, messages: int = 1_000) -> dict:
    """(3) Status calls per SQS event of one-document messages: coalescing means ceil(n/10)."""
    kendra.set_faults()
    out = {}
    with RuntimeApi() as runtime, FunctionProcess(
        runtime, function_env(kendra), kendra_endpoint=kendra.endpoint, name="sqs",
    ) as fn:
        wait_ready(runtime, fn)
        for size in (10, 100):
            per_event = []
            for start in range(0, messages, size):
                bodies = [{"indexId": INDEX, "documents": [f"sqs-{size}-{i}"]}
                          for i in range(start, min(start + size, messages))]
                kendra.clear_requests()
                result = runtime.invoke(bench_sqs_event(bodies))
                if not result.ok:
                    raise SystemExit(f"sqs run failed: {result!r}")
                per_event.append(len(status_calls(kendra)))
            expected = [math.ceil(min(size, messages - s) / 10) for s in range(0, messages, size)]
            out[size] = {
                "events": len(per_event),
                "calls_total": sum(per_event),
                "calls_per_event": sorted(set(per_event)),
                "exact": per_event == expected,
                "expected_per_event": sorted(set(expected)),
            }
    return out


def bench_cold(kendra: KendraLocal, runs: int) -> dict:
    """(4) Milliseconds from spawning the process to its first GET next."""
    times = []
    for _ in range(runs):
        with RuntimeApi() as runtime:
            start = time.perf_counter()
            with FunctionProcess(runtime, function_env(kendra), kendra_endpoint=kendra.endpoint,
                                 name="cold") as fn:
                wait_ready(runtime, fn)
                times.append((runtime.first_next - start) * 1000)
        time.sleep(0.05)
    return {"runs_ms": times, "median_ms": median(times)}
