"""Delay and loss on a host's link: `tc netem` where the kernel has it, else the userspace shaper.

Both shape the two directions of the link alike (see `Link`). `netem` sits on the egress of each
end of the host's veth pair (the host's end: packets leaving it; the switch's end: packets
coming to it). Kernels built without `sch_netem` (some CI and VM kernels) get `QueueShaper`: the
host's iptables rules queue its link's packets to `hn_netns._shaper_process`, a daemon in the host's
namespace that holds them (see that module).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from typing import Protocol

from hn_netns._commands import CommandFailed, in_namespace, run, tool
from hn_netns._link import Link
from hn_process import child_env, dies_with_parent

__all__ = ["SHAPINGS", "NetemShaper", "QueueShaper", "Shaper", "kernel_has_netem"]

SHAPINGS = ("auto", "netem", "queue")


class Shaper(Protocol):
    def set(self, link: Link) -> None: ...

    def close(self) -> None: ...


def kernel_has_netem(namespace: str, interface: str) -> bool:
    """Whether `tc netem` works here (tried on an interface of the harness's own)."""
    try:
        run([tool("tc"), "-n", namespace, "qdisc", "add", "dev", interface, "root", "netem"])
    except CommandFailed:
        return False
    run([tool("tc"), "-n", namespace, "qdisc", "del", "dev", interface, "root"])
    return True


class NetemShaper:
    """`tc netem` on both ends of the host's veth pair: (namespace, interface) pairs."""

    def __init__(self, ends: list[tuple[str, str]]) -> None:
        self._ends = ends

    def set(self, link: Link) -> None:
        for namespace, interface in self._ends:
            # A large limit: netem's default (1000 packets) drops a fast flow under a long delay.
            run(
                [tool("tc"), "-n", namespace, "qdisc", "replace", "dev", interface, "root", "netem", "limit", "100000"]
                + ["delay", f"{link.delay_ms}ms", f"{link.jitter_ms}ms", "loss", f"{link.loss * 100}%"]
            )

    def close(self) -> None:
        """Nothing to do: the qdiscs go with the namespaces."""


class QueueShaper:
    """The userspace shaper daemon of one host, and its control pipe."""

    def __init__(self, namespace: str, link: Link) -> None:
        to_daemon, self._control = os.pipe()
        self._replies, from_daemon = os.pipe()
        try:
            self.process = subprocess.Popen(
                in_namespace(namespace, [sys.executable, "-m", "hn_netns._shaper_process", *link.line().split()]),
                stdin=to_daemon,
                stdout=from_daemon,
                env=child_env(),
                close_fds=True,
                preexec_fn=dies_with_parent(signal.SIGKILL),
                # A Ctrl-C in the terminal is for the harness, which closes the links in order:
                # the daemons stopping first would print a traceback each and drop packets early.
                start_new_session=True,
            )
        finally:
            os.close(to_daemon)
            os.close(from_daemon)
        self._buffer = b""
        self._ready = False
        self._closed = False

    def wait_ready(self, timeout: float) -> None:
        if not self._ready:
            self._expect(b"ready", timeout)
            self._ready = True

    def set(self, link: Link) -> None:
        self.wait_ready(30.0)
        os.write(self._control, f"{link.line()}\n".encode())
        self._expect(b"ok", 10.0)

    def _expect(self, word: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            readable, _, _ = select.select([self._replies], [], [], max(0.0, left))
            chunk = os.read(self._replies, 4096) if readable else b""
            if not chunk:
                why = "exited" if readable else f"did not answer within {timeout:.0f}s"
                raise RuntimeError(
                    f"link shaper {why} (waiting for {word.decode()!r}; exit code {self.process.poll()})"
                )
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        if line != word:
            raise RuntimeError(f"link shaper said {line!r}, expected {word!r}")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        os.close(self._control)  # end of input: the daemon lets what it holds go and exits
        os.close(self._replies)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
