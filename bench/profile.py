#!/usr/bin/env python3
"""Profiles the function during the 100,000-document invocation of bench/run.py (scenario 1).

    cargo build --profile profiling --bin bootstrap
    KENDRA_WAITER_BIN=target/profiling/bootstrap PYTHONPATH=e2e .venv/bin/python bench/profile.py [--documents N] [--out perf.data]
    perf report -i perf.data --no-children --sort symbol | head -60

The documents are put into kendra-local first, so every answer is INDEXED (scenario 1 since
Part 2; --pending: NOT_FOUND answers, every document pending, for binaries from before
MAX_RESULT_BYTES). This machine (KVM guest) has no hardware counters: perf samples on the
cpu-clock software event; for counts that do not depend on the load, see bench/instructions.py.

`perf record -g -p <pid>` is attached to the running function after its init, stopped after
the answer, so the profile is of the invocation only. The `profiling` profile is the release
profile with symbols and line tables (see Cargo.toml).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import time

import measure  # bench/, the script's own directory
from harness import FunctionProcess, KendraLocal, RuntimeApi
from measure import INDEX


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--documents", type=int, default=100_000)
    ap.add_argument("--out", default="perf.data")
    ap.add_argument("--freq", type=int, default=4999)
    ap.add_argument("--pending", action="store_true", help="NOT_FOUND answers (old binaries only)")
    args = ap.parse_args()
    ids = [f"bench-doc-{i:06d}" for i in range(args.documents)]
    event = {"indexId": INDEX, "documents": ids}
    with KendraLocal(indexing_checks=0) as kendra, RuntimeApi(default_timeout_ms=600_000) as runtime, \
            FunctionProcess(runtime, measure.function_env(kendra, MAX_DOCUMENTS=str(args.documents)),
                            kendra_endpoint=kendra.endpoint, name="profile") as fn:
        if not args.pending:
            kendra.put_documents(ids)
        measure.wait_ready(runtime, fn)
        perf = subprocess.Popen(["perf", "record", "-F", str(args.freq), "-g", "--call-graph", "dwarf,16384",
                                 "-p", str(fn.proc.pid), "-o", args.out],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        before = measure.cpu_seconds(fn.proc.pid)
        result = runtime.invoke(event, timeout_ms=600_000)
        after = measure.cpu_seconds(fn.proc.pid)
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=60)
        print(f"ok={result.ok} cpu={(after - before) / args.documents * 1e6:.2f} us/doc (under perf)")


if __name__ == "__main__":
    main()
