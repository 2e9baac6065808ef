"""The tier's passwords: random, one per role and tier, each in its own file readable by its owner only.

A local tier makes its own at start, in `<scratch>/secrets` (mode 0700, files 0600): nothing is
shared between two tiers and nothing outlives the scratch directory. Production keeps the same
secrets in SSM Parameter Store as SecureStrings (docs/security.md maps each name below to its
parameter); the configuration templates take them as placeholders either way.
"""

from __future__ import annotations

import os
import secrets
import string

__all__ = ["Secrets", "write_private"]

# Letters and digits only: a password goes unquoted into URLs, DSNs, redis.conf, sentinel.conf,
# YAML and pool_passwd, where ':', '@', '/', '#', quotes or a leading '-' would each need escaping.
_ALPHABET = string.ascii_letters + string.digits
_LENGTH = 32  # about 190 bits


def _new_password() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))


def write_private(path: str, text: str, *, owner: tuple[int, int] | None = None) -> str:
    """Write a file only its owner reads (mode 0600 from the first byte, also when it existed),
    owned by `owner` (uid, gid) if given; returns `path`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fh.fileno(), 0o600)
        if owner is not None:
            os.fchown(fh.fileno(), *owner)
        fh.write(text)
    return path


class Secrets:
    """The secrets of one tier, in `directory`: made on first use, then read back from their file.
    `secrets[Secrets.PG_APP]` is a password; the names are also the files' and map one to one to
    production's SSM parameters (docs/security.md)."""

    #: Redis' `default` user: what Twemproxy logs in as (its `redis_auth` sends `AUTH <password>`),
    #: so also the password every client gives Twemproxy (HN_REDIS_URL). Data commands only.
    REDIS_DEFAULT = "redis-default"
    #: Redis' `sentinel` user: Sentinel's monitoring and failover commands (`sentinel auth-pass`).
    REDIS_SENTINEL = "redis-sentinel"
    #: Redis' `replica` user: replication only (`masteruser` / `masterauth` of every node).
    REDIS_REPLICA = "redis-replica"
    #: Redis' `admin` user: every command, for operators, the launcher's checks and chaos tests.
    REDIS_ADMIN = "redis-admin"
    #: Redis' `monitor` user: what prometheus-redis-exporter logs in as (INFO, slow and latency logs).
    REDIS_MONITOR = "redis-monitor"
    #: Sentinel's own `requirepass`: the agent, operators and the other Sentinels give it.
    SENTINEL = "sentinel"
    #: PostgreSQL's superuser `postgres` (the local tier's tests create databases with it).
    PG_SUPERUSER = "pg-superuser"
    #: The services' PostgreSQL role (HN_PG_DSN).
    PG_APP = "pg-app"
    #: The `replicator` role the streaming replica logs in as.
    PG_REPLICATION = "pg-replication"
    #: `hn_pgpool`, the role of Pgpool's health and streaming-replication checks (pg_monitor).
    PG_CHECK = "pg-check"
    #: The key Pgpool's `pool_passwd` entries are AES-encrypted with (`pg_enc -k`, `pgpool -k`).
    PGPOOL_KEY = "pgpool-key"

    def __init__(self, directory: str) -> None:
        self.directory = directory
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)

    def path(self, name: str) -> str:
        """The file holding secret `name` (made if missing): for programs that read a password file."""
        self[name]
        return os.path.join(self.directory, name)

    def __getitem__(self, name: str) -> str:
        path = os.path.join(self.directory, name)
        try:
            with open(path) as fh:
                return fh.read().strip()
        except FileNotFoundError:
            pass
        value = _new_password()
        # O_EXCL: created with mode 0600 from the first byte, never readable by anyone else.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")
        return value

    def __repr__(self) -> str:  # never the values
        return f"Secrets({self.directory!r})"
