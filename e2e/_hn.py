"""Driving the `hn` CLI from tests, as a studio engineer would from a terminal."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hn_process import child_env
from hn_runtime.testing import time_factor, wait_for

__all__ = ["HnUp", "hn", "hn_up", "run_processes"]

#: set (to anything) to keep `hn up`'s run directory and logs after a test, for a post-mortem
KEEP_ENV = "HN_E2E_KEEP_RUN"


def hn(run_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `hn --run-dir RUN_DIR ARGS...` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "hn_cli", "--run-dir", str(run_dir), *args],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout * time_factor(),
    )


@dataclass
class HnUp:
    run_dir: Path
    process: subprocess.Popen[str]
    #: what `hn up` printed
    out: Path


@contextlib.contextmanager
def hn_up(*args: str, ready: str = "healthy after") -> Iterator[HnUp]:
    """`hn up ARGS...` in a subprocess until it prints `ready`; stopped and cleaned up after."""
    # Not pytest's tmp_path: its parents are 0700, and the data tier runs PostgreSQL as "postgres"
    # when the tests run as root.
    scratch = Path(tempfile.mkdtemp(prefix="hn-e2e-up-"))
    scratch.chmod(0o755)
    run_dir, out = scratch / "run", scratch / "up.out"
    with out.open("w") as fh:
        up = subprocess.Popen(
            [sys.executable, "-m", "hn_cli", "--run-dir", str(run_dir), "up", *args],
            env=child_env(),
            stdout=fh,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        wait_for(
            lambda: ready in out.read_text() or up.poll() is not None,
            timeout=240,
            message=f"hn up to print {ready!r}",
        )
        assert up.poll() is None, f"hn up exited:\n{out.read_text()[-3000:]}"
        yield HnUp(run_dir, up, out)
    finally:
        if up.poll() is None:
            up.terminate()
            up.wait(120)
        if os.environ.get(KEEP_ENV):
            print(f"{KEEP_ENV} is set: {scratch} kept", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def run_processes(run_dir: str) -> list[str]:
    """Processes of a run still alive: marked by HN_RUN_DIR, or naming the run directory."""
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"HN_RUN_DIR={run_dir}".encode() in environ or run_dir in cmdline:
            left.append(f"{pid}: {cmdline[:120]}")
    return left
