"""The calling process inside a host (`Network.enter`): its sockets are that host's, its cuts
apply to them, the network is still driven from there, and `close()` takes it back home."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable

import pytest
from gevent import monkey

from hn_netns import Network
from hn_netns._enter import current_namespace
from hn_process import wait_until

import _thread
from _probes import tcp_listener

# An established connection that gets no answer in this long was cut (an answer takes milliseconds).
CUT_TIMEOUT = 0.5

# Echoes every line back, on the host's address and a port it prints.
_ECHO = """
import socket, sys, threading
server = socket.create_server((sys.argv[1], 0))
print(server.getsockname()[1], flush=True)
def serve(connection):
    with connection, connection.makefile("rwb", buffering=0) as stream:
        for line in stream:
            stream.write(line)
while True:
    threading.Thread(target=serve, args=(server.accept()[0],), daemon=True).start()
"""


def _echo(connection: socket.socket, text: str) -> str:
    connection.sendall(text.encode() + b"\n")
    return connection.recv(1024).decode().strip()


def test_an_entered_process_talks_as_its_host_and_its_cuts_apply() -> None:
    home = current_namespace()
    with Network(["a", "b", "c"]) as net:
        a, b, c = net.hosts
        assert net.host_at(b.address) is b
        with pytest.raises(KeyError):
            net.host_at("192.0.2.1")
        echo = b.popen([sys.executable, "-S", "-c", _ECHO, b.address], stdout=subprocess.PIPE, text=True)
        assert echo.stdout is not None
        port = int(echo.stdout.readline())
        at_c = tcp_listener(c)

        assert net.enter(a) is a and net.entered is a
        assert current_namespace() == os.stat(f"/run/netns/{a.namespace}").st_ino
        connection = socket.create_connection((b.address, port), timeout=5)
        assert connection.getsockname()[0] == a.address  # the host's address, not loopback
        assert _echo(connection, "one") == "one"
        # Subprocesses started from inside run inside too.
        assert a.address in subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout

        # The network is still driven from inside: a cut lands on this process's connection...
        net.cut(a, b)
        connection.settimeout(CUT_TIMEOUT)
        with pytest.raises(socket.timeout):
            _echo(connection, "lost")
        with pytest.raises(OSError):
            socket.create_connection((b.address, port), timeout=CUT_TIMEOUT).close()
        socket.create_connection((c.address, at_c), timeout=5).close()  # only the pair is cut
        # ...and a heal restores it (TCP retransmits what the cut dropped).
        net.heal()
        connection.settimeout(30)
        assert _echo(connection, "two") in ("lost\ntwo", "lost")
        connection.close()
        wait_until(lambda: _connects(b.address, port), timeout=10, scaled=True)
    # close() left the host first (its sweep would have killed this process otherwise).
    assert net.entered is None
    assert current_namespace() == home
    assert not net.leftovers()


def _connects(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=1).close()
        return True
    except OSError:
        return False


def _native_thread() -> Callable[[], None]:
    """Start an OS thread that waits until the returned function is called."""
    start_new_thread, allocate_lock = _thread.start_new_thread, _thread.allocate_lock
    if monkey.is_module_patched("threading"):
        start_new_thread = monkey.get_original("_thread", "start_new_thread")
        allocate_lock = monkey.get_original("_thread", "allocate_lock")
    lock = allocate_lock()
    lock.acquire()
    started = allocate_lock()
    started.acquire()

    def run() -> None:
        started.release()
        lock.acquire()

    start_new_thread(run, ())
    started.acquire()
    return lock.release


def test_enter_refuses_while_another_thread_runs_and_leave_goes_home() -> None:
    home = current_namespace()
    with Network(["a", "b"]) as net:
        # A thread of the kernel's (under gevent, threading's are greenlets of this one).
        release = _native_thread()
        try:
            with pytest.raises(RuntimeError, match="one thread"):
                net.enter("a")
        finally:
            release()
        assert current_namespace() == home and net.entered is None
        net.enter("a")
        net.enter(net["b"])  # from one host to another
        assert current_namespace() == os.stat(f"/run/netns/{net['b'].namespace}").st_ino
        net.leave()
        assert current_namespace() == home and net.entered is None
        net.leave()  # nothing to leave
    assert not net.leftovers()
