"""One host of the harness: a network namespace with one address, and the processes run in it."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from hn_netns._commands import in_namespace, run
from hn_process import dies_with_parent

__all__ = ["Host"]


class Host:
    """A host: `name` (the harness's), `namespace` (its network namespace's), `address` (its one
    IPv4 address, on `interface`). Its processes bind and advertise `address`: loopback is the
    host's own, as on a real machine."""

    interface = "eth0"

    def __init__(self, name: str, namespace: str, address: str) -> None:
        self.name = name
        self.namespace = namespace
        self.address = address
        self._processes: list[subprocess.Popen[Any]] = []

    def __repr__(self) -> str:
        return f"<Host {self.name} {self.address} netns={self.namespace}>"

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` as a command line that runs inside this host: for a caller that starts the process
        itself (`hn_process.ManagedProcess`). Whatever runs in the host is killed when the harness closes."""
        return in_namespace(self.namespace, argv)

    def popen(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, **popen_kwargs: Any
    ) -> subprocess.Popen[Any]:
        """Start `argv` inside this host (`subprocess.Popen` arguments pass through). It dies with the
        calling process and is killed when the harness closes."""
        popen_kwargs.setdefault("preexec_fn", dies_with_parent(signal.SIGKILL))
        popen_kwargs.setdefault("close_fds", True)
        process: subprocess.Popen[Any] = subprocess.Popen(
            self.command(argv), env=dict(env) if env is not None else None, **popen_kwargs
        )
        self._processes.append(process)
        return process

    def run(self, argv: Sequence[str], *, input: str | None = None, check: bool = True, timeout: float = 30.0) -> str:
        """Run `argv` inside this host to completion and return its stdout (CommandFailed if it fails)."""
        return run(self.command(argv), input=input, check=check, timeout=timeout)

    @property
    def processes(self) -> list[subprocess.Popen[Any]]:
        """The processes `popen` started here that are still running."""
        return [p for p in self._processes if p.poll() is None]

    def _reap(self) -> None:
        """Collect the exit status of the processes `popen` started (once the harness killed them)."""
        for process in self._processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
        self._processes.clear()
