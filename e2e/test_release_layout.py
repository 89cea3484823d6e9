"""The release binary is laid out hot code first (build.rs, link/hot-text.ld): the functions
an invocation runs sit together in ``.text.hot`` at the start of the code, so a process maps
about 3 MB of its 8 MB of code instead of nearly all of it (docs/performance.md, "Hot code
first"). What this guards is the wiring: build.rs hands the script to the linker where it
should, and the script still matches the code. How much memory that saves is the
benchmark's to say (scenario 5).

Run: .venv/bin/python -m pytest e2e/test_release_layout.py
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

from harness.common import REPO

SCRIPT = REPO / "link" / "hot-text.ld"
SHF_EXECINSTR = 0x4


def executable_sections(binary: Path) -> list[tuple[str, int, int]]:
    """(name, address, size) of the ELF64 little-endian file's executable sections, by
    address (no readelf: a fresh machine has only Rust, python3 and node)."""
    data = binary.read_bytes()
    assert data[:6] == b"\x7fELF\x02\x01", f"{binary} is not a 64-bit little-endian ELF file"
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    strtab = headers[shstrndx][4]

    def name(offset: int) -> str:
        end = data.index(b"\0", strtab + offset)
        return data[strtab + offset:end].decode()

    found = [(name(h[0]), h[3], h[5]) for h in headers if h[2] & SHF_EXECINSTR and h[5]]
    return sorted(found, key=lambda s: s[1])


def test_hot_code_comes_first_in_the_release_binary(binaries):
    sections = {name: (addr, size) for name, addr, size in executable_sections(binaries["bootstrap"])}
    assert ".text.hot" in sections, (
        f"the release bootstrap has no .text.hot (executable sections: {sorted(sections)}): "
        "build.rs did not pass link/hot-text.ld to the linker, or KENDRA_WAITER_HOT_TEXT=off")
    hot_addr, hot = sections[".text.hot"]
    text_addr, text = sections[".text"]
    assert hot_addr < text_addr, ".text.hot must come before the rest of the code"
    # The patterns no longer matching most of the hot code (renamed functions, a new
    # toolchain) shows as a small .text.hot; matching everything, as a huge one.
    share = hot / (hot + text)
    assert hot > 1_500_000, f".text.hot holds only {hot:,} bytes: regenerate it with bench/hot_text.py"
    assert share < 0.6, f".text.hot holds {share:.0%} of the code: its patterns take cold code in"


def test_the_linker_script_holds_only_patterns_every_linker_reads():
    text = SCRIPT.read_text()
    patterns = re.findall(r"^    \*\((\S+)\)$", text, re.M)
    assert len(patterns) > 500, f"{SCRIPT.name} has {len(patterns)} patterns"
    # Unquoted names: GNU ld and lld read quoted patterns as literal names, without globbing.
    unsafe = [p for p in patterns if re.search(r"[^A-Za-z0-9_.$*]", p) or not p.startswith(".text*.")]
    assert not unsafe, f"patterns a linker script cannot hold: {unsafe[:3]}"
    assert "INSERT BEFORE .text;" in text, "without INSERT the script would replace the linker's whole layout"


def build_script() -> Path:
    """The compiled build.rs of the last release build (cargo names its directory by a hash)."""
    built = sorted((REPO / "target" / "release" / "build").glob("kendra-waiter-*/build-script-build"),
                   key=lambda p: p.stat().st_mtime)
    assert built, "no compiled build.rs under target/release/build: run the release build first"
    return built[-1]


def link_args(**env: str) -> list[str]:
    base = {"CARGO_CFG_TARGET_OS": "linux", "PROFILE": "release", "CARGO_MANIFEST_DIR": str(REPO)}
    out = subprocess.run([str(build_script())], env={**base, **env}, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.startswith(("cargo:rustc-link-arg", "cargo:warning"))]


def test_the_build_script_links_hot_code_first_only_where_it_should():
    assert link_args() == [f"cargo:rustc-link-arg-bin=bootstrap=-Wl,-T,{SCRIPT}"]
    assert link_args(KENDRA_WAITER_HOT_TEXT="off") == [], "the switch for linkers without INSERT (mold)"
    assert link_args(PROFILE="debug") == [], "a debug build's layout does not matter"
    assert link_args(CARGO_CFG_TARGET_OS="macos") == [], "the script is an ELF linker's"
    missing = link_args(CARGO_MANIFEST_DIR="/nonexistent")
    assert len(missing) == 1 and "is missing" in missing[0], missing
