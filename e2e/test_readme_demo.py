"""README "Try it: the two commands": `scripts/demo.sh`, run exactly as the README's block
readme-two-commands writes it, as a reader would (no KENDRA_WAITER_BIN/KENDRA_LOCAL_BIN: it
builds and runs the release binaries itself), within a bound. (The block's other command,
`scripts/test.sh`, is CI itself: test_readme_blocks.py checks that .ci/run runs it.)

Asserts what the README says the demo shows, phase by phase:
1. documents really checked by Kendra rounds (PROCESSING, then INDEXED / NOT_FOUND, never
   UNCHECKED), the PUT loop ending FAILED with the scripted failure, the DELETE loop SUCCEEDED;
2. the SQS batches republished until the check queue is empty, the failure reported;
3. callback mode: every round with an accepted heartbeat, republished until the last one
   answers SendTaskSuccess, the execution SUCCEEDED in two states with the final result;
4. the ingest of a 2,500-document manifest: planned into batches of 1,000, 1,000 and 500,
   each waited for by callback (a heartbeat every round, one answer each), ending
   DocumentsFailed with a summary of exact counts and the five failed ids read from
   failedRef;
and a clean end: exit status 0, its closing line, and nothing it started still running.
"""

from __future__ import annotations

import json
import re

from harness.readme import Reader

# setup.sh may install the venv's packages and demo.sh may build the release binaries.
DEMO_TIMEOUT = 1800.0
RULE = "=" * 78
INGEST_FAILED = [f"fail-handbook/page-{n}.html" for n in (1290, 1291, 1777, 2048, 2400)]
ROUND = re.compile(r"^  (?:batch (\d+), )?round (\d+): attempt (\d+)/(\d+)\s+status (\w+)\s+Kendra saw: (.*)\n      heartbeat: (.*?)  ->  (.*)$", re.M)


def test_demo_sh_as_written(tmp_path):
    reader = Reader(tmp_path)
    (line,) = [l for l in reader.blocks["readme-two-commands"].text.splitlines() if l.startswith("scripts/demo.sh")]
    command = line.split("#", 1)[0].strip()
    assert command == "scripts/demo.sh"

    done = reader.run(command + "\n", timeout=DEMO_TIMEOUT)

    out = done.stdout
    assert done.returncode == 0, f"{out[-3000:]}\n{done.stderr[-3000:]}"
    assert out.rstrip().splitlines()[-1] == "Done. Everything started by the demo is being stopped."
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    check_demo_output(out)

    # Nothing the demo started outlives it (it ran in a session of its own).
    assert done.leftovers == [], done.leftovers


def check_demo_output(out: str) -> None:
    """Every phase's output (separate from the run, so it can be checked on a saved copy)."""
    phases = sections(out)
    assert list(phases) == ["Setup", "1.", "1b.", "2.", "3.", "4."], list(phases)
    check_wait_loop(phases["1."] + phases["1b."])
    check_sqs(phases["2."])
    check_callback(phases["3."])
    check_ingest(phases["4."])
    assert "UNCHECKED" not in out


def sections(out: str) -> dict[str, str]:
    """The demo's phases by the first word of their title ("Setup", "1.", "1b.", ...): the
    text from the title's rules to the next title."""
    parts = out.split(f"{RULE}\n")  # [preamble, title, body, title, body, ...]
    return {title.split(maxsplit=1)[0]: body for title, body in zip(parts[1::2], parts[2::2])}


def check_wait_loop(text: str) -> None:
    rounds = re.findall(r"attempt (\d+)/(\d+)\s+status (\w+)\s+Kendra saw: (.*)", text)
    assert len(rounds) >= 4, text
    seen = " ".join(r[3] for r in rounds)
    assert "PROCESSING" in seen and "INDEXED" in seen and "NOT_FOUND" in seen, seen
    ended = re.findall(r"-> the execution ended (.*) after (\d+) round\(s\)", text)
    assert [e[0] for e in ended] == ["FAILED (DocumentsFailed)", "SUCCEEDED"], ended
    assert all(int(e[1]) >= 2 for e in ended), "documents stay PROCESSING for their first checks"
    assert "failed: fail-faq/corrupted-scan.pdf (FAILED, KendraLocal.SimulatedFailure)" in text


def check_sqs(text: str) -> None:
    polls = re.findall(r"batchItemFailures: .*republished \(waiting out their delay\): (\d+)", text)
    assert int(polls[0]) > 0 and int(polls[-1]) == 0, polls
    assert "the check queue is empty" in text
    assert re.search(r"failure queue: [1-9]\d* report\(s\)", text), text
    assert "fail-kb/broken-table.html FAILED" in text


def json_block(text: str, label: str) -> dict:
    """The JSON object the demo prints after ``label`` (one field a line, closed by '     }')."""
    m = re.search(rf"^     {re.escape(label)}.*?: (\{{\n.*?\n     \}})$", text, re.M | re.S)
    assert m, f"no {label} block in:\n{text}"
    return json.loads(m.group(1))


def check_callback(text: str) -> None:
    rounds = ROUND.findall(text)
    # The demo's kendra-local keeps documents PROCESSING for 2 checks: 3 rounds.
    assert [(r[0], r[1], r[2], r[4]) for r in rounds] == [
        ("", "1", "1", "PENDING"),
        ("", "2", "2", "PENDING"),
        ("", "3", "3", "SUCCEEDED"),
    ], text
    assert [r[5] for r in rounds] == ["PROCESSING 3", "PROCESSING 3", "INDEXED 3"]
    assert [r[6] for r in rounds] == ["accepted"] * 3, "a heartbeat every round, the last one included"
    assert [r[7].split(" ", 1)[0] for r in rounds] == ["republished", "republished", "SendTaskSuccess"]
    assert "-> the callback execution ended SUCCEEDED after 3 round(s)" in text
    assert "states entered: PrepareMessage, WaitForDocuments (one task for every round)" in text
    output = json_block(text, "output")
    assert (output["status"], output["succeeded"], output["attempt"], output["failed"], output["documents"]) == ("SUCCEEDED", 3, 3, [], [])
    assert output["requestId"] == "demo-callback" and "taskToken" not in output and output["batchId"]


def check_ingest(text: str) -> None:
    plan = re.search(r"Plan: (\d+) documents in (\d+) batches", text)
    assert plan and plan.groups() == ("2500", "3"), text
    assert re.findall(r"batch (\d+): (\d+) documents in s3://", text) == [("1", "1000"), ("2", "1000"), ("3", "500")]
    rounds = ROUND.findall(text)
    by_batch: dict[str, list] = {}
    for r in rounds:
        by_batch.setdefault(r[0], []).append(r)
    assert sorted(by_batch) == ["1", "2", "3"], text
    for batch, size, last in (
        ("1", 1000, "SendTaskSuccess with the final result"),
        ("2", 1000, "SendTaskFailure DocumentsFailed (3 failed, 997 indexed)"),
        ("3", 500, "SendTaskFailure DocumentsFailed (2 failed, 498 indexed)"),
    ):
        mine = by_batch[batch]
        assert [r[1] for r in mine] == ["1", "2", "3"], mine
        assert [r[5] for r in mine[:2]] == [f"PROCESSING {size}"] * 2, mine
        assert [r[6] for r in mine] == ["accepted"] * 3, mine
        assert [r[7].split(" ", 1)[0] for r in mine[:2]] == ["republished"] * 2 and mine[2][7] == last, mine
    assert "-> the ingest ended FAILED (DocumentsFailed) after 9 batch round(s)" in text
    summary = json_block(text, "summary")
    assert {k: summary[k] for k in ("status", "total", "succeeded", "failedCount")} == {
        "status": "FAILED",
        "total": 2500,
        "succeeded": 2495,
        "failedCount": 5,
    }, summary
    assert summary["failedRef"]["count"] == 5 and summary["failedRef"]["s3Uri"].startswith("s3://"), summary
    assert "failedRef lists 5 failed document(s)" in text
    listed = re.findall(r"failed: (\S+) \(FAILED, KendraLocal\.SimulatedFailure\)", text)
    assert listed == INGEST_FAILED, listed
