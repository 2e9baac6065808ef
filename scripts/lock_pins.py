"""The exact pins of a Pants (pex) lockfile: every resolved package, direct and transitive.

    python -m scripts.lock_pins 3rdparty/python/default.lock   # name==version lines
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import NamedTuple

__all__ = ["Pin", "normalize", "read_pins"]


class Pin(NamedTuple):
    name: str
    version: str


def normalize(name: str) -> str:
    """A project name as PyPI compares them (PEP 503): case, '-', '_' and '.' do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(lockfile: Path) -> list[Pin]:
    """Sorted, one per (project, version), from every resolve of the lockfile."""
    # The lockfile is JSON behind a `//` comment header (Pants' metadata).
    text = lockfile.read_text()
    lock = json.loads("\n".join(line for line in text.splitlines() if not line.startswith("//")))
    return sorted(
        {
            Pin(r["project_name"], r["version"])
            for resolve in lock["locked_resolves"]
            for r in resolve["locked_requirements"]
        }
    )


if __name__ == "__main__":
    for pin in read_pins(Path(sys.argv[1])):
        print(f"{pin.name}=={pin.version}")
