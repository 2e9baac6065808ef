"""The reaper: removes a harness's namespaces, and every process inside them, if the harness dies.

A tiny process in its own session reads the names of the harness's namespaces from a pipe. At
end-of-file without a clean `exit` (the harness was killed: kill -9, a test runner's timeout, an
unhandled SIGTERM), it kills every process in each namespace and deletes the namespace. Deleting
a namespace deletes its veth ends, its bridge and its iptables rules with it, so the reaper
needs no other list. The harness's own `close()` uses the same `sweep()`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading

from hn_process import WaitTimeout, wait_until

__all__ = ["Reaper", "namespace_pids", "sweep"]


def namespace_pids(ip: str, namespace: str) -> list[int]:
    done = subprocess.run([ip, "netns", "pids", namespace], capture_output=True, text=True)
    return [int(word) for word in done.stdout.split()]


def sweep(ip: str, namespace: str, *, timeout: float = 10.0) -> None:
    """Kill every process in `namespace` (until none is left: one may fork meanwhile), then delete it."""

    def emptied() -> bool:
        pids = namespace_pids(ip, namespace)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return not pids  # the killed ones leave the namespace as they exit

    with contextlib.suppress(WaitTimeout):
        wait_until(emptied, timeout=timeout, interval=0.01)
    subprocess.run([ip, "netns", "del", namespace], capture_output=True)


class Reaper:
    """The harness's side of the pipe (see the module's docstring)."""

    def __init__(self, ip: str, env: dict[str, str]) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "hn_netns._reaper_process", ip],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env=env,
            text=True,
            start_new_session=True,  # a Ctrl-C in the terminal reaches the harness, not its reaper
        )
        self._pipe = self._process.stdin
        self._lock = threading.Lock()

    def _tell(self, line: str) -> None:
        with self._lock:
            if self._pipe is not None:
                self._pipe.write(f"{line}\n")
                self._pipe.flush()

    def guard(self, namespace: str) -> None:
        """Reap `namespace` if the harness dies (told before it is made, so no moment goes unguarded)."""
        self._tell(f"+ {namespace}")

    def release(self, namespace: str) -> None:
        self._tell(f"- {namespace}")

    def close(self) -> None:
        """The harness removed everything itself: the reaper exits with nothing to do."""
        self._tell("exit")
        with self._lock:
            if self._pipe is not None:
                self._pipe.close()
                self._pipe = None
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
