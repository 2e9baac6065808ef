"""Running the real `hn` command (`python -m hn_cli`) from a test, against a yellow of the test's."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass

from hn_process import child_env, time_factor

#: `hn <command>: <what failed> (code <code>[, trace <16 hex digits>])`: the whole of stderr.
ERROR_LINE = re.compile(
    r"^hn (?P<command>[a-z]+): (?P<what>.+) \(code (?P<code>[^,()]+)(, trace (?P<trace>[0-9a-f]{16}))?\)$"
)


@dataclass
class HnRun:
    status: int
    stdout: str
    stderr: str

    def error(self) -> re.Match[str]:
        """The one error line, parsed; fails unless stderr is exactly that line."""
        lines = self.stderr.splitlines()
        assert len(lines) == 1, f"stderr is not one line:\n{self.stderr}"
        match = ERROR_LINE.match(lines[0])
        assert match is not None, f"not an hn error line: {lines[0]!r}"
        return match


def hn(yellow: str, *args: str, timeout: float = 60.0) -> HnRun:
    """`hn --yellow <yellow> <args>` as a process (gevent's subprocess: this process's servers
    keep serving while it runs)."""
    proc = subprocess.run(
        [sys.executable, "-m", "hn_cli", "--yellow", yellow, *args],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout * time_factor(),
    )
    return HnRun(proc.returncode, proc.stdout, proc.stderr)
