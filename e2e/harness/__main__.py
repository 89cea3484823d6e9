"""Harness checks that shell scripts can run without pytest (e2e/ on PYTHONPATH):

    python -m harness events    events/ against events/expectations.json (exit 1 on a problem)
"""

from __future__ import annotations

import sys

from . import events

COMMANDS = {"events": events.main}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    return COMMANDS[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
