"""README.md's runnable command blocks, and running them as a reader would.

A fenced block preceded by an HTML comment ``<!-- test: NAME -->`` (invisible on GitHub) is
one a test runs, or checks, exactly as written: ``readme_blocks()`` returns them by name.
Blocks run in bash (``-e -o pipefail``) from the repository root, in an environment with
nothing of the caller's AWS set-up (no ``AWS_*`` variables, no ``~/.aws`` files) and
``.venv/bin`` first on PATH, which is what the README asks of a reader. The ports the README
reads from ``KENDRA_PORT`` / ``LAMBDA_PORT`` are set to free ones.

``ShellProcess`` runs a block that serves until stopped (kendra-local, ``cargo lambda watch``)
in its own process group, stopped as a group; ``run_block`` runs a block to its end with a
bound. ``KendraAdmin`` reads kendra-local's request log over its admin API when the test did
not start the emulator itself (the README's command did). ``parse_invoke`` reads what
``cargo lambda invoke`` prints: the answer on stdout, or for a function error exit status 1
and ``Error: <errorType>`` with the message on stderr.
"""

from __future__ import annotations

import http.client
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import REPO, HarnessError, Stack, free_port
from .events import doc_id, event_batches, load_event, sample_event_names
from .shell import Block, Completed, ShellProcess, alive, group_alive, run_block

README = REPO / "README.md"
VENV_BIN = REPO / ".venv" / "bin"
MARKER = re.compile(r"^<!-- test: ([a-z0-9-]+) -->$")


def readme_blocks(path: Path = README) -> dict[str, Block]:
    """Every marked block of the README, by name. A marker must be followed directly by a
    fenced block, and a name used once: anything else is a HarnessError naming the line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: dict[str, Block] = {}
    for i, line in enumerate(lines):
        m = MARKER.match(line.strip())
        if not m:
            continue
        name = m.group(1)
        if name in blocks:
            raise HarnessError(f"README.md:{i + 1}: marker {name} used twice")
        if i + 1 >= len(lines) or not lines[i + 1].startswith("```"):
            raise HarnessError(f"README.md:{i + 1}: marker {name} is not followed by a fenced block")
        fence = lines[i + 1]
        ticks = fence[: len(fence) - len(fence.lstrip("`"))]
        try:
            end = next(j for j in range(i + 2, len(lines)) if lines[j].rstrip() == ticks)
        except StopIteration:
            raise HarnessError(f"README.md:{i + 2}: the block of marker {name} is not closed") from None
        text = "".join(f"{l}\n" for l in lines[i + 2:end])
        blocks[name] = Block(name, text, fence[len(ticks):].strip(), i + 1)
    return blocks


def reader_environment(scratch: Path, **extra: str) -> dict[str, str]:
    """The environment of a reader's shell: the caller's, less every AWS_* variable and every
    variable the README's commands read (KENDRA_*, LAMBDA_PORT), with ``.venv/bin`` first on
    PATH and AWS config/credentials files pointed at files that do not exist, so only what a
    block sets reaches the AWS CLI and the function. ``extra`` is added last."""
    for tool in ("cargo-lambda", "aws"):
        if not (VENV_BIN / tool).is_file():
            raise HarnessError(f".venv/bin/{tool} is missing: run `bash scripts/setup.sh` (e2e/requirements.txt installs it)")
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith(("AWS_", "KENDRA_", "CARGO_LAMBDA_")) or k in ("LAMBDA_PORT", "VIRTUAL_ENV", "RUST_LOG"))
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["AWS_CONFIG_FILE"] = str(scratch / "no-aws-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(scratch / "no-aws-credentials")
    env.update(extra)
    return env


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 right now (for servers told a port, not 0)."""
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def json_documents(text: str) -> list[Any]:
    """The JSON values printed one after another (the AWS CLI prints one per command)."""
    decoder = json.JSONDecoder()
    values, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return values
        value, i = decoder.raw_decode(text, i)
        values.append(value)


@dataclass
class InvokeAnswer:
    """What ``cargo lambda invoke`` printed: the payload (exit 0), or the function error's
    type and message (exit 1, ``Error: <errorType>`` and the message on stderr)."""

    returncode: int
    payload: Any
    error_type: str | None
    error_message: str | None
    stdout: str
    stderr: str


def parse_invoke(done: Completed) -> InvokeAnswer:
    if done.returncode == 0:
        return InvokeAnswer(0, json.loads(done.stdout), None, None, done.stdout, done.stderr)
    m = re.search(r"^Error: (\S+)\s*$", done.stderr, re.M)
    if not m:
        return InvokeAnswer(done.returncode, None, None, None, done.stdout, done.stderr)
    # miette's report: "  × first line", "  │ continued" (or "x"/"|" in its ASCII theme),
    # then a blank line before cargo-lambda's own "Was this behavior unexpected?".
    message_lines = []
    for line in done.stderr[m.end():].splitlines():
        stripped = re.sub(r"^\s*(?:×|│|x(?= )|\|)", "", line).strip()
        if stripped:
            message_lines.append(stripped)
        elif message_lines:
            break
    return InvokeAnswer(done.returncode, None, m.group(1), " ".join(message_lines), done.stdout, done.stderr)


class KendraAdmin:
    """kendra-local's admin API at ``endpoint`` (an emulator the test did not start itself)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        hostport = self.endpoint.split("://", 1)[1]
        self.host, _, port = hostport.partition(":")
        self.port = int(port)

    def _call(self, method: str, path: str) -> Any:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request(method, "/_kendra_local/" + path)
            resp = conn.getresponse()
            raw = resp.read()
            if resp.status >= 300:
                raise HarnessError(f"kendra-local admin {method} {path}: {resp.status} {raw[:300]!r}")
            return json.loads(raw) if raw else None
        finally:
            conn.close()

    def healthy(self) -> bool:
        try:
            return self._call("GET", "health").get("status") == "ok"
        except (OSError, HarnessError, ValueError):
            return False

    def requests(self) -> list[dict]:
        return self._call("GET", "requests")

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def event_document_ids(event: Any) -> list[str]:
    """Every document id an event's batches name, in order (duplicates kept)."""
    return [doc_id(d) for b in event_batches(event) for d in (b.get("documents") or [])]


def settled_put_ids() -> list[str]:
    """The ids of the PUT documents of every valid sample event, sorted: what kendra-local must
    have indexed for every sample to settle in one round."""
    ids = set()
    for name in sample_event_names():
        if name.startswith("invalid-"):
            continue
        for batch in event_batches(load_event(name)):
            if batch.get("operation", "PUT") == "PUT":
                ids |= {doc_id(d) for d in batch.get("documents") or []}
    return sorted(ids)


# `cargo run --release -p kendra-local` may have to build kendra-local first.
KENDRA_START_TIMEOUT = 900.0


class Reader:
    """A reader following the README in ``scratch``: their environment (``reader_environment``
    with free ports in KENDRA_PORT and LAMBDA_PORT), the blocks they started in the
    background (stopped, each as a process group, by ``close()``, latest first)."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.kendra_port, self.lambda_port = free_ports(2)
        self.env = reader_environment(scratch, KENDRA_PORT=str(self.kendra_port), LAMBDA_PORT=str(self.lambda_port))
        self.blocks = readme_blocks()
        self.started: list[ShellProcess] = []
        self._stack = Stack()

    def start(self, name: str) -> ShellProcess:
        """A block that serves until stopped, in the background."""
        proc = ShellProcess(self.blocks[name], self.env, self.scratch)
        self.started.append(proc)
        return self._stack.add(proc)

    def run(self, text: str, timeout: float) -> Completed:
        return run_block(text, self.env, timeout)

    def start_kendra_local(self) -> KendraAdmin:
        """The README's kendra-local command, until it prints where it listens (on the port
        KENDRA_PORT names) and answers its health check."""
        kendra = self.start("readme-kendra-local")
        url = f"http://127.0.0.1:{self.kendra_port}"
        line = f"kendra-local listening on {url}"
        kendra.wait_for(lambda: line in kendra.stdout(), KENDRA_START_TIMEOUT, repr(line))
        admin = KendraAdmin(url)
        kendra.wait_for(admin.healthy, 30, "kendra-local health")
        return admin

    def close(self) -> None:
        self._stack.close()

    def leftovers(self) -> list[str]:
        """Blocks of which a process still runs after ``close()`` (in the block's group, or
        one that was below it when it was stopped)."""
        return [
            p.block.name for p in self.started if group_alive(p.pgid) or any(alive(pid, start) for pid, start in p.tree)
        ]

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
