"""pyzmq's `Socket.get` with the runtime's cheaper option lookup: the same answers, the same errors."""

from __future__ import annotations

import pytest
import zmq
from zmq.constants import SocketOption

from hn_runtime._pump import Pump  # noqa: F401 - importing the pump installs the lookup
from hn_runtime._sockopt import speed_up_getsockopt


def test_the_lookup_is_installed_and_idempotent() -> None:
    from zmq.backend.cython import _zmq as backend

    assert speed_up_getsockopt()
    assert backend.SocketOption is not SocketOption
    assert speed_up_getsockopt()
    assert backend.SocketOption(int(zmq.RCVMORE)) is SocketOption.RCVMORE
    assert backend.SocketOption(zmq.LINGER) is SocketOption.LINGER


def test_options_read_and_written_as_before() -> None:
    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 7)
        sock.setsockopt(zmq.ROUTING_ID, b"me")
        assert sock.getsockopt(zmq.LINGER) == 7
        assert zmq.backend.Socket.get(sock, int(zmq.LINGER)) == 7
        assert sock.getsockopt(zmq.ROUTING_ID) == b"me"  # a bytes option keeps its type
        assert sock.getsockopt(zmq.RCVMORE) == 0
        assert sock.getsockopt(zmq.EVENTS) & zmq.POLLOUT == 0  # not connected: nothing to write to
        assert isinstance(sock.getsockopt(zmq.FD), int)
        with pytest.raises(zmq.ZMQError):
            sock.getsockopt(9999)  # unknown to pyzmq and to libzmq: libzmq's EINVAL, as before
        sock.close(linger=0)
    finally:
        ctx.term()
