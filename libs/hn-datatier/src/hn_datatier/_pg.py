"""PostgreSQL through Pgpool for gevent services: a connection pool whose waits yield to the hub.

psycopg2 blocks in C; with a wait callback it hands every socket wait to gevent instead, so a
query in one greenlet lets the others run (the documented psycopg2 "green" mode). Pgpool sends
writes and transactions that wrote to the primary and balances plain reads over the replicas;
`primary=True` (a `/*NO LOAD BALANCE*/` hint) reads from the primary when a read must see a write
that has just been made, e.g. credentials right after registration.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

__all__ = ["PgPool", "StoreUnavailable"]

T = TypeVar("T")
_NO_LOAD_BALANCE = "/*NO LOAD BALANCE*/ "


class StoreUnavailable(Exception):
    """The database could not be reached or the connection broke (after one retry when safe)."""


def _green_wait(conn: Any, timeout: float | None = None) -> None:
    import psycopg2.extensions as ext
    from gevent.socket import wait_read, wait_write

    while True:
        state = conn.poll()
        if state == ext.POLL_OK:
            return
        if state == ext.POLL_READ:
            wait_read(conn.fileno(), timeout=timeout)
        elif state == ext.POLL_WRITE:
            wait_write(conn.fileno(), timeout=timeout)
        else:  # pragma: no cover - psycopg2 documents no other state
            raise psycopg2_error(f"bad poll state {state}")


def psycopg2_error(message: str) -> Exception:
    import psycopg2

    return psycopg2.OperationalError(message)


class PgPool:
    """At most `size` connections to `dsn`, shared by greenlets; broken ones are replaced.

    `transaction()` yields a cursor inside BEGIN..COMMIT (ROLLBACK on error). `fetchone` /
    `fetchall` / `execute` run one statement in its own transaction and retry once on a fresh
    connection if the first one turns out dead (Pgpool or a node restarted) — only statements that
    are safe to repeat should go through them; `transaction()` never retries.
    """

    def __init__(
        self, dsn: str, *, size: int = 8, connect_timeout: float = 5.0, statement_timeout: float = 10.0
    ) -> None:
        import gevent.lock
        import gevent.queue
        import psycopg2.extensions

        psycopg2.extensions.set_wait_callback(_green_wait)
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._statement_timeout_ms = int(statement_timeout * 1000)
        self._idle: gevent.queue.LifoQueue = gevent.queue.LifoQueue()
        self._slots = gevent.lock.BoundedSemaphore(size)
        self._closed = False

    def _connect(self) -> Any:
        import gevent
        import psycopg2

        # In green mode libpq's connect_timeout does not apply: the wait callback would wait forever
        # on a Pgpool whose children are all taken. gevent's timeout bounds the whole handshake.
        try:
            with gevent.Timeout(self._connect_timeout):
                return psycopg2.connect(self._dsn, options=f"-c statement_timeout={self._statement_timeout_ms}")
        except gevent.Timeout:
            raise StoreUnavailable(f"no PostgreSQL connection within {self._connect_timeout}s") from None
        except psycopg2.OperationalError as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}".strip()) from exc

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        import psycopg2

        if not self._slots.acquire(timeout=self._connect_timeout):
            raise StoreUnavailable("no database connection free within the timeout")
        conn = None
        try:
            conn = self._idle.get_nowait() if not self._idle.empty() else self._connect()
            yield conn
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
                conn = None
            raise
        finally:
            if conn is not None:
                if conn.closed or self._closed:
                    with contextlib.suppress(Exception):
                        conn.close()
                else:
                    self._idle.put(conn)
            self._slots.release()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        import psycopg2

        try:
            with self.connection() as conn:
                try:
                    with conn.cursor() as cur:
                        yield cur
                    conn.commit()
                except BaseException:
                    if not conn.closed:
                        with contextlib.suppress(Exception):
                            conn.rollback()
                    raise
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            raise StoreUnavailable(f"database connection failed: {exc}".strip()) from exc

    @contextlib.contextmanager
    def folded_transaction(self) -> Iterator[Any]:
        """A cursor for a transaction whose BEGIN and COMMIT travel with its statements.

        `transaction()` costs two round trips beyond its statements (psycopg2 sends BEGIN on its
        own, and COMMIT); on a hot path they are half of a short transaction's. Here the caller
        writes them: its first execute starts with "BEGIN;" and its last ends with "; COMMIT"
        (a multi-statement query, which Pgpool sends to the primary). The server's transaction
        status decides the exit: left inside the transaction (an early return, an error), it is
        rolled back, as `transaction()` would. Never retried.
        """
        import psycopg2
        import psycopg2.extensions as ext

        try:
            with self.connection() as conn:
                # Client-side only: with autocommit psycopg2 sends no BEGIN of its own.
                conn.autocommit = True
                try:
                    with conn.cursor() as cur:
                        yield cur
                finally:
                    if not conn.closed:
                        if conn.info.transaction_status != ext.TRANSACTION_STATUS_IDLE:
                            with contextlib.suppress(Exception):
                                conn.cursor().execute("ROLLBACK")
                        conn.autocommit = False
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            raise StoreUnavailable(f"database connection failed: {exc}".strip()) from exc

    def _once(self, sql: str, args: Sequence[Any], fetch: Callable[[Any], T], primary: bool) -> T:
        import psycopg2

        statement = _NO_LOAD_BALANCE + sql if primary else sql
        for attempt in (1, 2):
            try:
                with self.transaction() as cur:
                    cur.execute(statement, args)
                    return fetch(cur)
            except StoreUnavailable as exc:
                # A pooled connection may have died with Pgpool or a node: one fresh try.
                if attempt == 2 or not isinstance(exc.__cause__, (psycopg2.OperationalError, psycopg2.InterfaceError)):
                    raise
        raise AssertionError("unreachable")

    def fetchone(self, sql: str, args: Sequence[Any] = (), *, primary: bool = False) -> Any:
        return self._once(sql, args, lambda cur: cur.fetchone(), primary)

    def fetchall(self, sql: str, args: Sequence[Any] = (), *, primary: bool = False) -> list[Any]:
        return self._once(sql, args, lambda cur: cur.fetchall(), primary)

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return int(self._once(sql, args, lambda cur: cur.rowcount, True))

    def close(self) -> None:
        self._closed = True
        while not self._idle.empty():
            with contextlib.suppress(Exception):
                self._idle.get_nowait().close()
