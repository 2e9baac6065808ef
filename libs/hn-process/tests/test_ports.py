"""Loopback ports: free, taken, answering."""

from __future__ import annotations

import socket

from hn_process import free_port, port_accepts, port_is_free


def test_a_free_port_is_free_until_something_listens_on_it() -> None:
    port = free_port()
    assert port_is_free(port) and not port_accepts(port)
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        assert not port_is_free(port)
        assert port_accepts(port)
    assert port_is_free(port)
