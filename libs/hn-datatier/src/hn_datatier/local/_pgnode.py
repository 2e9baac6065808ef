"""One PostgreSQL node of the local tier, and how the launcher asks a node what it is."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hn_datatier.local._place import Place
from hn_process import ManagedProcess

__all__ = ["NodeState", "PgNode", "connect", "node_state"]


@dataclass
class PgNode:
    name: str  # pg0 (the first primary), pg1 (its first replica): also its application_name
    port: int
    data_dir: str
    process: ManagedProcess
    #: its host (the role postgres-0 / postgres-1): it stays there through failovers
    place: Place = field(default_factory=Place)

    @property
    def host(self) -> str:
        return self.place.address

    @property
    def address(self) -> str:
        return f"{self.place.address}:{self.port}"

    @property
    def node_dir(self) -> str:
        """Its folder in the scratch directory: data, logs, pgbackrest.conf."""
        return os.path.dirname(self.data_dir)


@dataclass(frozen=True)
class NodeState:
    """What a node said when asked (or that it did not answer)."""

    answers: bool
    primary: bool = False
    #: a primary's current timeline (each promotion starts a new one); 0 for a standby
    timeline: int = 0


_green_checked = False


def _green() -> bool:
    """In a gevent-patched process (tests, `hn up`), psycopg2 waits through the hub: a frozen node
    must not freeze every greenlet while the launcher asks it something."""
    global _green_checked
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return False
    if not monkey.is_module_patched("socket"):
        return False
    if not _green_checked:
        import psycopg2.extensions

        if psycopg2.extensions.get_wait_callback() is None:
            from hn_datatier._pg import _green_wait

            psycopg2.extensions.set_wait_callback(_green_wait)
        _green_checked = True
    return True


@contextlib.contextmanager
def connect(dsn: str, *, timeout: float = 5.0) -> Iterator[Any]:
    """A psycopg2 connection (autocommit) whose opening takes at most `timeout` seconds, closed after."""
    import psycopg2

    if _green():
        import gevent

        # libpq's connect_timeout does not apply in green mode: gevent bounds the handshake.
        with gevent.Timeout(timeout, psycopg2.OperationalError(f"no connection within {timeout}s")):
            conn = psycopg2.connect(dsn)
    else:
        conn = psycopg2.connect(dsn, connect_timeout=max(2, int(timeout)))
    try:
        conn.autocommit = True
        yield conn
    finally:
        conn.close()


_STATE = (
    "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN 0"
    " ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END"
)


def node_state(dsn: str, *, timeout: float = 2.0) -> NodeState:
    """Primary or standby, and a primary's timeline; `answers=False` when the node does not answer
    within `timeout` (down, starting, or frozen)."""
    import psycopg2

    try:
        if _green():
            import gevent

            with gevent.Timeout(timeout, psycopg2.OperationalError("no answer")), connect(dsn, timeout=timeout) as conn:
                return _ask(conn)
        with connect(dsn, timeout=timeout) as conn:
            return _ask(conn)
    except psycopg2.Error:
        return NodeState(answers=False)


def _ask(conn: Any) -> NodeState:
    with conn.cursor() as cur:
        cur.execute(_STATE)
        row = cur.fetchone()
    assert row is not None
    return NodeState(answers=True, primary=not row[0], timeline=int(row[1]))
