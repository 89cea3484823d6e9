"""README "Try it: the two commands": `scripts/demo.sh`, run exactly as the README's block
readme-two-commands writes it, as a reader would (no KENDRA_WAITER_BIN/KENDRA_LOCAL_BIN: it
builds and runs the release binaries itself), within a bound. (The block's other command,
`scripts/test.sh`, is CI itself: test_readme_blocks.py checks that .ci/run runs it.)

Asserts what the README says the demo shows: documents really checked by Kendra rounds
(PROCESSING, then INDEXED / NOT_FOUND, never UNCHECKED), the PUT loop ending FAILED with the
scripted failure, the DELETE loop SUCCEEDED, the SQS batches republished until the check
queue is empty with the failure reported, and a clean end: exit status 0, its closing line,
and nothing it started still running.
"""

from __future__ import annotations

import re

from harness.readme import Reader

# setup.sh may install the venv's packages and demo.sh may build the release binaries.
DEMO_TIMEOUT = 1800.0


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

    rounds = re.findall(r"attempt (\d+)/(\d+)\s+status (\w+)\s+Kendra saw: (.*)", out)
    assert len(rounds) >= 4, out
    seen = " ".join(r[3] for r in rounds)
    assert "PROCESSING" in seen and "INDEXED" in seen and "NOT_FOUND" in seen, seen
    assert "UNCHECKED" not in out
    ended = re.findall(r"-> the execution ended (.*) after (\d+) round\(s\)", out)
    assert [e[0] for e in ended] == ["FAILED (DocumentsFailed)", "SUCCEEDED"], ended
    assert all(int(e[1]) >= 2 for e in ended), "documents stay PROCESSING for their first checks"
    assert "failed: fail-faq/corrupted-scan.pdf (FAILED, KendraLocal.SimulatedFailure)" in out

    polls = re.findall(r"batchItemFailures: .*republished \(waiting out their delay\): (\d+)", out)
    assert int(polls[0]) > 0 and int(polls[-1]) == 0, polls
    assert "the check queue is empty" in out
    assert re.search(r"failure queue: [1-9]\d* report\(s\)", out), out
    assert "fail-kb/broken-table.html FAILED" in out

    # Nothing the demo started outlives it (it ran in a session of its own).
    assert done.leftovers == [], done.leftovers
