"""Shell commands run as a reader runs them: one bash per block, in its own process group,
stopped with everything it started (cargo-lambda starts the function in a group of its
own, so the whole session is tracked), and completed runs with their output."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .common import REPO, HarnessError, wait_until


@dataclass(frozen=True)
class Block:
    """One marked fenced block: its text (the lines between the fences, newline-ended), its
    info string (``sh``) and the 1-based line of its marker."""

    name: str
    text: str
    lang: str
    line: int


def _bash(script: str) -> list[str]:
    return ["bash", "-e", "-o", "pipefail", "-c", script]


def _stop_group(proc: subprocess.Popen, grace: float, tree: list[tuple[int, str]] | None = None) -> int | None:
    """Stops a block: SIGTERM to the process group it leads and to every process below it
    that left the group, SIGKILL to what is left after ``grace`` seconds; returns the block's
    exit code. ``tree``: the processes below it, when the caller has already listed them."""
    tree = descendants(proc.pid) if tree is None else tree
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        for pid, start in tree:
            if alive(pid, start):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        end = time.monotonic() + grace
        while time.monotonic() < end and (group_alive(proc.pid) or any(alive(p, s) for p, s in tree)):
            proc.poll()
            time.sleep(0.05)
        if not (group_alive(proc.pid) or any(alive(p, s) for p, s in tree)):
            break
    proc.wait(timeout=grace)
    return proc.returncode


def _proc_stat(pid: int) -> tuple[str, int, int, str, int] | None:
    """(state, ppid, pgrp, start time, session) of a process from /proc, or None when it is
    gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1]), int(fields[2]), fields[19], int(fields[3])


def _all_processes() -> dict[int, tuple[str, int, int, str, int]]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None:
                out[int(entry.name)] = stat
    return out


def descendants(pid: int) -> list[tuple[int, str]]:
    """Every live process below ``pid``, as (pid, start time): cargo-lambda starts the
    function in a process group of its own, so stopping a block's group is not enough."""
    procs = _all_processes()
    children: dict[int, list[int]] = {}
    for p, (_state, ppid, *_rest) in procs.items():
        children.setdefault(ppid, []).append(p)
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out.append((p, procs[p][3]))
        todo += children.get(p, [])
    return out


def alive(pid: int, start: str) -> bool:
    """Whether that very process (same start time: not a reused pid) runs, zombies excluded."""
    stat = _proc_stat(pid)
    return stat is not None and stat[3] == start and stat[0] != "Z"


def group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process of the group remains."""
    return any(pgrp == pgid and state != "Z" for state, _ppid, pgrp, *_rest in _all_processes().values())


def session_processes(sid: int) -> list[tuple[int, str]]:
    """The live processes of a session, as (pid, command line)."""
    out = []
    for pid, (state, _ppid, _pgrp, _start, session) in _all_processes().items():
        if session == sid and state != "Z":
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            out.append((pid, cmd))
    return out


class ShellProcess:
    """A block that serves until stopped, run in its own session (process group); stdout and
    stderr go to files in ``workdir``. ``close()`` stops the whole group."""

    def __init__(self, block: Block, env: dict[str, str], workdir: Path) -> None:
        self.block = block
        workdir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = workdir / f"{block.name}.stdout"
        self.stderr_path = workdir / f"{block.name}.stderr"
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            _bash(block.text),
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
            start_new_session=True,
        )
        self.pgid = self.proc.pid
        self.returncode: int | None = None
        self.tree: list[tuple[int, str]] = []

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def tails(self) -> str:
        return f"--- {self.block.name} stdout\n{self.stdout()[-3000:]}\n--- {self.block.name} stderr\n{self.stderr()[-3000:]}"

    def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        """Polls ``predicate`` until it holds; fails at once, with the logs, if the block ended."""

        def check() -> Any:
            if self.proc.poll() is not None:
                raise HarnessError(f"{self.block.name} ended with {self.proc.returncode} before {what}\n{self.tails()}")
            return predicate()

        try:
            return wait_until(check, timeout, what, interval=0.1)
        except TimeoutError as e:
            raise TimeoutError(f"{e}\n{self.tails()}") from None

    def close(self) -> int | None:
        if self.returncode is None:
            self.tree = descendants(self.proc.pid)
            self.returncode = _stop_group(self.proc, grace=10, tree=self.tree)
        self._out.close()
        self._err.close()
        return self.returncode if self.returncode is not None else self.proc.returncode


@dataclass
class Completed:
    """A block run to its end: exit status, output, how long it took, and the processes it
    started that were still running when it ended (then stopped: a clean block leaves none)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    leftovers: list[str]


def run_block(text: str, env: dict[str, str], timeout: float) -> Completed:
    """Runs ``text`` in bash from the repository root and waits for it; after ``timeout``
    seconds its process group is stopped and a TimeoutError raised."""
    start = time.monotonic()
    proc = subprocess.Popen(
        _bash(text),
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_group(proc, grace=5)
        out, err = proc.communicate()
        raise TimeoutError(
            f"block did not end within {timeout}s:\n{text}\nstdout: {out.decode(errors='replace')[-2000:]}\n"
            f"stderr: {err.decode(errors='replace')[-2000:]}"
        ) from None
    seconds = time.monotonic() - start
    # The block ran in a session of its own: whatever still runs in it was left behind.
    left = session_processes(proc.pid)
    for pid, _cmd in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return Completed(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), seconds, [c for _p, c in left])
