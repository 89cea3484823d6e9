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


def bench_size(skip_build: bool, arm64_zip: str | None = None) -> dict:
    """Sizes of the x86_64 release binary and, when cargo lambda is there, of the arm64 one
    (``arm64_zip``: a bootstrap.zip cargo lambda built elsewhere, e.g. from a snapshot of the
    sources with its own CARGO_TARGET_DIR, measured instead of building one here)."""
    out = x86_64_size(harness.waiter_bin())
    if arm64_zip:
        zpath = Path(arm64_zip)
        out.update({**_zipped_binary(zpath), "arm64_zip_bytes": zpath.stat().st_size, "arm64_zip_path": str(zpath)})
    else:
        out.update(arm64_size(skip_build))
    return out


def x86_64_size(binary: Path) -> dict:
    """The release binary and its zip (deflate -9, as a deployment package would be)."""
    out: dict = {"x86_64_bytes": binary.stat().st_size, "x86_64_stripped": _is_stripped(binary)}
    tmp = Path(tempfile.mkdtemp(prefix="bench-zip-"))
    try:
        zpath = tmp / "bootstrap.zip"
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            z.write(binary, "bootstrap")
        out["x86_64_zip_bytes"] = zpath.stat().st_size
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def arm64_size(skip_build: bool) -> dict:
    """The arm64 bootstrap.zip cargo lambda builds (the deployed architecture); a reason
    instead when it cannot be measured here."""
    venv_bin = str(REPO / ".venv" / "bin")
    cargo_lambda = shutil.which("cargo-lambda", path=venv_bin + os.pathsep + os.environ.get("PATH", ""))
    if cargo_lambda is None:
        return {"arm64": "not measured: cargo-lambda not installed (.venv/bin/pip install cargo-lambda)"}
    if not skip_build:
        env = dict(os.environ, PATH=venv_bin + os.pathsep + os.environ.get("PATH", ""))
        proc = subprocess.run(
            [cargo_lambda, "lambda", "build", "--release", "--arm64", "--output-format", "zip", "--bin", "bootstrap"],
            cwd=REPO, env=env, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            return {"arm64": f"not measured: cargo lambda build failed: {proc.stderr[-800:]}"}
    zpath = REPO / "target" / "lambda" / "bootstrap" / "bootstrap.zip"
    if not zpath.is_file():
        return {"arm64": f"not measured: {zpath.relative_to(REPO)} missing"}
    return {**_zipped_binary(zpath), "arm64_zip_bytes": zpath.stat().st_size}


def _zipped_binary(zpath: Path) -> dict:
    """Size, strippedness and `file` description of the bootstrap inside a zip."""
    with zipfile.ZipFile(zpath) as z, tempfile.TemporaryDirectory() as d:
        info = z.getinfo("bootstrap")
        z.extract(info, d)
        binary = Path(d) / "bootstrap"
        described = subprocess.run(["file", "-b", str(binary)], capture_output=True, text=True).stdout.strip() if shutil.which("file") else ""
        return {"arm64_bytes": info.file_size, "arm64_stripped": _is_stripped(binary), "arm64_file": described}


def _is_stripped(path: Path) -> bool:
    """True when the ELF has no .symtab section."""
    data = path.read_bytes()
    return b".symtab" not in data
