"""PgPool's transactions through the real Pgpool/PostgreSQL pair."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import gevent
import psycopg2
import pytest

from hn_datatier import PgPool
from hn_datatier.local import DataTier

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pool(data_tier: DataTier) -> Iterator[PgPool]:
    pg = PgPool(data_tier.pg_dsn, size=1)  # one connection: each test reuses what the last left
    yield pg
    pg.close()


@pytest.fixture()
def table(pool: PgPool) -> str:
    name = f"t_{uuid.uuid4().hex[:8]}"
    pool.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, n int NOT NULL)")
    return name


def rows(pool: PgPool, table: str) -> list[tuple[int, int]]:
    return [tuple(r) for r in pool.fetchall(f"SELECT id, n FROM {table} ORDER BY id", primary=True)]


def test_a_folded_transaction_commits_with_its_last_statement(pool: PgPool, table: str) -> None:
    with pool.folded_transaction() as cur:
        cur.execute(f"BEGIN; INSERT INTO {table} VALUES (1, 1); SELECT count(*) FROM {table}")
        assert cur.fetchall() == [(1,)], "the read in the transaction sees its write (on the primary)"
        cur.execute(f"UPDATE {table} SET n = 2 WHERE id = 1; COMMIT")
    assert rows(pool, table) == [(1, 2)]


def test_leaving_a_folded_transaction_early_or_on_an_error_rolls_it_back(pool: PgPool, table: str) -> None:
    with pool.folded_transaction() as cur:
        cur.execute(f"BEGIN; INSERT INTO {table} VALUES (1, 1)")
    with pytest.raises(psycopg2.errors.UniqueViolation):
        with pool.folded_transaction() as cur:
            cur.execute(f"BEGIN; INSERT INTO {table} VALUES (2, 1); INSERT INTO {table} VALUES (2, 1); COMMIT")
    assert rows(pool, table) == []
    # The connection went back as transaction() expects it: not in autocommit, nothing open.
    with pytest.raises(psycopg2.errors.UniqueViolation):
        with pool.transaction() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (3, 1)")
            cur.execute(f"INSERT INTO {table} VALUES (3, 1)")
    assert rows(pool, table) == [], "transaction() rolled its first insert back with the second"


def test_folded_transactions_lock_like_any_other(pool: PgPool, table: str, data_tier: DataTier) -> None:
    pool.execute(f"INSERT INTO {table} VALUES (1, 0)")
    two = PgPool(data_tier.pg_dsn, size=2)
    try:

        def bump() -> None:
            with two.folded_transaction() as cur:
                cur.execute(f"BEGIN; SELECT n FROM {table} WHERE id = 1 FOR UPDATE")
                (n,) = cur.fetchone()
                gevent.sleep(0)  # let the other one reach its lock
                cur.execute(f"UPDATE {table} SET n = %s WHERE id = 1; COMMIT", (n + 1,))

        gevent.joinall([gevent.spawn(bump) for _ in range(4)], raise_error=True)
    finally:
        two.close()
    assert rows(pool, table) == [(1, 4)], "each read-modify-write waited for the one before"
