"""Service processes of the local cluster, restarted with backoff when they crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import gevent

from hn_process import child_env, dies_with_parent
from hn_runtime import get_logger

__all__ = ["Supervised"]

_log = get_logger("hn.cli")


@dataclass
class Supervised:
    """`python -m module` with `env`, its output in `log_path`; restarted when it dies unasked.

    `wrap` turns the command line into the one to run (a host's `hn_netns.Host.command`: the
    process runs inside that host's network namespace; `ip netns exec` execs it, so the pid
    signalled is the service's own)."""

    name: str
    module: str
    env: dict[str, str]
    log_path: str
    wrap: Callable[[list[str]], list[str]] | None = None
    max_backoff_s: float = 30.0
    restarts: int = 0
    process: subprocess.Popen[bytes] | None = None
    _stopping: bool = False
    _watcher: gevent.Greenlet | None = field(default=None, repr=False)

    def start(self) -> None:
        self._spawn()
        self._watcher = gevent.spawn(self._watch)

    def _spawn(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            argv = [sys.executable, "-m", self.module]
            self.process = subprocess.Popen(
                self.wrap(argv) if self.wrap is not None else argv,
                env=child_env(self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C at the terminal reaches `hn up` only: it stops us in order
                # ...and if `hn up` dies without stopping them (kill -9, a crash), they drain and go.
                preexec_fn=dies_with_parent(signal.SIGTERM),
            )
        finally:
            log.close()

    def _watch(self) -> None:
        backoff = 1.0
        while not self._stopping:
            assert self.process is not None
            started = time.monotonic()
            status = self.process.wait()
            if self._stopping:
                return
            if time.monotonic() - started > 60:
                backoff = 1.0  # it ran for a while: a fresh crash, not a crash loop
            _log.warning("service process died, restarting", name=self.name, status=status, backoff_s=backoff)
            gevent.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)
            if not self._stopping:
                self.restarts += 1
                self._spawn()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive:
            assert self.process is not None
            os.kill(self.process.pid, signum)

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (the service drains), then SIGKILL after `timeout`; returns the exit status.

        The default outlasts every service's drain window: match waits for its duels to end
        (31.4 s with the default timing)."""
        self._stopping = True
        if self._watcher is not None:
            self._watcher.kill(block=False)
        if not self.alive:
            return None if self.process is None else self.process.poll()
        assert self.process is not None
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            _log.error("service process still running after SIGTERM: killed", name=self.name, timeout_s=timeout)
            self.signal(signal.SIGKILL)
            return self.process.wait()
