"""Chaos helpers for the tier's PostgreSQL half: lose the primary under a writer, and measure.

`fail_pg_primary` is the PostgreSQL counterpart of `kill_redis_master`: a writer inserts numbered
rows through Pgpool all along (each INSERT its own transaction, so an acknowledgement is a commit),
the primary is killed (kill -9, its host then lost for a while) or frozen (SIGSTOP, then SIGCONT),
and the report says when Pgpool's failover_command promoted the replica, when writes were served
again, whether the old primary took a write while fenced, when it was back as the new primary's
replica, and whether any acknowledged row is missing from the new primary (it must not be:
replication is synchronous).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gevent
import psycopg2
import psycopg2.extensions

from hn_datatier._pg import _green_wait
from hn_datatier.local import DataTier, PgNode
from hn_process import processes, time_factor, wait_until

__all__ = ["PgFailoverReport", "fail_pg_primary", "freeze", "pg_rejoined", "timed_write"]

#: the table the writer fills (in the services' database, through Pgpool)
PROBE_TABLE = "hn_failover_probe"


@dataclass
class PgFailoverReport:
    """What losing the PostgreSQL primary looked like from a client of Pgpool (seconds after the
    fault landed)."""

    how: str  # "kill" (kill -9, the host stays down until the failover is over) or "stop" (SIGSTOP)
    old: str
    promoted: str
    promoted_after: float  # the replica said it is a primary
    served_after: float  # the first write acknowledged through Pgpool after the fault
    rejoined_after: float  # the old primary streams from the new one and Pgpool sees both up
    acknowledged: int  # writes acknowledged in all
    lost: int  # acknowledged writes missing from the new primary (must be 0)
    failed: int  # writes that failed or timed out (not acknowledged)
    fenced: bool | None  # the old primary, thawed, refused to acknowledge a write (None: killed)
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        fence = "" if self.fenced is None else f"; old primary fenced: {self.fenced}"
        return (
            f"{self.how} {self.old}: {self.promoted} promoted after {self.promoted_after:.2f}s; writes through "
            f"Pgpool again after {self.served_after:.2f}s; old primary back as a replica after "
            f"{self.rejoined_after:.2f}s; {self.acknowledged} writes acknowledged, {self.lost} lost, "
            f"{self.failed} failed{fence} ({self.errors[:4]})"
        )


@contextlib.contextmanager
def _connection(dsn: str, timeout: float) -> Iterator[Any]:
    # psycopg2 waits through gevent's hub (as in the services): gevent.Timeout can end a wait on a
    # frozen server.
    if psycopg2.extensions.get_wait_callback() is None:
        psycopg2.extensions.set_wait_callback(_green_wait)
    with gevent.Timeout(timeout, psycopg2.OperationalError(f"no connection within {timeout}s")):
        conn = psycopg2.connect(dsn)
    try:
        yield conn
    finally:
        conn.close()  # never blocks: a frozen server's socket is just dropped


def timed_write(dsn: str, sql: str, args: tuple[Any, ...] = (), *, timeout: float = 2.0) -> None:
    """One statement in its own transaction, committed within `timeout` seconds (connection
    included) or an exception: psycopg2.Error, or gevent.Timeout for no answer (which may or may
    not have committed)."""
    with _connection(dsn, timeout) as conn, gevent.Timeout(timeout), conn.cursor() as cur:
        cur.execute(sql, args)
        conn.commit()


class _Writer:
    """INSERTs 1, 2, 3... through Pgpool, one transaction each, until stopped."""

    def __init__(self, dsn: str, interval: float, timeout: float) -> None:
        self.dsn = dsn
        self.interval = interval
        self.timeout = timeout
        self.acknowledged: list[tuple[int, float]] = []  # (n, when)
        self.failed = 0
        self.errors: list[str] = []
        self._n = 0
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> _Writer:
        self._greenlet = gevent.spawn(self._run)
        return self

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill()

    def acknowledged_since(self, moment: float) -> float | None:
        return next((when for _, when in self.acknowledged if when >= moment), None)

    def _run(self) -> None:
        while True:
            self._n += 1
            try:
                timed_write(self.dsn, f"INSERT INTO {PROBE_TABLE} (n) VALUES (%s)", (self._n,), timeout=self.timeout)
            except (psycopg2.Error, gevent.Timeout) as exc:
                self.failed += 1
                message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                if message not in self.errors:
                    self.errors.append(message)
            else:
                self.acknowledged.append((self._n, time.monotonic()))
            gevent.sleep(self.interval)


def pg_rejoined(tier: DataTier, node: PgNode, primary: PgNode) -> bool:
    """`node` is a standby streaming from `primary`, and Pgpool sees both up."""
    state = tier.postgres.state(node)
    if not state.answers or state.primary:
        return False
    with contextlib.suppress(psycopg2.Error, gevent.Timeout), gevent.Timeout(5):
        with _connection(tier.pg_direct_dsn(primary, admin=True), 5) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_replication WHERE application_name = %s AND state = 'streaming'",
                (node.name,),
            )
            row = cur.fetchone()
            if not row or row[0] < 1:
                return False
        return tier.postgres.pool is not None and tier.postgres.pool.all_up()
    return False


def fail_pg_primary(
    tier: DataTier,
    how: str = "kill",
    *,
    timeout: float = 60.0,
    interval: float = 0.02,
    write_timeout: float = 2.0,
    during: Callable[[], None] | None = None,
) -> PgFailoverReport:
    """Lose the PostgreSQL primary under a writer and measure until it is back as a replica.

    `how`: "kill" - kill -9, and its host stays lost (the keeper holds off) until the replica is
    promoted and writes are served again; then the keeper rewinds it onto the new primary.
    "stop" - SIGSTOP its process group until the replica is promoted and writes are served again,
    then SIGCONT: the old primary, still a primary on the old timeline, must not acknowledge a
    write (tried directly, not through Pgpool) before the keeper rewinds it.
    `during()` runs while the fault is on, after writes are served again. Deadlines scale with
    HN_TEST_TIME_FACTOR.
    """
    if how not in ("kill", "stop"):
        raise ValueError(f"how must be 'kill' or 'stop', not {how!r}")
    deadline = timeout * time_factor()
    old = tier.pg_primary
    other = next(n for n in tier.pg_nodes if n is not old)
    timed_write(tier.pg_dsn, f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (n bigint PRIMARY KEY)", timeout=10)
    timed_write(tier.pg_dsn, f"TRUNCATE {PROBE_TABLE}", timeout=10)
    writer = _Writer(tier.pg_dsn, interval, write_timeout).start()
    fenced: bool | None = None
    try:
        wait_until(lambda: len(writer.acknowledged) >= 20, timeout=deadline, message="writes before the fault")
        with tier.hold_postgres(old):
            if how == "kill":
                old.process.kill()
            else:
                freeze(old, signal.SIGSTOP)
            fault_at = time.monotonic()
            promoted_at: list[float] = []

            def promoted() -> bool:
                state = tier.postgres.state(other, timeout=1.0)
                if state.answers and state.primary and not promoted_at:
                    promoted_at.append(time.monotonic())
                return bool(promoted_at) and writer.acknowledged_since(promoted_at[0]) is not None

            try:
                wait_until(promoted, timeout=deadline, interval=0.05, message=f"{other.name} promoted, writes served")
                if during is not None:
                    during()
            finally:
                if how == "stop":
                    freeze(old, signal.SIGCONT)
            if how == "stop":
                fenced = _refuses_writes(tier, old)
        served = writer.acknowledged_since(fault_at)
        assert served is not None
        wait_until(
            lambda: pg_rejoined(tier, old, other),
            timeout=deadline,
            interval=0.1,
            message=f"{old.name} back as {other.name}'s replica, Pgpool seeing both up",
        )
        rejoined_at = time.monotonic()
        # A few writes after everything healed: the new pair acknowledges as before.
        count = len(writer.acknowledged)
        wait_until(lambda: len(writer.acknowledged) >= count + 10, timeout=deadline, message="writes after healing")
    finally:
        writer.stop()
    acknowledged = {n for n, _ in writer.acknowledged}
    with _connection(tier.pg_direct_dsn(other), 10) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT n FROM {PROBE_TABLE}")
        present = {int(row[0]) for row in cur.fetchall()}
    return PgFailoverReport(
        how=how,
        old=old.address,
        promoted=other.address,
        promoted_after=promoted_at[0] - fault_at,
        served_after=served - fault_at,
        rejoined_after=rejoined_at - fault_at,
        acknowledged=len(acknowledged),
        lost=len(acknowledged - present),
        failed=writer.failed,
        fenced=fenced,
        errors=writer.errors,
    )


def freeze(node: PgNode, signum: int) -> None:
    """SIGSTOP (or SIGCONT) a node as a frozen host would be: the postmaster's process group and
    every process it forked (PostgreSQL's backends and walsenders lead sessions of their own)."""
    pid = node.process.pid
    if pid is None:
        return
    node.process.send_signal(signum)
    for child in processes():
        if child.ppid == pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signum)


def _refuses_writes(tier: DataTier, node: PgNode, *, wait: float = 2.0) -> bool:
    """A write straight to `node` (not through Pgpool) is not acknowledged within `wait` seconds:
    its commit waits for a synchronous standby that follows another primary now."""
    try:
        timed_write(
            tier.pg_direct_dsn(node),
            f"INSERT INTO {PROBE_TABLE} (n) VALUES (%s)",
            (-1,),
            timeout=wait,
        )
    except (psycopg2.Error, gevent.Timeout):
        return True
    return False
