"""Versioned SQL migrations through Pgpool, as services apply them at start."""

from __future__ import annotations

import uuid

import gevent
import psycopg2

from hn_datatier import Migration, PgPool, apply_migrations
from hn_datatier.local import DataTier
from hn_process import wait_until


def _fresh_database(tier: DataTier) -> str:
    """A new empty database on the tier (migrations bootstrap their bookkeeping table in it)."""
    name = f"mig_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(tier.pg_direct_dsn(tier.pg_nodes[0], admin=True), connect_timeout=10)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE {name} OWNER "{tier.config.user}"')
    finally:
        conn.close()
    dsn = tier.env["HN_PG_DSN"].rsplit("/", 1)[0] + f"/{name}"
    wait_until(lambda: _connects(dsn), message="the new database on the replica too (Pgpool opens both)", scaled=True)
    return dsn


def _connects(dsn: str) -> bool:
    try:
        psycopg2.connect(dsn, connect_timeout=5).close()
        return True
    except psycopg2.OperationalError:
        return False


def test_services_starting_together_on_a_new_database_all_migrate(data_tier: DataTier) -> None:
    pool = PgPool(_fresh_database(data_tier), size=6)
    try:
        services = [f"svc{i}" for i in range(6)]
        plans = {s: [Migration(1, "table", f"CREATE TABLE {s}_t (id int PRIMARY KEY)")] for s in services}
        runs = [gevent.spawn(apply_migrations, pool, s, plans[s]) for s in services]
        gevent.joinall(runs, raise_error=True)
        assert [r.value for r in runs] == [[1]] * len(services)
        assert all(apply_migrations(pool, s, plans[s]) == [] for s in services), "applied once only"
        rows = pool.fetchall("SELECT service, version FROM hn_schema_migrations ORDER BY service", primary=True)
        assert rows == [(s, 1) for s in services]
    finally:
        pool.close()
