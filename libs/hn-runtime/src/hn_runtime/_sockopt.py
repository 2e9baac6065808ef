"""A cheaper lookup for pyzmq's `Socket.get`, which the runtime calls several times per message.

pyzmq 26's Cython `Socket.get(option)` first turns the option into its `SocketOption` enum
member, to learn the option's C type: `SocketOption(13)` runs two Python-level functions of the
`enum` module (`EnumType.__call__`, `Enum.__new__`), about 0.7 us, more than the libzmq call
itself. Every message the runtime reads asks RCVMORE after each frame and every drain asks
EVENTS: measured on the project's 2-core machines, a `get(RCVMORE)` went from 2.1 to 0.8 us.

`speed_up_getsockopt()` gives pyzmq's socket module a dictionary lookup that returns the very
same enum members (a C call), and raises the same ValueError for an option pyzmq does not know
(libzmq then decides, as before). Nothing else changes; if pyzmq's internals are not the ones
this was written against, it leaves them alone and says so by returning False.
"""

from __future__ import annotations

from typing import Any

__all__ = ["speed_up_getsockopt"]


class _Options(dict[int, Any]):
    """option number -> SocketOption member; a miss raises what `SocketOption(n)` raises."""

    def __missing__(self, option: int) -> Any:
        raise ValueError(f"{option!r} is not a valid SocketOption")


def speed_up_getsockopt() -> bool:
    """Install the lookup in pyzmq's Cython backend (once per process); True if it is in place."""
    from zmq.constants import SocketOption

    try:
        from zmq.backend.cython import _zmq
    except ImportError:  # the CFFI backend (PyPy): another code path altogether
        return False
    backend: Any = _zmq
    current = getattr(backend, "SocketOption", None)
    if getattr(current, "__self__", None).__class__ is _Options:
        return True
    if current is not SocketOption:
        return False
    backend.SocketOption = _Options({int(member): member for member in SocketOption}).__getitem__
    return True
