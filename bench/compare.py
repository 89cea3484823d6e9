#!/usr/bin/env python3
"""Compares function binaries on the single-process scenarios, interleaved run by run so the
load of a shared machine falls on every binary alike (a table measured days ago on another
host says little about a regression; the same host, minutes apart, does).

    PYTHONPATH=e2e .venv/bin/python bench/compare.py --rounds 5 \\
        old=/tmp/bootstrap-old new=target/release/bootstrap [--json out.json]

Per round and binary: one run of (1) CPU per document (INDEXED answers; --pending: the
issue-6 table's NOT_FOUND variant, for old binaries only), one of (2a) (wall, CPU, peak RSS,
and the RSS's private and file-backed parts after the 5,000-document invocation), one of (2b),
and --cold-starts cold starts; a fresh process for each. Prints medians and ranges per
binary. The binaries share one kendra-local.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

try:
    import harness  # noqa: F401  (e2e/harness, on PYTHONPATH)
except ModuleNotFoundError as e:
    if e.name != "harness":
        raise
    sys.exit("bench: the e2e harness is not importable: set PYTHONPATH=e2e at the repository root")
from harness import KendraLocal
from measure import bench_cold, bench_cpu, one_throughput_run

LATENCY = ({"KENDRA_MAX_CONCURRENCY": "10"}, {"latencyMs": 20})
RPS = ({"KENDRA_MAX_CONCURRENCY": "10", "KENDRA_MAX_RPS": "100"}, {"latencyMs": 20, "maxRps": 100})


def one_round(kendra: KendraLocal, cold_starts: int, pending: bool, scenarios: set[str]) -> dict:
    """One run of each selected scenario with the binary KENDRA_WAITER_BIN names now."""
    out: dict = {}
    if "cpu" in scenarios:
        cpu = bench_cpu(kendra, 1, pending=pending)
        out.update(cpu_us_per_doc=cpu["cpu_us_per_doc"], cpu_user_us_per_doc=cpu["user_us_per_doc"],
                   cpu_sys_us_per_doc=cpu["sys_us_per_doc"])
    if "2a" in scenarios:
        a = one_throughput_run(kendra, 5_000, *LATENCY)
        out.update(tp_2a_docs_per_s=a["docs_per_s"], tp_2a_cpu_s=a["cpu_s"], peak_rss_kb=a["peak_rss_kb"],
                   rss_anon_kb=a["rss_anon_kb"], rss_file_kb=a["rss_file_kb"])
    if "2b" in scenarios:
        b = one_throughput_run(kendra, 5_000, *RPS)
        out.update(tp_2b_docs_per_s=b["docs_per_s"], tp_2b_cpu_s=b["cpu_s"], tp_2b_errors=b["errors"])
    if "cold" in scenarios:
        out["cold_ms"] = bench_cold(kendra, cold_starts)["runs_ms"]
    return out


def summary(rounds: list[dict]) -> dict:
    """Median and range of every figure over the rounds (cold starts pooled)."""
    out = {}
    for key in rounds[0]:
        values = [v for r in rounds for v in (r[key] if isinstance(r[key], list) else [r[key]])]
        out[key] = {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binaries", nargs="+", metavar="NAME=PATH")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cold-starts", type=int, default=4, help="cold starts per binary and round")
    ap.add_argument("--pending", action="store_true",
                    help="(1) as in the issue-6 table: NOT_FOUND answers, every document pending in a 1.9 MB "
                         "result (binaries from before Part 2's MAX_RESULT_BYTES only)")
    ap.add_argument("--scenarios", default="cpu,2a,2b,cold", help="a subset of cpu,2a,2b,cold")
    ap.add_argument("--json")
    args = ap.parse_args()
    binaries = dict(b.split("=", 1) for b in args.binaries)
    for name, path in binaries.items():
        binaries[name] = str(Path(path).resolve())
    runs: dict[str, list[dict]] = {name: [] for name in binaries}
    loads = []
    with KendraLocal(indexing_checks=0) as kendra:
        for i in range(args.rounds):
            for name, path in binaries.items():
                os.environ["KENDRA_WAITER_BIN"] = path
                print(f"round {i + 1}/{args.rounds}: {name} ...", file=sys.stderr, flush=True)
                runs[name].append(one_round(kendra, args.cold_starts, args.pending, set(args.scenarios.split(","))))
            loads.append(open("/proc/loadavg").read().split()[:3])
    result = {"binaries": binaries, "cpu_scenario": "pending" if args.pending else "indexed", "loadavg_per_round": loads, "runs": runs,
              "summary": {name: summary(rs) for name, rs in runs.items()}}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    keys = list(next(iter(result["summary"].values())))
    print("| figure | " + " | ".join(binaries) + " |")
    print("|---|" + "---|" * len(binaries))
    for key in keys:
        cells = [f"{s[key]['median']:.2f} ({s[key]['min']:.2f}–{s[key]['max']:.2f})"
                 for s in (result["summary"][n] for n in binaries)]
        print(f"| {key} | " + " | ".join(cells) + " |")
    print("load per round:", loads)


if __name__ == "__main__":
    main()
