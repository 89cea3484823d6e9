#!/usr/bin/env python3
"""Instructions per document under callgrind: a CPU cost that does not move with the load of
a shared machine (this KVM guest has no hardware counters, so ``perf stat`` cannot count
instructions; valgrind's callgrind can, at ~50x the run time).

    PYTHONPATH=e2e .venv/bin/python bench/instructions.py [--small 5000 --large 15000] \\
        [--keep DIR] old=/tmp/bootstrap-old new=target/release/bootstrap

For each binary, scenario (1) (distinct documents, all INDEXED; --pending: NOT_FOUND, every
document pending, for binaries from before Part 2) is run twice under
``valgrind --tool=callgrind``, with --small and --large documents, each in a fresh process
from start to SIGTERM. The instructions per document are the difference of the two totals
over the difference of the sizes, so init and shutdown cancel out. With --keep the
callgrind.out files stay for ``callgrind_annotate --inclusive=yes`` (use the ``profiling``
build for symbols).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path

try:
    import harness  # noqa: F401  (e2e/harness, on PYTHONPATH)
except ModuleNotFoundError as e:
    if e.name != "harness":
        raise
    sys.exit("bench: the e2e harness is not importable: set PYTHONPATH=e2e at the repository root")
from harness import FunctionProcess, KendraLocal, RuntimeApi
from measure import INDEX, function_env, wait_ready


def wrapper(binary: str, out: Path, workdir: Path, options: str = "") -> Path:
    """A script that execs the binary under callgrind (same pid, so SIGTERM reaches it);
    ``options``: more callgrind options."""
    script = workdir / f"callgrind-{out.stem}.sh"
    script.write_text(f"#!/bin/sh\nexec valgrind --tool=callgrind {options} --callgrind-out-file={out} {binary}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def wait_written(out: Path, timeout: float = 30.0) -> None:
    """Waits for callgrind to write ``out`` as the process exits after SIGTERM."""
    end = time.monotonic() + timeout
    while not (out.exists() and out.stat().st_size):
        if time.monotonic() > end:
            raise SystemExit(f"callgrind wrote nothing to {out}")
        time.sleep(0.1)


def total_ir(path: Path) -> int:
    """The ``totals:`` (or ``summary:``) line of a callgrind.out file: instructions executed."""
    text = path.read_text(errors="replace")
    m = re.search(r"^(?:totals|summary):\s+(\d+)", text, re.M)
    if not m:
        raise SystemExit(f"no totals in {path}")
    return int(m.group(1))


def one_run(kendra: KendraLocal, binary: str, documents: int, out: Path, workdir: Path, pending: bool) -> int:
    """Scenario (1) with ``documents`` under callgrind; the process's total instructions."""
    ids = [f"ir-doc-{i:06d}" for i in range(documents)]
    kendra.set_faults()
    if not pending:
        kendra.put_documents(ids)
    os.environ["KENDRA_WAITER_BIN"] = str(wrapper(binary, out, workdir))
    with RuntimeApi(default_timeout_ms=900_000) as runtime, FunctionProcess(
        runtime, function_env(kendra, MAX_DOCUMENTS=str(documents)), kendra_endpoint=kendra.endpoint, name="ir",
    ) as fn:
        wait_ready(runtime, fn, timeout=120)
        result = runtime.invoke({"indexId": INDEX, "documents": ids}, timeout_ms=900_000)
        if not result.ok:
            raise SystemExit(f"callgrind run failed: {result!r}")
        fn.close()  # SIGTERM: valgrind writes the file as the process exits
    if not pending:
        kendra.delete_documents(ids)
    wait_written(out)
    return total_ir(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binaries", nargs="+", metavar="NAME=PATH")
    ap.add_argument("--small", type=int, default=5_000)
    ap.add_argument("--large", type=int, default=15_000)
    ap.add_argument("--pending", action="store_true")
    ap.add_argument("--keep", help="directory for the callgrind.out files")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind is not installed")
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="bench-callgrind-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = {"small": args.small, "large": args.large, "answers": "NOT_FOUND (pending)" if args.pending else "INDEXED",
               "binaries": {}}
    print("| binary | Ir, %d docs | Ir, %d docs | Ir per document |" % (args.small, args.large))
    print("|---|---|---|---|")
    with KendraLocal(indexing_checks=0) as kendra:
        for name, path in (b.split("=", 1) for b in args.binaries):
            path = str(Path(path).resolve())
            small = one_run(kendra, path, args.small, workdir / f"callgrind.out.{name}.{args.small}", workdir, args.pending)
            large = one_run(kendra, path, args.large, workdir / f"callgrind.out.{name}.{args.large}", workdir, args.pending)
            per_doc = (large - small) / (args.large - args.small)
            print(f"| {name} | {small:,} | {large:,} | {per_doc:,.0f} |", flush=True)
            results["binaries"][name] = {"path": path, "ir_small": small, "ir_large": large, "ir_per_document": per_doc}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
