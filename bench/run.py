#!/usr/bin/env python3
"""kendra-waiter benchmark (issue 6): runs the release ``bootstrap`` against the release
``kendra-local`` through e2e/harness.py's Lambda Runtime API emulator and prints a table.

Usage (from the repository root, after ``cargo build --release --workspace --bins``):

    .venv/bin/python bench/run.py [--repeats N] [--cold-starts N] [--json out.json]
                                   [--only cpu,throughput,sqs,cold,rss,size]

``scripts/bench.sh`` builds the binaries and runs this with the defaults.

Measurements (see docs/performance.md for the method and the noise handling):
  1. cpu        one direct invocation of 100,000 distinct documents (not put in kendra-local,
                so every answer is NOT_FOUND and every document comes back pending: the
                heaviest result to build); user+sys CPU of the function process during the
                invocation (delta of utime+stime from /proc/<pid>/stat, all threads), / docs.
                Median of --repeats runs, each in a fresh process.
  2. throughput 5,000 documents, 20 ms added latency per call, KENDRA_MAX_CONCURRENCY=10
                (ideal 5,000 docs/s); then also kendra-local --max-rps 100 and KENDRA_MAX_RPS=100
                (ideal 1,000 docs/s), with kendra-local's request log checked for errors.
                Wall time from the invocation's delivery to its answer (Runtime API side).
  3. sqs        1,000 one-document messages in SQS events of 10 and of 100; status calls per
                event from kendra-local's request log.
  4. cold       milliseconds from just before the process is spawned to its first
                GET /runtime/invocation/next, median of --cold-starts fresh processes.
  5. rss        VmHWM (peak RSS) of the function process after the 5,000-document invocation
                of (2) (fresh process, so the peak is of init + that invocation).
  6. size       stripped bootstrap (x86_64 release, and arm64 via cargo lambda when
                available) and the size of bootstrap.zip.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO / "e2e"))

import harness  # noqa: E402  (the e2e harness, reused as is)
from harness import FunctionProcess, KendraLocal, RuntimeApi  # noqa: E402

INDEX = harness.INDEX_ID
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------
# Small wrappers around the harness
# --------------------------------------------------------------------------------------


class TimedRuntimeApi(RuntimeApi):
    """The harness's Runtime API, plus the monotonic time of the first GET .../next."""

    def __init__(self, *args, **kwargs) -> None:
        self.first_next: float | None = None
        super().__init__(*args, **kwargs)

    def _next(self, handler) -> None:  # type: ignore[override]
        if self.first_next is None:
            self.first_next = time.perf_counter()
        super()._next(handler)


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status(pid: int, key: str) -> int:
    """A kB value from /proc/<pid>/status (VmHWM, VmRSS, ...), in kB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def wait_ready(runtime: TimedRuntimeApi, fn: FunctionProcess, timeout: float = 20.0) -> None:
    harness.wait_until(lambda: runtime.first_next is not None or fn.proc.poll() is not None,
                       timeout, "the function's first GET next", interval=0.001)
    fn.check_alive()


EXTRA_ENV: dict[str, str] = {}


def function_env(kendra: KendraLocal, **extra: str) -> dict[str, str]:
    env = {"KENDRA_INDEX_ID": INDEX, "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    env.update(EXTRA_ENV)
    env.update(extra)
    return env


def status_calls(kendra: KendraLocal) -> list[dict]:
    return kendra.status_requests()


def median(values: list[float]) -> float:
    return statistics.median(values)


# --------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------


def bench_cpu(kendra: KendraLocal, repeats: int, documents: int = 100_000) -> dict:
    kendra.set_faults()
    event = {"indexId": INDEX, "documents": [f"bench-doc-{i:06d}" for i in range(documents)]}
    per_doc_us, init_cpu, wall = [], [], []
    calls = None
    for _ in range(repeats):
        kendra.clear_requests()
        with TimedRuntimeApi(default_timeout_ms=600_000) as runtime, FunctionProcess(
            runtime, function_env(kendra, MAX_DOCUMENTS=str(documents)), kendra_endpoint=kendra.endpoint,
            name="cpu",
        ) as fn:
            wait_ready(runtime, fn)
            time.sleep(0.05)  # let init finish settling (nothing runs: it waits in GET next)
            before = cpu_seconds(fn.proc.pid)
            result = runtime.invoke(event, timeout_ms=600_000)
            after = cpu_seconds(fn.proc.pid)
            if not result.ok:
                raise SystemExit(f"cpu run failed: {result!r}")
            pending = len(result.payload["documents"])
            if pending != documents:
                raise SystemExit(f"cpu run: {pending} pending documents, expected {documents}")
            per_doc_us.append((after - before) / documents * 1e6)
            init_cpu.append(before)
            wall.append((result.finished_ms - result.delivered_ms) / 1000)
            calls = len(status_calls(kendra))
    return {
        "documents": documents,
        "calls": calls,
        "cpu_us_per_doc_runs": per_doc_us,
        "cpu_us_per_doc": median(per_doc_us),
        "init_cpu_s": median(init_cpu),
        "wall_s": median(wall),
    }


def one_throughput_run(kendra: KendraLocal, documents: int, env: dict[str, str], faults: dict) -> dict:
    kendra.set_faults(**faults)
    kendra.clear_requests()
    event = {"indexId": INDEX, "documents": [f"tp-{uuid.uuid4().hex[:8]}-{i}" for i in range(documents)]}
    with TimedRuntimeApi(default_timeout_ms=120_000) as runtime, FunctionProcess(
        runtime, function_env(kendra, **env), kendra_endpoint=kendra.endpoint, name="throughput",
    ) as fn:
        wait_ready(runtime, fn)
        time.sleep(0.05)
        cpu_before = cpu_seconds(fn.proc.pid)
        result = runtime.invoke(event, timeout_ms=120_000)
        cpu_after = cpu_seconds(fn.proc.pid)
        hwm_kb = proc_status(fn.proc.pid, "VmHWM")
        if not result.ok:
            raise SystemExit(f"throughput run failed: {result!r}")
        emf = fn.emf_records()
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
        "cpu_s": cpu_after - cpu_before,
        "call_span_s": (arrivals[-1] - arrivals[0]) / 1000 if arrivals else 0.0,
        "max_in_flight": max((r["inFlight"] for r in calls), default=0),
        "pending": len(result.payload["documents"]),
    }


def reference_client(kendra: KendraLocal, documents: int = 5_000, concurrency: int = 10) -> dict:
    """The same 500 BatchGetDocumentStatus calls made by a minimal client (10 threads, one
    keep-alive connection each, no signing, no SDK): the rate kendra-local itself allows with
    its 20 ms of added latency, i.e. the practical ceiling of scenario (2a)."""
    import http.client
    import threading

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
    out = {}
    setups = {
        "latency": ({"KENDRA_MAX_CONCURRENCY": "10"}, {"latencyMs": 20}, 5_000.0),
        "rps": ({"KENDRA_MAX_CONCURRENCY": "10", "KENDRA_MAX_RPS": "100"},
                {"latencyMs": 20, "maxRps": 100}, 1_000.0),
    }
    for name, (env, faults, ideal) in setups.items():
        runs = [one_throughput_run(kendra, documents, env, faults) for _ in range(repeats)]
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


def sqs_event(bodies: list[dict]) -> dict:
    arn = f"arn:aws:sqs:{harness.REGION}:{harness.ACCOUNT_ID}:bench-check-queue"
    records = []
    for body in bodies:
        text = json.dumps(body)
        message = {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": uuid.uuid4().hex,
            "Body": text,
            "Attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": str(harness.now_ms()),
                "SenderId": "AIDABENCH",
                "ApproximateFirstReceiveTimestamp": str(harness.now_ms()),
            },
        }
        records.append(harness.sqs_record(message, arn))
    return {"Records": records}


def bench_sqs(kendra: KendraLocal, messages: int = 1_000) -> dict:
    kendra.set_faults()
    out = {}
    with TimedRuntimeApi() as runtime, FunctionProcess(
        runtime, function_env(kendra), kendra_endpoint=kendra.endpoint, name="sqs",
    ) as fn:
        wait_ready(runtime, fn)
        for size in (10, 100):
            per_event = []
            for start in range(0, messages, size):
                bodies = [{"indexId": INDEX, "documents": [f"sqs-{size}-{i}"]}
                          for i in range(start, min(start + size, messages))]
                kendra.clear_requests()
                result = runtime.invoke(sqs_event(bodies))
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
    times = []
    for _ in range(runs):
        with TimedRuntimeApi() as runtime:
            start = time.perf_counter()
            with FunctionProcess(runtime, function_env(kendra), kendra_endpoint=kendra.endpoint,
                                 name="cold") as fn:
                wait_ready(runtime, fn)
                times.append((runtime.first_next - start) * 1000)
        time.sleep(0.05)
    return {"runs_ms": times, "median_ms": median(times)}


def bench_size(skip_build: bool) -> dict:
    out: dict = {}
    x86 = harness.waiter_bin()
    out["x86_64_bytes"] = x86.stat().st_size
    out["x86_64_stripped"] = _is_stripped(x86)
    tmp = Path(tempfile.mkdtemp(prefix="bench-zip-"))
    try:
        zpath = tmp / "bootstrap.zip"
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            z.write(x86, "bootstrap")
        out["x86_64_zip_bytes"] = zpath.stat().st_size
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cargo_lambda = shutil.which("cargo-lambda", path=str(REPO / ".venv" / "bin") + os.pathsep + os.environ.get("PATH", ""))
    if cargo_lambda is None:
        out["arm64"] = "not measured: cargo-lambda not installed (.venv/bin/pip install cargo-lambda)"
        return out
    lambda_dir = REPO / "target" / "lambda" / "bootstrap"
    if not skip_build:
        env = dict(os.environ)
        env["PATH"] = str(REPO / ".venv" / "bin") + os.pathsep + env.get("PATH", "")
        proc = subprocess.run(
            [cargo_lambda, "lambda", "build", "--release", "--arm64", "--output-format", "zip",
             "--bin", "bootstrap"],
            cwd=REPO, env=env, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            out["arm64"] = f"not measured: cargo lambda build failed: {proc.stderr[-800:]}"
            return out
    zpath = lambda_dir / "bootstrap.zip"
    if not zpath.is_file():
        out["arm64"] = f"not measured: {zpath} missing"
        return out
    with zipfile.ZipFile(zpath) as z:
        info = z.getinfo("bootstrap")
        out["arm64_bytes"] = info.file_size
        with tempfile.TemporaryDirectory() as d:
            z.extract(info, d)
            out["arm64_stripped"] = _is_stripped(Path(d) / "bootstrap")
            out["arm64_file"] = subprocess.run(["file", "-b", str(Path(d) / "bootstrap")],
                                               capture_output=True, text=True).stdout.strip() if shutil.which("file") else ""
    out["arm64_zip_bytes"] = zpath.stat().st_size
    return out


def _is_stripped(path: Path) -> bool:
    """True when the ELF has no .symtab section."""
    data = path.read_bytes()
    return b".symtab" not in data


# --------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------


def mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB ({n / 2**20:.2f} MiB)"


def table(r: dict) -> str:
    rows = []

    def row(name: str, value: str, target: str, ok: bool | None) -> None:
        rows.append((name, value, target, "n/a" if ok is None else ("PASS" if ok else "MISS")))

    if "cpu" in r:
        c = r["cpu"]
        row("1. CPU per document (100k NOT_FOUND docs, direct)", f"{c['cpu_us_per_doc']:.2f} µs "
            f"({c['calls']} calls, {c['wall_s']:.2f} s wall)", "≤ 15 µs", c["cpu_us_per_doc"] <= 15)
    if "throughput" in r:
        t = r["throughput"]["latency"]
        row("2a. Throughput, 20 ms latency, concurrency 10", f"{t['docs_per_s']:.0f} docs/s "
            f"= {t['fraction'] * 100:.1f}% of {t['ideal']:.0f}", "≥ 90% of ideal", t["fraction"] >= 0.9)
        ref = r["throughput"].get("reference")
        if ref:
            row("2a'. Same calls, minimal Python client (kendra-local's ceiling)",
                f"{ref['docs_per_s']:.0f} docs/s = {ref['docs_per_s'] / 50:.1f}% of 5000; "
                f"function at {t['docs_per_s'] / ref['docs_per_s'] * 100:.1f}% of it", "(reference)", None)
        t = r["throughput"]["rps"]
        ok = t["fraction"] >= 0.9 and t["errors_total"] == 0
        row("2b. Throughput, 100 calls/s cap + KENDRA_MAX_RPS=100", f"{t['docs_per_s']:.0f} docs/s "
            f"= {t['fraction'] * 100:.1f}% of {t['ideal']:.0f}; errors in log: {t['errors_total']}",
            "≥ 90% of ideal, 0 ThrottlingException", ok)
    if "sqs" in r:
        for size, s in r["sqs"].items():
            row(f"3. SQS, 1,000 msgs in events of {size}", f"{s['calls_total']} calls, "
                f"{'/'.join(map(str, s['calls_per_event']))} per event", f"ceil(n/10) = "
                f"{'/'.join(map(str, s['expected_per_event']))} per event", s["exact"])
    if "cold" in r:
        c = r["cold"]
        row("4. Cold start to first GET next (median of %d)" % len(c["runs_ms"]),
            f"{c['median_ms']:.1f} ms", "≤ 25 ms", c["median_ms"] <= 25)
    if "throughput" in r:
        kb = r["throughput"]["latency"]["peak_rss_kb"]
        row("5. Peak RSS, 5,000-doc invocation (VmHWM)", f"{kb / 1024:.1f} MiB ({kb} kB)", "≤ 30 MB",
            kb * 1024 <= 30e6)
    if "size" in r:
        s = r["size"]
        if "arm64_zip_bytes" in s:
            row("6a. Stripped arm64 bootstrap", mb(s["arm64_bytes"]), "(reported)", None)
            row("6b. arm64 bootstrap.zip (cargo lambda)", mb(s["arm64_zip_bytes"]), "≤ 4 MB",
                s["arm64_zip_bytes"] <= 4e6)
        else:
            row("6. arm64", s.get("arm64", "not measured"), "≤ 4 MB", None)
        row("6c. Stripped x86_64 bootstrap (release)", mb(s["x86_64_bytes"]), "(reported)", None)
        row("6d. x86_64 bootstrap.zip (deflate -9)", mb(s["x86_64_zip_bytes"]), "(reported)", None)
    widths = [max(len(x[i]) for x in rows + [("Measurement", "Result", "Target", "")]) for i in range(4)]
    lines = []
    header = ("Measurement", "Result", "Target", "")
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for x in rows:
        lines.append("| " + " | ".join(v.ljust(w) for v, w in zip(x, widths)) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5, help="runs of (1) and (2); the median is shown")
    ap.add_argument("--cold-starts", type=int, default=10)
    ap.add_argument("--only", default="cpu,throughput,sqs,cold,size")
    ap.add_argument("--skip-arm64-build", action="store_true",
                    help="use target/lambda/bootstrap/bootstrap.zip as built before")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for the function (experiments, e.g. LD_PRELOAD=...)")
    args = ap.parse_args()
    EXTRA_ENV.update(dict(e.split("=", 1) for e in args.env))
    only = set(args.only.split(","))
    results: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
            "loadavg_start": open("/proc/loadavg").read().split()[:3],
            "kernel": os.uname().release,
        }
    }
    with KendraLocal(indexing_checks=0) as kendra:
        if "cold" in only:
            print("cold start ...", file=sys.stderr, flush=True)
            results["cold"] = bench_cold(kendra, args.cold_starts)
        if "cpu" in only:
            print("cpu per document ...", file=sys.stderr, flush=True)
            results["cpu"] = bench_cpu(kendra, args.repeats)
        if "throughput" in only or "rss" in only:
            print("throughput and peak RSS ...", file=sys.stderr, flush=True)
            results["throughput"] = bench_throughput(kendra, args.repeats)
        if "sqs" in only:
            print("sqs coalescing ...", file=sys.stderr, flush=True)
            results["sqs"] = bench_sqs(kendra)
    if "size" in only:
        print("sizes ...", file=sys.stderr, flush=True)
        results["size"] = bench_size(args.skip_arm64_build)
    results["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    m = results["machine"]
    print(f"machine: {m['cpus']} CPUs, {m['cpu_model']}, Linux {m['kernel']}, "
          f"load {' '.join(m['loadavg_start'])} -> {' '.join(m['loadavg_end'])}")
    print(table(results))


if __name__ == "__main__":
    main()
