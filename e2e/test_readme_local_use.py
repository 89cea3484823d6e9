"""README "Local use", followed as a reader would, every command exactly as written: start
kendra-local (block readme-kendra-local), put the documents with the AWS CLI
(readme-kendra-cli), start the function with `cargo lambda watch` (readme-cargo-lambda-watch),
and run `cargo lambda invoke` (readme-cargo-lambda-invoke) once for every file of events/,
each time in place of the placeholder the README names (events/step-functions-put.json).

cargo-lambda and the AWS CLI come from PyPI into .venv (e2e/requirements.txt); the README's
ports come from KENDRA_PORT / LAMBDA_PORT, set to free ones. Every answer is held to
events/expectations.json, and to what kendra-local saw: each valid event's documents were
really asked for with BatchGetDocumentStatus (no UNCHECKED count), each invalid one asked
nothing. Everything started is stopped at the end, on failure too, and nothing outlives it.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from harness import INDEX_ID, doc_id, expectations, load_event, sample_event_names
from harness.readme import Reader, event_batches, event_document_ids, parse_invoke, port_open

EXPECTATIONS = expectations()
SAMPLES = sample_event_names()
PLACEHOLDER = "events/step-functions-put.json"
# cargo lambda watch compiles the function (debug) at the first invocation: on a clean
# checkout that is the AWS SDK's crates too.
FIRST_INVOKE_TIMEOUT = 1800.0
INVOKE_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    """kendra-local, the documents put, and cargo lambda watch, as the README starts them;
    stopped when the module's tests are done (also when one fails)."""
    reader = Reader(tmp_path_factory.mktemp("readme-local-use"))
    try:
        admin = reader.start_kendra_local()
        cli = reader.run(reader.blocks["readme-kendra-cli"].text, timeout=180)
        assert cli.returncode == 0, f"{cli.stdout}\n{cli.stderr}"
        watch = reader.start("readme-cargo-lambda-watch")
        watch.wait_for(lambda: port_open(reader.lambda_port), 120, f"cargo lambda watch on 127.0.0.1:{reader.lambda_port}")
        state = {"reader": reader, "admin": admin, "watch": watch, "first": True}
        yield state
    finally:
        reader.close()
    assert reader.leftovers() == [], "processes of these blocks outlived close()"


def invoke(flow, name: str):
    """The README's invoke block with events/<name> in the placeholder's place."""
    block = flow["reader"].blocks["readme-cargo-lambda-invoke"].text
    text = block.replace(PLACEHOLDER, f"events/{name}")
    timeout = FIRST_INVOKE_TIMEOUT if flow["first"] else INVOKE_TIMEOUT
    flow["first"] = False
    try:
        return parse_invoke(flow["reader"].run(text, timeout=timeout))
    except TimeoutError as e:
        raise AssertionError(f"{e}\n{flow['watch'].tails()}") from None


def status_calls(admin) -> list[dict]:
    return [r for r in admin.requests() if r["operation"] == "BatchGetDocumentStatus"]


@pytest.mark.parametrize("name", SAMPLES)
def test_readme_cargo_lambda_invoke(flow, name):
    admin = flow["admin"]
    admin.clear_requests()
    expected = EXPECTATIONS[name]
    event = load_event(name)

    answer = invoke(flow, name)

    calls = status_calls(admin)
    if "errorType" in expected:
        assert answer.returncode == 1, answer
        assert answer.error_type == expected["errorType"], answer.stderr
        if "mentions" in expected:
            assert re.search(rf"\b{re.escape(expected['mentions'])}\b", answer.error_message), answer.error_message
        assert calls == [], "an invalid event asks Kendra nothing"
        return

    assert answer.returncode == 0, f"{answer.stdout}\n{answer.stderr}\n{flow['watch'].tails()}"
    payload = answer.payload
    # Documents really checked: every document of the event's valid batches was asked for,
    # on the demo index, and every call was answered.
    asked = Counter(i for c in calls for i in c["documentIds"])
    assert set(asked) == set(event_document_ids(event)), asked
    assert all(c["indexId"] == INDEX_ID and c["error"] is None for c in calls), calls

    if expected["kind"] == "sqs":
        reported = [f["itemIdentifier"] for f in payload["batchItemFailures"]]
        assert sorted(reported) == sorted(expected.get("batchItemFailures", [])), payload
        return

    # A direct batch: settled in one round, since the README put every PUT document.
    n = len(event["documents"])
    assert payload["operation"] == expected["operation"]
    assert payload["attempt"] == expected["attempt"]
    for key, value in expected["keeps"].items():
        assert payload[key] == value
    target = "INDEXED" if expected["operation"] == "PUT" else "NOT_FOUND"
    assert payload["counts"] == {target: n}, payload["counts"]  # no UNCHECKED, no ERROR
    assert payload["documents"] == []
    assert payload["succeeded"] == event.get("succeeded", 0) + n
    assert payload["failed"] == event.get("failed", [])
    assert payload["status"] == ("FAILED" if payload["failed"] else "SUCCEEDED")
    assert sorted(asked.elements()) == sorted(doc_id(d) for d in event["documents"])


def test_the_function_named_cargo_lambdas_deadline_and_checked_every_round(flow):
    """Runs after the invocations: the function's log (cargo lambda watch's output) has the
    WARN about cargo-lambda's deadline, and no round ended with UNCHECKED documents."""
    valid = [n for n in SAMPLES if not n.startswith("invalid-")]
    if flow["first"]:  # run alone: invoke one event first
        assert invoke(flow, valid[0]).returncode == 0
    log = flow["watch"].stdout() + flow["watch"].stderr()
    assert "Running `target/debug/bootstrap`" in log
    warns = [l for l in log.splitlines() if "WARN" in l and "deadline" in l]
    assert warns and all("600000" in l for l in warns), warns
    assert "UNCHECKED" not in log
    assert "invocation summary" in log


def test_every_sample_names_only_the_demo_index_or_none():
    """The README starts kendra-local with one index and gives the function it as
    KENDRA_INDEX_ID: every valid sample batch must use that one."""
    for name in SAMPLES:
        if name.startswith("invalid-"):
            continue
        for batch in event_batches(load_event(name)):
            assert batch.get("indexId", INDEX_ID) == INDEX_ID, name
