"""Scenario (6): the size of the stripped bootstrap and of its deployment zip, for x86_64
(the release build) and arm64 (cargo lambda, when installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import harness

REPO = harness.REPO


def bench_size(skip_build: bool) -> dict:
    out: dict = {}
    x86 = harness.waiter_bin()
    out["x86_64_bytes"] = x86.stat().st_size
    out["x86_64_stripped"] = _is_stripped(x86)
    tmp = Path(tempfile.mkdtemp(prefix="bench-zip-"))
    try:
        zpath = tmp / "bootstrap.zip"
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            z.write(x86, "bootstrap")
        out["x86_64_zip_bytes"] = zpath.stat().st_size
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cargo_lambda = shutil.which("cargo-lambda", path=str(REPO / ".venv" / "bin") + os.pathsep + os.environ.get("PATH", ""))
    if cargo_lambda is None:
        out["arm64"] = "not measured: cargo-lambda not installed (.venv/bin/pip install cargo-lambda)"
        return out
    lambda_dir = REPO / "target" / "lambda" / "bootstrap"
    if not skip_build:
        env = dict(os.environ)
        env["PATH"] = str(REPO / ".venv" / "bin") + os.pathsep + env.get("PATH", "")
        proc = subprocess.run(
            [cargo_lambda, "lambda", "build", "--release", "--arm64", "--output-format", "zip",
             "--bin", "bootstrap"],
            cwd=REPO, env=env, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            out["arm64"] = f"not measured: cargo lambda build failed: {proc.stderr[-800:]}"
            return out
    zpath = lambda_dir / "bootstrap.zip"
    if not zpath.is_file():
        out["arm64"] = f"not measured: {zpath} missing"
        return out
    with zipfile.ZipFile(zpath) as z:
        info = z.getinfo("bootstrap")
        out["arm64_bytes"] = info.file_size
        with tempfile.TemporaryDirectory() as d:
            z.extract(info, d)
            out["arm64_stripped"] = _is_stripped(Path(d) / "bootstrap")
            out["arm64_file"] = subprocess.run(["file", "-b", str(Path(d) / "bootstrap")],
                                               capture_output=True, text=True).stdout.strip() if shutil.which("file") else ""
    out["arm64_zip_bytes"] = zpath.stat().st_size
    return out


def _is_stripped(path: Path) -> bool:
    """True when the ELF has no .symtab section."""
    data = path.read_bytes()
    return b".symtab" not in data
