"""Versioned SQL migrations that a service applies to its own tables when it starts.

Files `migrations/NNNN_name.sql` ship inside the service's package. Every instance runs
`apply_migrations` at start; a transaction-scoped advisory lock makes concurrent starts apply
each version exactly once, and PostgreSQL's transactional DDL makes a failed one leave nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from hn_datatier._pg import PgPool

__all__ = ["Migration", "load_migrations", "apply_migrations"]

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, order=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(package: str, folder: str = "migrations") -> list[Migration]:
    """The migrations shipped in `package`/`folder`, in version order."""
    found = []
    for entry in resources.files(package).joinpath(folder).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text()))
        elif entry.name.endswith(".sql"):
            raise ValueError(f"migration file {entry.name!r} is not named NNNN_name.sql")
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {package}/{folder}")
    return sorted(found)


def apply_migrations(pool: PgPool, service: str, migrations: list[Migration]) -> list[int]:
    """Apply the migrations `service` has not applied yet; returns the versions applied now."""
    applied = []
    with pool.transaction() as cur:
        # Pgpool sends a transaction's statements to the primary once it wrote; the hint makes
        # sure the lock, the first statement, is taken there too. One lock for every service, not
        # one each: the services share the bookkeeping table, and two CREATE TABLE IF NOT EXISTS
        # racing each other fail with a unique violation (seen when sso and match start together).
        cur.execute("/*NO LOAD BALANCE*/ SELECT pg_advisory_xact_lock(hashtext('hn-migrate'))")
        cur.execute(
            "CREATE TABLE IF NOT EXISTS hn_schema_migrations ("
            " service text NOT NULL, version integer NOT NULL, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (service, version))"
        )
        cur.execute("SELECT version FROM hn_schema_migrations WHERE service = %s", (service,))
        done = {row[0] for row in cur.fetchall()}
        for migration in migrations:
            if migration.version in done:
                continue
            cur.execute(migration.sql)
            cur.execute(
                "INSERT INTO hn_schema_migrations (service, version, name) VALUES (%s, %s, %s)",
                (service, migration.version, migration.name),
            )
            applied.append(migration.version)
    return applied
