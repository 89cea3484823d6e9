#!/usr/bin/env python3
"""kendra-waiter benchmark (issue 6): runs the release ``bootstrap`` against the release
``kendra-local`` through the e2e harness's Lambda Runtime API emulator and prints a table.

``scripts/bench.sh`` builds the binaries and runs this with the defaults. By hand, from the
repository root, after ``cargo build --release --workspace --bins``:

    PYTHONPATH=e2e .venv/bin/python bench/run.py [--repeats N] [--cold-starts N] [--json out.json]
                                   [--only cpu,throughput,sqs,cold,rss,size,fleet]
                                   [--fleet-repeats N] [--fleet-sizes 1,4,16]

Modules: measure.py (scenarios 1-5), sizes.py (6), fleet.py (7), report.py (the tables).

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
  7. fleet      K = 1, 4, 16 processes, each behind its own Runtime API emulator, one
                invocation each at the same moment, 8,000 documents in all (put, so INDEXED),
                60 s deadline, against ONE kendra-local --max-rps 50 --latency-ms 20: documents
                checked, share of calls throttled (request log), wall time against the ideal
                (800 calls at 50/s = 16 s), and each process's EMF KendraCallRate and
                KendraThrottled. Median of --fleet-repeats runs per K (see fleet.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

try:
    import harness  # noqa: F401  (e2e/harness, on PYTHONPATH)
except ModuleNotFoundError as e:
    if e.name != "harness":
        raise
    sys.exit("bench: the e2e harness is not importable: run scripts/bench.sh, or set PYTHONPATH=e2e at the repository root")
from harness import KendraLocal
from fleet import bench_fleet
from measure import EXTRA_ENV, bench_cold, bench_cpu, bench_sqs, bench_throughput
from report import fleet_process_table, table
from sizes import bench_size


def machine() -> dict:
    """What the numbers were measured on: they mean little without it."""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
        "kernel": os.uname().release,
    }


def run_scenarios(args: argparse.Namespace, only: set[str]) -> dict:
    """The selected scenarios, each against the same kendra-local (faults reset per scenario)."""
    results: dict = {}
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
        results["size"] = bench_size(args.skip_arm64_build, args.arm64_zip)
    if "fleet" in only:
        # Each run starts its own kendra-local (--max-rps 50 --latency-ms 20): a full bucket.
        print("fleet ...", file=sys.stderr, flush=True)
        sizes = tuple(int(k) for k in args.fleet_sizes.split(","))
        results["fleet"] = bench_fleet(args.fleet_repeats, sizes)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5, help="runs of (1) and (2); the median is shown")
    ap.add_argument("--cold-starts", type=int, default=10)
    ap.add_argument("--only", default="cpu,throughput,sqs,cold,size,fleet")
    ap.add_argument("--fleet-repeats", type=int, default=5, help="runs of (7) per K; the median is shown")
    ap.add_argument("--fleet-sizes", default="1,4,16", help="the K of (7)")
    ap.add_argument("--skip-arm64-build", action="store_true",
                    help="use target/lambda/bootstrap/bootstrap.zip as built before")
    ap.add_argument("--arm64-zip", help="measure this bootstrap.zip instead of building one")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for the function (experiments, e.g. LD_PRELOAD=...)")
    args = ap.parse_args()
    EXTRA_ENV.update(dict(e.split("=", 1) for e in args.env))
    results: dict = {"machine": machine()}
    results.update(run_scenarios(args, set(args.only.split(","))))
    results["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    m = results["machine"]
    print(f"machine: {m['cpus']} CPUs, {m['cpu_model']}, Linux {m['kernel']}, "
          f"load {' '.join(m['loadavg_start'])} -> {' '.join(m['loadavg_end'])}")
    print(table(results))
    if "fleet" in results:
        print()
        print(fleet_process_table(results["fleet"]))


if __name__ == "__main__":
    main()

