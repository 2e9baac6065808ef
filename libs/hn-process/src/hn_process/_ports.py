"""Loopback TCP ports: a free one, is one free, does one answer."""

from __future__ import annotations

import socket

__all__ = ["free_port", "port_accepts", "port_is_free"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the kernel's pick): for a server started next."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could listen on host:port now: nothing listens there or holds it.

    SO_REUSEADDR, as servers set it: connections of a stopped server lingering in TIME_WAIT do
    not make its port busy.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True when a TCP connection to host:port succeeds (something listens there)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
