"""The demo's printing: one place for how a phase and a line look (scripts/demo.py)."""

from __future__ import annotations

import textwrap


def say(text: str = "") -> None:
    print(text, flush=True)


def phase(title: str, explanation: str) -> None:
    say()
    say("=" * 78)
    say(title)
    say("=" * 78)
    for line in textwrap.wrap(explanation, 78):
        say(line)
    say()
