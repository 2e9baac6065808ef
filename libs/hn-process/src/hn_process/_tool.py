"""Running a tool that is not this Python (npm, node, a build script) to its end."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence

from hn_process._wait import time_factor

__all__ = ["ToolFailed", "run_tool"]

#: how much of a failed tool's output its error carries
_TAIL_CHARS = 20_000


class ToolFailed(RuntimeError, AssertionError):
    """A tool exited non-zero; the message ends with the tail of its output.

    An assertion failure to a test (pytest reports it as a failed check, as `WaitTimeout`)."""

    def __init__(self, argv: Sequence[str], returncode: int, output: str) -> None:
        super().__init__(f"{' '.join(argv)} exited with {returncode}:\n{output[-_TAIL_CHARS:]}")
        self.returncode = returncode
        self.output = output


def run_tool(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str],
    timeout: float,
    env: Mapping[str, str] | None = None,
    scaled: bool = True,
) -> str:
    """Run `argv` in `cwd` to its end and return its output (stdout and stderr together).

    `ToolFailed` when it exits non-zero; `subprocess.TimeoutExpired` after `timeout` seconds,
    stretched by `time_factor()` when `scaled` (as tests do). The environment is `env` or this
    process's, without PYTHONPATH: a test sandbox's import path is no business of the tool's (nor
    of a Python it may start).
    """
    tool_env = dict(os.environ if env is None else env)
    tool_env.pop("PYTHONPATH", None)
    done = subprocess.run(
        list(argv),
        cwd=cwd,
        env=tool_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout * (time_factor() if scaled else 1.0),
    )
    if done.returncode != 0:
        raise ToolFailed(argv, done.returncode, done.stdout)
    return done.stdout
