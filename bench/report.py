"""The benchmark's results as a Markdown table, each row against its target (docs/performance.md
publishes it)."""

from __future__ import annotations

Row = tuple[str, str, str, str]


def mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB ({n / 2**20:.2f} MiB)"


def row(name: str, value: str, target: str, ok: bool | None) -> Row:
    """One line of the table; ``ok`` None for what has no target (reported only)."""
    return (name, value, target, "n/a" if ok is None else ("PASS" if ok else "MISS"))


def cpu_rows(c: dict) -> list[Row]:
    answers = c.get("answers", "NOT_FOUND (pending)")
    return [row(f"1. CPU per document ({c['documents']:,} docs, {answers}, direct)", f"{c['cpu_us_per_doc']:.2f} µs "
                f"({c['calls']} calls, {c['wall_s']:.2f} s wall)", "≤ 15 µs", c["cpu_us_per_doc"] <= 15)]


def throughput_rows(tp: dict) -> list[Row]:
    """(2a) against the ideal, kendra-local's own ceiling for reference, and (2b)."""
    t = tp["latency"]
    rows = [row("2a. Throughput, 20 ms latency, concurrency 10, fresh process", f"{t['docs_per_s']:.0f} docs/s "
                f"= {t['fraction'] * 100:.1f}% of {t['ideal']:.0f}", "≥ 90% of ideal", t["fraction"] >= 0.9)]
    w = tp.get("latency_warm")
    if w:
        rows.append(row("2a, warm process (its second invocation)", f"{w['docs_per_s']:.0f} docs/s "
                        f"= {w['fraction'] * 100:.1f}% of {w['ideal']:.0f}", "≥ 90% of ideal", w["fraction"] >= 0.9))
    ref = tp.get("reference")
    if ref:
        rows.append(row("2a'. Same calls, minimal Python client (kendra-local's ceiling)",
                        f"{ref['docs_per_s']:.0f} docs/s = {ref['docs_per_s'] / 50:.1f}% of 5000; "
                        f"function at {t['docs_per_s'] / ref['docs_per_s'] * 100:.1f}% of it", "(reference)", None))
    t = tp["rps"]
    ok = t["fraction"] >= 0.9 and t["errors_total"] == 0
    rows.append(row("2b. Throughput, 100 calls/s cap + KENDRA_MAX_RPS=100", f"{t['docs_per_s']:.0f} docs/s "
                    f"= {t['fraction'] * 100:.1f}% of {t['ideal']:.0f}; errors in log: {t['errors_total']}",
                    "≥ 90% of ideal, 0 ThrottlingException", ok))
    return rows


def sqs_rows(sqs: dict) -> list[Row]:
    return [
        row(f"3. SQS, 1,000 msgs in events of {size}", f"{s['calls_total']} calls, "
            f"{'/'.join(map(str, s['calls_per_event']))} per event", f"ceil(n/10) = "
            f"{'/'.join(map(str, s['expected_per_event']))} per event", s["exact"])
        for size, s in sqs.items()
    ]


def cold_rows(c: dict) -> list[Row]:
    return [row("4. Cold start to first GET next (median of %d)" % len(c["runs_ms"]),
                f"{c['median_ms']:.1f} ms", "≤ 25 ms", c["median_ms"] <= 25)]


def rss_rows(tp: dict) -> list[Row]:
    kb = tp["latency"]["peak_rss_kb"]
    return [row("5. Peak RSS, 5,000-doc invocation (VmHWM)", f"{kb / 1024:.1f} MiB ({kb} kB)", "≤ 30 MB",
                kb * 1024 <= 30e6)]


def size_rows(s: dict) -> list[Row]:
    """arm64 (the deployed architecture) against the limit when measured; x86_64 reported."""
    if "arm64_zip_bytes" in s:
        rows = [row("6a. Stripped arm64 bootstrap", mb(s["arm64_bytes"]), "(reported)", None),
                row("6b. arm64 bootstrap.zip (cargo lambda)", mb(s["arm64_zip_bytes"]), "≤ 4 MB",
                    s["arm64_zip_bytes"] <= 4e6)]
    else:
        rows = [row("6. arm64", s.get("arm64", "not measured"), "≤ 4 MB", None)]
    return rows + [row("6c. Stripped x86_64 bootstrap (release)", mb(s["x86_64_bytes"]), "(reported)", None),
                   row("6d. x86_64 bootstrap.zip (deflate -9)", mb(s["x86_64_zip_bytes"]), "(reported)", None)]


def pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def fleet_rows(fleet: dict) -> list[Row]:
    """(7) per K: median run and the range over the runs; the targets apply to K >= 4 (one
    process alone is reported)."""
    rows = []
    for key, f in fleet.items():
        k = f["processes"]
        c, t, w = f["checked_fraction_range"], f["throttled_fraction_range"], f["wall_over_ideal_range"]
        value = (f"checked {pct(f['checked_fraction'])} ({pct(c[0])}–{pct(c[1])}), "
                 f"throttled {pct(f['throttled_fraction'])} ({pct(t[0])}–{pct(t[1])}), "
                 f"wall {f['wall_over_ideal']:.2f}× ideal ({w[0]:.2f}–{w[1]:.2f}); {len(f['runs'])} runs")
        if k >= 4:
            ok = all(r["checked_fraction"] >= 0.99 and r["throttled_fraction"] <= 0.10 and r["wall_over_ideal"] <= 1.3
                     for r in f["runs"])
            target = "≥ 99% checked, ≤ 10% throttled, ≤ 1.3× ideal (every run)"
        else:
            ok, target = None, "(reported)"
        rows.append(row(f"7. Fleet K={k} × {8000 // k:,} docs, 50 calls/s shared", value, target, ok))
    return rows


def fleet_process_table(fleet: dict) -> str:
    """Each process of each K's median run: its EMF line (KendraCalls, KendraThrottled,
    KendraCallRate), its wall time and CPU."""
    lines = ["| K | process | wall s | KendraCalls | KendraThrottled | KendraCallRate | CPU s |",
             "|---|---|---|---|---|---|---|"]
    for f in fleet.values():
        run = f["median_run"]
        for p in run["per_process"]:
            lines.append(f"| {run['processes']} | {p['process']} | {p['wall_s']:.1f} | {p['emf_calls']} | "
                         f"{p['emf_throttled']} | {p['emf_call_rate']} | {p['cpu_s']:.2f} |")
    return "\n".join(lines)


def table(r: dict) -> str:
    """The rows of the measured scenarios, in the numbering of bench/run.py."""
    rows: list[Row] = []
    if "cpu" in r:
        rows += cpu_rows(r["cpu"])
    if "throughput" in r:
        rows += throughput_rows(r["throughput"])
    if "sqs" in r:
        rows += sqs_rows(r["sqs"])
    if "cold" in r:
        rows += cold_rows(r["cold"])
    if "throughput" in r:
        rows += rss_rows(r["throughput"])
    if "size" in r:
        rows += size_rows(r["size"])
    if "fleet" in r:
        rows += fleet_rows(r["fleet"])
    return markdown(rows)


def markdown(rows: list[Row]) -> str:
    """A Markdown table with aligned columns."""
    header = ("Measurement", "Result", "Target", "")
    widths = [max(len(x[i]) for x in rows + [header]) for i in range(4)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(v.ljust(w) for v, w in zip(x, widths)) + " |" for x in rows]
    return "\n".join(lines)
