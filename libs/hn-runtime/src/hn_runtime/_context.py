"""The context a handler runs in: who called, for which player session, under which trace.

It lives in a ContextVar, which greenlet gives each greenlet separately: a handler's outgoing
calls read it to pass the trace id, the session and the deadline on, and the log processor reads
it to stamp every line — no argument threading, and no cost unless someone reads it.
"""

from __future__ import annotations

import random
import time
from contextvars import ContextVar
from dataclasses import dataclass

from hn_idl.runtime.ttypes import SessionChange

__all__ = ["Session", "current_session", "new_trace_id"]


@dataclass(slots=True)
class Session:
    """What a handler knows about the call it serves (the talk's `session` argument)."""

    #: The player's session id, stamped by the broker; None for service-to-service calls.
    id: str | None
    trace_id: str
    method: str
    #: Absolute deadline (Unix epoch seconds) after which the caller no longer waits, or None.
    deadline: float | None = None
    #: The calling instance, if it said.
    caller: str | None = None
    #: The game client's address, when the call came from a client through the broker.
    client: str | None = None
    #: What this call did to the game client's session, told to the broker in the reply.
    change: SessionChange | None = None
    #: A bound on the game client's network round trip (µs), measured by the broker that
    #: forwarded the call (Envelope.client_rtt_us); None when it did not say.
    client_rtt_us: int | None = None
    #: The service the caller's CURVE key acts as (from the authority); None when the server
    #: knows no identities (CURVE off, or an allow-list without an authority) or the key has none.
    peer_service: str | None = None

    def open_session(self, account_id: int, display_name: str) -> None:
        """The game client that made this call now holds `account_id`'s session (a login): the
        broker that forwarded the call binds the client's connection to it on the reply."""
        self.change = SessionChange(account_id=account_id, display_name=display_name, ended=False)

    def end_session(self) -> None:
        """The game client's session ended with this call (a logout): the broker unbinds it."""
        self.change = SessionChange(account_id=0, display_name="", ended=True)

    def remaining(self) -> float | None:
        """Seconds left before the caller's deadline, or None when it set none."""
        return None if self.deadline is None else self.deadline - time.time()


_current: ContextVar[Session | None] = ContextVar("hn_session", default=None)


def current_session() -> Session | None:
    """The session of the handler running in this greenlet, if any."""
    return _current.get()


_bits = random.getrandbits


def new_trace_id() -> str:
    """64 random bits in hex: unique enough to follow a request, and no system call per id."""
    return f"{_bits(64):016x}"
