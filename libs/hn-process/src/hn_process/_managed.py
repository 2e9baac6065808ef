"""One server process: started in its own session, stopped with its group, logged to a file.

Its own session makes its process group its own: a Ctrl-C in the terminal reaches only the
parent, which then stops its servers in order, and `stop()` can kill a server together with
whatever it forked. Works with and without gevent's monkey patching (gevent's subprocess honours
the same options).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hn_process._lifetime import Watchdog, dies_with_parent
from hn_process._wait import WaitTimeout, wait_until

__all__ = ["ManagedProcess", "ProcessFailed"]


class ProcessFailed(RuntimeError):
    """A server exited, or did not become ready in time; carries the end of its log."""


class ManagedProcess:
    """A server process the caller supervises (see the module's docstring)."""

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
                preexec_fn=dies_with_parent(self.deathsig),
                **options,
            )
        self.process = process
        if self.watchdog is not None and self.new_session:
            self.watchdog.watch(process.pid, self.stop_signal)
        return self

    def wait_ready(self, check: Callable[[], object], *, timeout: float, what: str = "") -> None:
        """Wait until `check()` is truthy; fail early, with the log, if the process exits."""
        last_error: Exception | None = None

        def ready() -> bool:
            nonlocal last_error
            if not self.alive:
                raise ProcessFailed(f"{self.name} exited with {self.returncode}:\n{self.log_tail()}")
            try:
                return bool(check())
            except Exception as exc:  # noqa: BLE001  (a probe failing is the normal "not yet")
                last_error = exc
                return False

        try:
            wait_until(ready, timeout=timeout, interval=0.05)
        except WaitTimeout:
            raise ProcessFailed(
                f"{self.name} not ready after {timeout:.1f}s ({what or 'readiness check'}; "
                f"last error: {last_error!r}):\n{self.log_tail()}"
            ) from None

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
        with contextlib.suppress(WaitTimeout):
            wait_until(group_gone, timeout=3.0, interval=0.02)
        if not group_gone():
            self.send_signal(signal.SIGKILL)
            with contextlib.suppress(WaitTimeout):
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
