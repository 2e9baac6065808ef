"""Children that never outlive the process that started them.

Two independent guards cover a parent dying without cleaning up (kill -9, a test runner's
timeout):

- `dies_with_parent`: `PR_SET_PDEATHSIG`, the kernel signals the child when the thread that
  started it dies. Only set when starting from the main thread (a worker thread ending would
  otherwise kill its children); under gevent every greenlet runs on the main thread.
- `Watchdog`: a tiny Python process in its own session, reading the parent's list of process
  groups from a pipe. When the pipe reaches end-of-file without a clean "exit" (the parent died),
  it signals every group with its stop signal, waits a moment, SIGKILLs what is left and removes
  the folder it was given.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import sys
import threading
from collections.abc import Callable

__all__ = ["Watchdog", "dies_with_parent"]

_PR_SET_PDEATHSIG = 1

_WATCHDOG_SOURCE = r"""
import os, shutil, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
groups, scratch = {}, None
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "+":
        pgid, sig = arg.split()
        groups[int(pgid)] = int(sig)
    elif cmd == "-":
        groups.pop(int(arg), None)
    elif cmd == "rm":
        scratch = arg
    elif cmd == "exit":
        sys.exit(0)
def alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except OSError:
        return False
for pgid, sig in groups.items():
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass
deadline = time.monotonic() + 5
while time.monotonic() < deadline and any(alive(g) for g in groups):
    time.sleep(0.05)
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
if scratch:
    time.sleep(0.2)
    shutil.rmtree(scratch, ignore_errors=True)
"""


def _on_main_thread() -> bool:
    # The kernel ties PDEATHSIG to the thread that forks; under gevent every greenlet runs on it.
    return threading.get_native_id() == os.getpid()


def dies_with_parent(deathsig: int) -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel send `deathsig` to the child when this process dies
    (None off the main thread, where the kernel would tie it to a thread instead)."""
    if not _on_main_thread():
        return None
    parent = os.getpid()

    def setup() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, deathsig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), deathsig)

    return setup


class Watchdog:
    """Kills the registered process groups (and removes a folder) if this process dies."""

    def __init__(self) -> None:
        read_end, self._write_end = os.pipe()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-S", "-c", _WATCHDOG_SOURCE],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            os.close(read_end)
        self._lock = threading.Lock()
        self._closed = False

    def _send(self, line: str) -> None:
        with self._lock:
            if not self._closed:
                os.write(self._write_end, (line + "\n").encode())

    def watch(self, pgid: int, sig: int) -> None:
        self._send(f"+ {pgid} {int(sig)}")

    def forget(self, pgid: int) -> None:
        self._send(f"- {pgid}")

    def remove_on_death(self, path: str) -> None:
        self._send(f"rm {path}")

    def close(self) -> None:
        """Clean exit: everything was stopped by its owner, the watchdog has nothing to do."""
        with self._lock:
            if self._closed:
                return
            with contextlib.suppress(OSError):
                os.write(self._write_end, b"exit\n")
            os.close(self._write_end)
            self._closed = True
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=10)

    @property
    def pid(self) -> int:
        return self._process.pid
