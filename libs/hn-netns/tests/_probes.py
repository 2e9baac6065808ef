"""Small programs the tests run inside hosts: a TCP listener, a TCP connector, a UDP listener
and sender. Each is `python -S -c` (the standard library only: fast to start)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hn_netns import Host
from hn_process import wait_until

# Accepts connections on the host's address and a port of its own choosing, which it prints.
_TCP_LISTENER = """
import socket, sys
server = socket.create_server((sys.argv[1], 0))
print(server.getsockname()[1], flush=True)
while True:
    connection, _ = server.accept()
    connection.close()
"""

# Connects N times; prints each connect's time in seconds, or "timeout"/"error ..." for a failure.
_TCP_CONNECTOR = """
import socket, sys, time
address, port, count, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
for _ in range(count):
    start = time.monotonic()
    try:
        socket.create_connection((address, port), timeout=timeout).close()
        print(time.monotonic() - start)
    except socket.timeout:
        print("timeout")
    except OSError as exc:
        print("error", exc.errno)
"""

# Appends every datagram it receives, one per line, to a file; prints its port once bound.
_UDP_LISTENER = """
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((sys.argv[1], 0))
print(sock.getsockname()[1], flush=True)
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(sock.recv(2048).decode() + "\\n")
"""

# Sends PAYLOAD-0, PAYLOAD-1, ... every INTERVAL seconds, COUNT times (0: until killed).
_UDP_SENDER = """
import itertools, socket, sys, time
address, port, payload, interval, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in itertools.count() if count == 0 else range(count):
    sock.sendto(f"{payload}-{n}".encode(), (address, port))
    time.sleep(interval)
"""


def _python(code: str, *args: object) -> list[str]:
    return [sys.executable, "-S", "-c", code, *(str(a) for a in args)]


def _port_of(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    return int(process.stdout.readline())


def tcp_listener(host: Host) -> int:
    """A TCP listener on the host's address; its port."""
    return _port_of(host.popen(_python(_TCP_LISTENER, host.address), stdout=subprocess.PIPE, text=True))


def connect_times(host: Host, address: str, port: int, *, count: int = 1, timeout: float = 5.0) -> list[str]:
    """From inside `host`, connect `count` times; each a time in seconds, "timeout" or "error N"."""
    return host.run(_python(_TCP_CONNECTOR, address, port, count, timeout), timeout=60 + count * timeout).split("\n")[
        :-1
    ]


def connects(host: Host, address: str, port: int, *, timeout: float) -> bool:
    (outcome,) = connect_times(host, address, port, timeout=timeout)
    if outcome == "timeout" or outcome.startswith("error"):
        return False
    return True


class UdpListener:
    """A UDP listener inside a host, logging what it receives to a file."""

    def __init__(self, host: Host, log: Path) -> None:
        self.log = log
        log.touch()
        self.process = host.popen(_python(_UDP_LISTENER, host.address, log), stdout=subprocess.PIPE, text=True)
        self.address = host.address
        self.port = _port_of(self.process)

    def received(self) -> list[str]:
        return self.log.read_text().splitlines()

    def wait_for(self, payload: str, *, timeout: float = 10.0) -> None:
        wait_until(
            lambda: payload in self.received(), timeout=timeout, scaled=True, message=f"{payload} at {self.address}"
        )


def udp_sender(
    host: Host, listener: UdpListener, payload: str, *, interval: float, count: int = 0
) -> subprocess.Popen[str]:
    """From inside `host`, datagrams `payload-0`, `payload-1`, ... to `listener` (count 0: until killed)."""
    argv = _python(_UDP_SENDER, listener.address, listener.port, payload, interval, count)
    return host.popen(argv, text=True)
