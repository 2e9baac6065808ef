"""Child processes that never outlive the launcher.

Every server runs in its own session (so its process group is its own: a Ctrl-C in the terminal
reaches only the launcher, which then stops everything in order, and `stop()` can kill a server
together with whatever it forked). Two independent guards cover the launcher dying without
cleaning up (kill -9, a test runner's timeout):

- `PR_SET_PDEATHSIG`: the kernel signals the child when the thread that started it dies. Only set
  when starting from the main thread (a worker thread ending would otherwise kill its children).
- A watchdog: a tiny Python process in its own session, reading the launcher's list of process
  groups from a pipe. When the pipe reaches end-of-file without a clean "exit" (the launcher
  died), it signals every group with its stop signal, waits a moment, SIGKILLs what is left and
  removes the scratch directory.

Works with and without gevent's monkey patching (gevent's subprocess honours the same options).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["ManagedProcess", "Watchdog", "ProcessFailed", "dies_with_parent", "wait_until"]

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


class ProcessFailed(RuntimeError):
    """A server exited, or did not become ready in time; carries the end of its log."""


def wait_until(condition: Callable[[], object], *, timeout: float, interval: float = 0.05, what: str = "") -> None:
    """Poll `condition` until truthy; raise TimeoutError after `timeout` seconds (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what or condition}")
        time.sleep(interval)


def _on_main_thread() -> bool:
    # The kernel ties PDEATHSIG to the thread that forks; under gevent every greenlet runs on it.
    return threading.get_native_id() == os.getpid()


def dies_with_parent(deathsig: int) -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel send `deathsig` to the child when this process dies
    (None off the main thread, where the kernel would tie it to a thread instead)."""
    return _child_setup(deathsig, os.getpid()) if _on_main_thread() else None


def _child_setup(deathsig: int | None, parent: int) -> Callable[[], None]:
    def setup() -> None:
        if deathsig:
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


class ManagedProcess:
    """One server process: started in its own session, stopped with its group, logged to a file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: str | None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        user: int | None = None,
        group: int | None = None,
        stop_signal: int = signal.SIGTERM,
        deathsig: int = signal.SIGKILL,
        watchdog: Watchdog | None = None,
        new_session: bool = True,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.user = user
        self.group = group
        self.stop_signal = stop_signal
        self.deathsig = deathsig
        self.watchdog = watchdog
        # False: stay in the caller's process group (a helper the caller's own group stop covers).
        self.new_session = new_session
        self.process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"<ManagedProcess {self.name} pid={self.pid} alive={self.alive}>"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.poll() if self.process else None

    def start(self) -> ManagedProcess:
        if self.alive:
            raise RuntimeError(f"{self.name} is already running")
        options: dict[str, Any] = {}
        if self.user is not None and self.user != os.geteuid():
            options.update(user=self.user, group=self.group, extra_groups=[])
        deathsig = self.deathsig if _on_main_thread() else None
        # No log path: share the caller's stdout/stderr (the agent's nutcracker, under systemd).
        with open(self.log_path, "ab") if self.log_path else contextlib.nullcontext() as log:
            process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT if log else None,
                cwd=self.cwd,
                env=self.env,
                start_new_session=self.new_session,
                close_fds=True,
                preexec_fn=_child_setup(deathsig, os.getpid()),
                **options,
            )
        self.process = process
        if self.watchdog is not None and self.new_session:
            self.watchdog.watch(process.pid, self.stop_signal)
        return self

    def wait_ready(self, check: Callable[[], object], *, timeout: float, what: str = "") -> None:
        """Wait until `check()` is truthy; fail early, with the log, if the process exits."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while True:
            if not self.alive:
                raise ProcessFailed(f"{self.name} exited with {self.returncode}:\n{self.log_tail()}")
            try:
                if check():
                    return
            except Exception as exc:  # noqa: BLE001  (a probe failing is the normal "not yet")
                last_error = exc
            if time.monotonic() > deadline:
                raise ProcessFailed(
                    f"{self.name} not ready after {timeout:.1f}s ({what or 'readiness check'}; "
                    f"last error: {last_error!r}):\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def send_signal(self, signum: int) -> None:
        """Send a signal to the whole process group (the server and whatever it forked)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if self.new_session:
                    os.killpg(self.process.pid, signum)
                elif self.process.poll() is None:
                    os.kill(self.process.pid, signum)

    def kill(self, signum: int = signal.SIGKILL, *, timeout: float = 10.0) -> None:
        """Chaos: signal the group (kill -9 by default) and reap the server."""
        if self.process is None:
            return
        self.send_signal(signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        self._reap_group()

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful stop: the stop signal, then SIGKILL after `timeout`; no process of the group stays."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.send_signal(signal.SIGKILL)
                self.process.wait(timeout=timeout)
        self._reap_group()

    def _reap_group(self) -> None:
        assert self.process is not None
        if not self.new_session:
            return
        pgid = self.process.pid

        def group_gone() -> bool:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return False

        # Forked helpers (pgpool children, postgres backends) exit right after their leader; give
        # them a moment, then make sure.
        with contextlib.suppress(TimeoutError):
            wait_until(group_gone, timeout=3.0, interval=0.02)
        if not group_gone():
            self.send_signal(signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                wait_until(group_gone, timeout=3.0, interval=0.02)
        if self.watchdog is not None:
            self.watchdog.forget(pgid)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path:
            return "(output not captured)"
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 16384))
                text = fh.read().decode(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
