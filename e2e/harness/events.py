"""The sample events in events/ and events/expectations.json, which says what the function
answers to each: loaded in one place, and checked for agreement in one place.

``python -m harness events`` (with e2e/ on PYTHONPATH) runs the agreement check on its own and
exits non-zero on a problem, for shell scripts that want it without pytest.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .common import EVENTS_DIR

NOT_EVENTS = ("expectations.json", "env.json")


def load_event(name: str) -> Any:
    """One file of events/, parsed."""
    return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))


def sample_event_names() -> list[str]:
    """Every sample event file name, sorted (not expectations.json or env.json)."""
    return sorted(p.name for p in EVENTS_DIR.glob("*.json") if p.name not in NOT_EVENTS)


def expectations() -> dict:
    return load_event("expectations.json")


def doc_id(doc: Any) -> str:
    """The id of a batch's document entry: a string, or an object's documentId."""
    return doc if isinstance(doc, str) else doc["documentId"]


def expectation_problems() -> list[str]:
    """Every disagreement between events/ and events/expectations.json: a file without an
    entry or an entry without a file, an invalid-* file without an errorType (or the other way
    round), an SQS record whose md5OfBody is wrong, a message count or batchItemFailures id
    that does not match the event, an env.json not keyed by the function's logical id."""
    expected_all = expectations()
    names = set(sample_event_names())
    problems = [f"{n}: no entry in events/expectations.json" for n in sorted(names - set(expected_all))]
    problems += [f"expectations.json names {n}, which does not exist" for n in sorted(set(expected_all) - names)]
    for name in sorted(names):
        problems += _event_problems(name, load_event(name), expected_all.get(name, {}))
    if list(load_event("env.json")) != ["KendraWaiterFunction"]:
        problems.append("env.json must have exactly the function's logical id, KendraWaiterFunction")
    return problems


def _event_problems(name: str, event: Any, expected: dict) -> list[str]:
    """The disagreements of one sample event with its expectation."""
    problems = []
    if name.startswith("invalid-") != ("errorType" in expected):
        problems.append(f"{name}: invalid-* files, and only they, expect an errorType")
    records = (event.get("Records") if isinstance(event, dict) else None) or []
    for record in records:
        if record.get("eventSource") == "aws:sqs":
            if record.get("md5OfBody") != hashlib.md5(record["body"].encode("utf-8")).hexdigest():
                problems.append(f"{name}: {record.get('messageId')}: md5OfBody is not the md5 of body")
    if expected.get("kind") == "sqs":
        if expected.get("messages") not in (None, len(records)):
            problems.append(f"{name}: expects {expected['messages']} messages, has {len(records)}")
        ids = {r.get("messageId") for r in records}
        for item in expected.get("batchItemFailures", []):
            if item not in ids:
                problems.append(f"{name}: batchItemFailures names {item}, not a messageId of the event")
    return problems


def main() -> int:
    problems = expectation_problems()
    for p in problems:
        print(p)
    print(f"{len(sample_event_names())} events, {len(expectations())} expectations")
    return 1 if problems else 0


def event_batches(event: Any) -> list[dict]:
    """The batches an event carries: itself for a direct batch, each SQS body that parses to
    an object."""
    if isinstance(event, dict) and "Records" in event:
        out = []
        for record in event["Records"]:
            try:
                body = json.loads(record.get("body", ""))
            except ValueError:
                continue
            if isinstance(body, dict):
                out.append(body)
        return out
    return [event]
