"""Fixtures of the end-to-end suite: every test starts what it needs and the fixtures stop
it (also when the test fails). Binaries come from KENDRA_WAITER_BIN / KENDRA_LOCAL_BIN
(defaults: target/release/bootstrap and target/release/kendra-local). The harness package
is importable because e2e/pytest.ini puts e2e/ on the path."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

import harness
from harness import FakeFunction, FunctionProcess, HarnessError, KendraLocal, LocalStepFunctions, MotoServer, RuntimeApi


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session")
def binaries() -> dict[str, Path]:
    try:
        return {"bootstrap": harness.waiter_bin(), "kendra-local": harness.kendra_local_bin()}
    except HarnessError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def moto_server(binaries, tmp_path_factory):
    server = MotoServer(workdir=tmp_path_factory.mktemp("moto"))
    yield server
    server.close()


@pytest.fixture
def sqs(moto_server):
    moto_server.reset()
    return moto_server.client("sqs")


class E2E:
    """Starts processes for one test and stops them all at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self._stack = harness.Stack()
        self.functions: list[FunctionProcess] = []

    def kendra(self, **kwargs: Any) -> KendraLocal:
        kwargs.setdefault("workdir", self.tmp_path / f"kendra-{len(self._stack)}")
        return self._stack.add(KendraLocal(**kwargs))

    def runtime(self, **kwargs: Any) -> RuntimeApi:
        return self._stack.add(RuntimeApi(**kwargs))

    def function(
        self,
        runtime: RuntimeApi,
        env: dict[str, str | None] | None = None,
        kendra: KendraLocal | None = None,
        sqs_endpoint: str | None = None,
        **kwargs: Any,
    ) -> FunctionProcess:
        fn = FunctionProcess(
            runtime,
            env,
            kendra_endpoint=kendra.endpoint if kendra else None,
            sqs_endpoint=sqs_endpoint,
            workdir=self.tmp_path,
            name=f"function-{len(self.functions)}",
            **kwargs,
        )
        self.functions.append(fn)
        return self._stack.add(fn)

    def fake_function(self, runtime: RuntimeApi, kind: type[FakeFunction] = FakeFunction, **kwargs: Any) -> FakeFunction:
        """A Python stand-in for the function behind ``runtime`` (see harness.fake_function);
        ``kind``: a subclass that answers differently."""
        return self._stack.add(kind(runtime, **kwargs))

    def step_functions(self, runtime: RuntimeApi, **kwargs: Any) -> LocalStepFunctions:
        """The template's state machine on moto's interpreter, invoking ``runtime``; stopped
        (and the environment restored) at teardown."""
        return self._stack.add(LocalStepFunctions(runtime, **kwargs).open())

    def close(self) -> None:
        self._stack.close()


def _environment(tmp_path: Path, request) -> Iterator[E2E]:
    """An E2E for one test; after a failed test, the function's log tails go to stderr."""
    env = E2E(tmp_path)
    yield env
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    env.close()
    if failed:
        for fn in env.functions:
            sys.stderr.write(
                f"\n--- {fn.stdout_path} (tail)\n{fn.stdout()[-4000:]}\n--- {fn.stderr_path} (tail)\n{fn.stderr()[-2000:]}\n"
            )


@pytest.fixture
def e2e(binaries, tmp_path, request):
    """Processes around the release binaries (fails at once, with the build command, when
    they are missing)."""
    yield from _environment(tmp_path, request)


@pytest.fixture
def local(tmp_path, request):
    """The same, for tests that run no release binary (a FakeFunction behind the Runtime
    API): they need only the venv."""
    yield from _environment(tmp_path, request)
