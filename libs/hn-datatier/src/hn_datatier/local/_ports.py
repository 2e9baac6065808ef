"""Free loopback ports that stay free until the server that needs them binds.

Two precautions beyond "bind port 0 and close it":

- Ports come from below the kernel's ephemeral range (`ip_local_port_range`, usually from 32768),
  so no outgoing connection is ever given one of them between our choice and the server's bind.
- Each port is reserved across processes with an `flock` on a file in a shared folder, held for
  as long as the `PortPool` lives: two launchers running side by side (parallel test files,
  another engineer's tests) never pick the same port. The kernel drops the lock when the process
  dies, so a crash leaves nothing reserved.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import os
import random
import tempfile

from hn_process import port_is_free

__all__ = ["PortPool"]

_LOCK_DIR = os.path.join(tempfile.gettempdir(), "hn-datatier-ports")
# Well-known defaults of the tier's own software, never handed out (a system instance may run).
_AVOID = {5432, 5433, 6379, 9898, 9999, 22121, 22222, 26379}


def _ephemeral_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


class PortPool:
    """Hands out free loopback ports and keeps them reserved until `release()`."""

    def __init__(self, *, low: int = 15000, high: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self._low = low
        self._high = min(high or 65535, _ephemeral_start() - 1)
        if self._high - self._low < 1000:  # an unusual ip_local_port_range: take what is left
            self._low, self._high = 1024, max(self._high, 2048)
        self._locks: dict[int, int] = {}
        os.makedirs(_LOCK_DIR, mode=0o1777, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(_LOCK_DIR, 0o1777)

    def allocate(self, host: str | None = None) -> int:
        """A free port, reserved. For a server on another host (`host` not loopback: a network
        namespace of its own, which this process cannot probe), only the reservation is checked:
        ports stay unique across every tier of the machine, and a fresh namespace has nothing bound."""
        probe = host is None or ipaddress.IPv4Address(host).is_loopback
        for _ in range(2000):
            port = random.randint(self._low, self._high)
            if port in _AVOID or port in self._locks:
                continue
            fd = self._reserve(port)
            if fd is None:
                continue
            if probe and not port_is_free(port, host or self.host):
                os.close(fd)
                continue
            self._locks[port] = fd
            return port
        raise RuntimeError("no free loopback port found")

    def _reserve(self, port: int) -> int | None:
        path = os.path.join(_LOCK_DIR, f"{port}.lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                return None
            raise
        return fd

    def release(self, port: int | None = None) -> None:
        """Release one port's reservation, or all of them."""
        ports = [port] if port is not None else list(self._locks)
        for p in ports:
            fd = self._locks.pop(p, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)

    @property
    def reserved(self) -> list[int]:
        return sorted(self._locks)
