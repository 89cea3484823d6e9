"""The fleet scenario (issue 12): K function processes share one Kendra quota.

K release ``bootstrap`` processes, each behind its own Runtime API emulator, get one direct
invocation each, handed out at the same moment, against ONE kendra-local started with
``--max-rps 50 --latency-ms 20`` (a token bucket of 50 calls/s, one-second burst, answering
``ThrottlingException`` above it). 8,000 distinct documents in all, 8,000/K per process, every
one put into kendra-local first so it answers INDEXED. Each invocation has a 60 s deadline; the
function runs with its defaults (``KENDRA_MAX_CONCURRENCY=10``, no ``KENDRA_MAX_RPS``), so the
only thing that keeps the fleet under the quota is the function's adaptive pacing.

Per run:
- checked: documents whose observation is a status (the results' ``counts`` minus
  ``UNCHECKED`` and ``ERROR``), over 8,000;
- throttled: ``ThrottlingException`` answers over all ``BatchGetDocumentStatus`` calls in
  kendra-local's request log;
- wall: from the first invocation handed out (Runtime API ``delivered_ms``) to the last
  answer (``finished_ms``), against the ideal of 800 calls exactly at 50/s = 16 s;
- per process: ``KendraCalls``, ``KendraThrottled`` and ``KendraCallRate`` from its EMF line,
  its CPU time and calls/throttles counted from the request log (the document ids say whose).

A fresh kendra-local per run, so every run starts with a full bucket and an empty log.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from contextlib import ExitStack

import harness
from harness import FunctionProcess, KendraLocal, RuntimeApi
from measure import EXTRA_ENV, cpu_seconds, wait_ready

INDEX = harness.INDEX_ID
QUOTA = 50  # calls/s, kendra-local --max-rps
LATENCY_MS = 20
TOTAL_DOCUMENTS = 8_000
DEADLINE_MS = 60_000
PER_CALL = 10
IDEAL_S = TOTAL_DOCUMENTS / PER_CALL / QUOTA  # 800 calls at 50/s = 16 s
THROTTLED = "ThrottlingException"


def doc_ids(run: int, process: int, count: int) -> list[str]:
    """Distinct ids; the process number is readable back from the id (``f<run>-p<k>-<i>``)."""
    return [f"f{run}-p{process:02d}-{i:05d}" for i in range(count)]


def owner(document_id: str) -> int:
    return int(document_id.split("-", 2)[1][1:])


def fleet_env(documents: int) -> dict[str, str]:
    """The function's environment: its defaults, except MAX_DOCUMENTS for K = 1 (8,000 is
    over the default 5,000). No KENDRA_MAX_RPS: the fleet finds the quota by itself."""
    env = {"KENDRA_INDEX_ID": INDEX, "AWS_LAMBDA_LOG_LEVEL": "INFO", "MAX_DOCUMENTS": str(max(documents, 5000))}
    env.update(EXTRA_ENV)
    return env


def invoke_together(runtimes: list[RuntimeApi], events: list[dict]) -> list:
    """One invocation per runtime, queued at the same moment (a barrier releases the K
    invoking threads at once); the results in runtime order."""
    barrier = threading.Barrier(len(runtimes))
    results: list = [None] * len(runtimes)
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            barrier.wait()
            results[i] = runtimes[i].invoke(events[i], timeout_ms=DEADLINE_MS)
        except BaseException as e:  # reported after the join
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(runtimes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def one_fleet_run(processes: int, run: int) -> dict:
    """K processes, one invocation each, against a fresh kendra-local."""
    per_process = TOTAL_DOCUMENTS // processes
    ids = [doc_ids(run, k, per_process) for k in range(processes)]
    args = ["--max-rps", str(QUOTA), "--latency-ms", str(LATENCY_MS)]
    with KendraLocal(indexing_checks=0, extra_args=args) as kendra, ExitStack() as stack:
        kendra.put_documents([d for chunk in ids for d in chunk])
        kendra.clear_requests()
        runtimes, fns = [], []
        for k in range(processes):
            runtime = stack.enter_context(RuntimeApi(default_timeout_ms=DEADLINE_MS))
            fn = stack.enter_context(FunctionProcess(
                runtime, fleet_env(per_process), kendra_endpoint=kendra.endpoint, name=f"fleet-{k:02d}"))
            runtimes.append(runtime)
            fns.append(fn)
        for runtime, fn in zip(runtimes, fns):
            wait_ready(runtime, fn)
        time.sleep(0.2)  # every process is waiting in GET next
        cpu_before = [cpu_seconds(fn.proc.pid) for fn in fns]
        events = [{"indexId": INDEX, "documents": chunk} for chunk in ids]
        results = invoke_together(runtimes, events)
        cpu_after = [cpu_seconds(fn.proc.pid) for fn in fns]
        log = kendra.status_requests()
        emf = [fn.emf_records() for fn in fns]
    return summarise(processes, per_process, results, log, emf,
                     [a - b for a, b in zip(cpu_after, cpu_before)])


def summarise(processes: int, per_process: int, results: list, log: list[dict], emf: list[list[dict]],
              cpu: list[float]) -> dict:
    """The run's figures from the answers, the request log and the EMF lines."""
    failed = [r for r in results if not r.ok]
    if failed:
        raise SystemExit(f"fleet run (K={processes}) failed: {failed[0]!r}")
    counts: dict[str, int] = {}
    for r in results:
        for key, n in r.payload.get("counts", {}).items():
            counts[key] = counts.get(key, 0) + n
    checked = sum(n for key, n in counts.items() if key not in ("UNCHECKED", "ERROR"))
    throttled = [r for r in log if r.get("error") == THROTTLED]
    other_errors = sorted({r["error"] for r in log if r.get("error") and r["error"] != THROTTLED})
    start = min(r.delivered_ms for r in results)
    end = max(r.finished_ms for r in results)
    wall = (end - start) / 1000
    per = []
    for k in range(processes):
        record = emf[k][-1] if emf[k] else {}
        mine = [r for r in log if r["documentIds"] and owner(r["documentIds"][0]) == k]
        per.append({
            "process": k,
            "documents": per_process,
            "counts": results[k].payload.get("counts", {}),
            "wall_s": (results[k].finished_ms - results[k].delivered_ms) / 1000,
            "emf_calls": record.get("KendraCalls"),
            "emf_throttled": record.get("KendraThrottled"),
            "emf_call_rate": record.get("KendraCallRate"),
            "log_calls": len(mine),
            "log_throttled": sum(1 for r in mine if r.get("error") == THROTTLED),
            "cpu_s": cpu[k],
        })
    return {
        "processes": processes,
        "documents": processes * per_process,
        "checked": checked,
        "checked_fraction": checked / (processes * per_process),
        "counts": counts,
        "calls": len(log),
        "throttled": len(throttled),
        "throttled_fraction": len(throttled) / len(log) if log else 0.0,
        "other_errors": other_errors,
        "wall_s": wall,
        "ideal_s": IDEAL_S,
        "wall_over_ideal": wall / IDEAL_S,
        "answered_per_second": per_second(log, start_ms=None),
        "per_process": per,
    }


def per_second(log: list[dict], start_ms: float | None) -> list[list[int]]:
    """[answered, throttled] calls per second of kendra-local's clock, from the first call:
    how the fleet's total rate settles under the quota."""
    if not log:
        return []
    t0 = log[0]["arrivedMs"] if start_ms is None else start_ms
    buckets: list[list[int]] = []
    for r in log:
        s = int((r["arrivedMs"] - t0) // 1000)
        while len(buckets) <= s:
            buckets.append([0, 0])
        buckets[s][1 if r.get("error") == THROTTLED else 0] += 1
    return buckets


def bench_fleet(repeats: int, sizes: tuple[int, ...] = (1, 4, 16)) -> dict:
    """Every K, ``repeats`` runs each (runs interleaved K by K so load drifts hit all K alike);
    the median run per K by wall time, and the ranges."""
    runs: dict[int, list[dict]] = {k: [] for k in sizes}
    for run in range(repeats):
        for k in sizes:
            print(f"  fleet K={k} run {run + 1}/{repeats} ...", flush=True, file=sys.stderr)
            runs[k].append(one_fleet_run(k, run))
    out = {}
    for k, rs in runs.items():
        out[str(k)] = {
            "processes": k,
            "runs": rs,
            "checked_fraction": statistics.median(r["checked_fraction"] for r in rs),
            "checked_fraction_range": [min(r["checked_fraction"] for r in rs), max(r["checked_fraction"] for r in rs)],
            "throttled_fraction": statistics.median(r["throttled_fraction"] for r in rs),
            "throttled_fraction_range": [min(r["throttled_fraction"] for r in rs),
                                         max(r["throttled_fraction"] for r in rs)],
            "wall_over_ideal": statistics.median(r["wall_over_ideal"] for r in rs),
            "wall_over_ideal_range": [min(r["wall_over_ideal"] for r in rs), max(r["wall_over_ideal"] for r in rs)],
            "median_run": sorted(rs, key=lambda r: r["wall_over_ideal"])[len(rs) // 2],
        }
    return out
