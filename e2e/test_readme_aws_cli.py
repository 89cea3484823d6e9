"""README "Local use": kendra-local's start command and the AWS CLI commands, run exactly as
written (blocks readme-kendra-local and readme-kendra-cli) with AWS CLI v1 from PyPI
(.venv/bin/aws, from e2e/requirements.txt), in an environment with no other AWS settings.

Also shows why the block sets AWS_DEFAULT_REGION: without it CLI v1 stops with "You must
specify a region" (it ignores AWS_REGION).
"""

from __future__ import annotations

import pytest

from harness import INDEX_ID
from harness.readme import Reader, json_documents, settled_put_ids


@pytest.fixture
def reader(tmp_path):
    r = Reader(tmp_path)
    yield r
    r.close()
    assert r.leftovers() == [], "processes of these blocks outlived close()"


def test_the_aws_cli_on_the_path_is_v1_from_the_venv(reader):
    done = reader.run("command -v aws\naws --version\n", timeout=60)
    assert done.returncode == 0, done
    where, version = (done.stdout + done.stderr).strip().splitlines()
    assert where == str(reader.env["PATH"].split(":")[0]) + "/aws"
    assert version.startswith("aws-cli/1."), version


def test_readme_aws_cli_commands_against_kendra_local(reader):
    admin = reader.start_kendra_local()

    done = reader.run(reader.blocks["readme-kendra-cli"].text, timeout=180)

    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    put, status = [d for d in json_documents(done.stdout)]
    assert put == {"FailedDocuments": []}
    assert status["Errors"] == []
    assert {s["DocumentId"]: s["DocumentStatus"] for s in status["DocumentStatusList"]} == {
        "manuals/getting-started.pdf": "INDEXED",
        "archive/2019/report.pdf": "NOT_FOUND",
    }
    # The calls really reached the README's kendra-local, on the index it names.
    calls = admin.requests()
    assert [c["operation"] for c in calls] == ["BatchPutDocument", "BatchGetDocumentStatus"]
    assert all(c["indexId"] == INDEX_ID and c["error"] is None for c in calls)
    assert sorted(calls[0]["documentIds"]) == settled_put_ids()
    assert calls[1]["documentIds"] == ["manuals/getting-started.pdf", "archive/2019/report.pdf"]


def test_without_aws_default_region_cli_v1_has_no_region(reader):
    """The same block less its AWS_DEFAULT_REGION assignment fails before any call: that
    assignment is what makes the README work with CLI v1."""
    cli = reader.blocks["readme-kendra-cli"].text
    assert cli.count(" AWS_DEFAULT_REGION=us-east-1") == 1
    admin = reader.start_kendra_local()

    done = reader.run(cli.replace(" AWS_DEFAULT_REGION=us-east-1", ""), timeout=120)

    assert done.returncode != 0
    assert "You must specify a region" in done.stderr, done.stderr
    assert admin.requests() == []
