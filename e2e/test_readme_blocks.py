"""README.md's marked command blocks, checked without running them: every block the README
tests run is there and shaped as they expect, the documents the AWS CLI block puts are the
ones the sample events need, the two set-up commands are the ones CI runs, and the
`sam local invoke` commands (which CI cannot run: no Docker engine) name the template's
function, existing events and an env.json that points at kendra-local's port.

The blocks themselves run in test_readme_local_use.py, test_readme_aws_cli.py and
test_readme_demo.py.
"""

from __future__ import annotations

import json
import re
import shlex

from harness import EVENTS_DIR, INDEX_ID, REPO, load_event, sample_event_names, template
from harness.readme import readme_blocks, settled_put_ids

MARKED = {
    "readme-two-commands",
    "readme-kendra-local",
    "readme-kendra-cli",
    "readme-cargo-lambda-watch",
    "readme-cargo-lambda-invoke",
    "readme-sam-local",
}


def commands(text: str) -> list[list[str]]:
    """The block's commands as argument lists: continuation lines and quoted newlines joined,
    comments dropped."""
    out, pending = [], ""
    for line in text.replace("\\\n", " ").splitlines():
        pending += line + "\n"
        try:
            words = shlex.split(pending, comments=True)
        except ValueError:  # a quote still open: the command goes on
            continue
        if words:
            out.append(words)
        pending = ""
    assert pending == "", f"unclosed quote in {text!r}"
    return out


def test_every_block_the_tests_run_is_marked_once_and_is_a_shell_block():
    blocks = readme_blocks()
    assert set(blocks) == MARKED
    assert {b.lang for b in blocks.values()} == {"sh"}
    # The markers sit in the order a reader meets the commands.
    order = [b.name for b in sorted(blocks.values(), key=lambda b: b.line)]
    assert order == [
        "readme-two-commands",
        "readme-kendra-local",
        "readme-kendra-cli",
        "readme-cargo-lambda-watch",
        "readme-cargo-lambda-invoke",
        "readme-sam-local",
    ]


def test_two_commands_are_the_demo_and_what_ci_runs():
    (demo, tests) = commands(readme_blocks()["readme-two-commands"].text)
    assert demo == ["scripts/demo.sh"]
    assert tests == ["scripts/test.sh"]
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^exec bash scripts/test\.sh\s*$", ci, re.M), ci


def test_servers_bind_loopback_on_the_ports_the_readme_names():
    blocks = readme_blocks()
    kendra = blocks["readme-kendra-local"].text
    assert '--port "${KENDRA_PORT:-8566}"' in kendra
    assert "--host" not in kendra  # kendra-local binds 127.0.0.1 by default
    watch = blocks["readme-cargo-lambda-watch"].text
    assert '--invoke-address 127.0.0.1 --invoke-port "${LAMBDA_PORT:-9000}"' in watch
    assert 'AWS_ENDPOINT_URL_KENDRA="http://127.0.0.1:${KENDRA_PORT:-8566}"' in watch
    invoke = blocks["readme-cargo-lambda-invoke"].text
    assert '--invoke-address 127.0.0.1 --invoke-port "${LAMBDA_PORT:-9000}"' in invoke
    # The placeholder the README names, exactly once, so the test can put each event there.
    assert invoke.count("events/step-functions-put.json") == 1


def test_cli_block_sets_the_region_for_cli_v1_and_v2():
    cli = readme_blocks()["readme-kendra-cli"].text
    assert "AWS_DEFAULT_REGION=us-east-1" in cli  # AWS CLI v1 reads only this one
    assert "AWS_REGION=us-east-1" in cli


def test_cli_block_puts_exactly_what_the_samples_need_to_settle():
    put = next(c for c in commands(readme_blocks()["readme-kendra-cli"].text) if c[:3] == ["aws", "kendra", "batch-put-document"])
    assert put[put.index("--index-id") + 1] == INDEX_ID
    documents = json.loads(put[put.index("--documents") + 1])
    assert 1 <= len(documents) <= 10  # one BatchPutDocument call
    assert sorted(d["Id"] for d in documents) == sorted(settled_put_ids())


def test_sam_local_invoke_names_the_function_existing_events_and_env_json():
    invokes = [c for c in commands(readme_blocks()["readme-sam-local"].text) if c[:3] == ["sam", "local", "invoke"]]
    assert len(invokes) == 2
    resources = template()["Resources"]
    for c in invokes:
        function = c[3]
        assert resources[function]["Type"] == "AWS::Serverless::Function"
        event = c[c.index("-e") + 1]
        assert (REPO / event).is_file() and event.removeprefix("events/") in sample_event_names()
        assert c[c.index("--env-vars") + 1] == "events/env.json"
        env = load_event("env.json")
        assert list(env) == [function]
    overrides = load_event("env.json")["KendraWaiterFunction"]
    # The function in Docker reaches kendra-local on the host, on the README's default port.
    assert overrides["AWS_ENDPOINT_URL_KENDRA"] == "http://host.docker.internal:8566"
    assert overrides["KENDRA_INDEX_ID"] == INDEX_ID
    assert (EVENTS_DIR / "env.json").is_file()
