"""Accounts and devices in PostgreSQL (through Pgpool)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg2

from hn_datatier import PgPool
from hn_idl.sso.ttypes import Account

__all__ = ["Accounts", "StoredAccount", "NameTaken", "NotYourDevice"]

_COLUMNS = "a.account_id, a.display_name, a.guest, (extract(epoch from a.created_at) * 1000)::bigint, a.password_hash"


class NameTaken(Exception):
    pass


class NotYourDevice(Exception):
    """A register's device id belongs to an account that call may not upgrade."""

    def __init__(self, guest: bool) -> None:
        super().__init__("guest" if guest else "registered")
        #: the device's account is a guest (upgradable by its own session), not a registered one
        self.guest = guest


@dataclass(frozen=True)
class StoredAccount:
    account: Account
    password_hash: str | None


def _row(row: tuple[Any, ...] | None) -> StoredAccount | None:
    if row is None:
        return None
    account_id, name, guest, created_ms, password_hash = row
    return StoredAccount(Account(int(account_id), str(name), bool(guest), int(created_ms)), password_hash)


class Accounts:
    def __init__(self, pool: PgPool) -> None:
        self._pool = pool

    def by_name(self, name: str) -> StoredAccount | None:
        # From the primary: a login right after registering must see the new account.
        return _row(
            self._pool.fetchone(
                f"SELECT {_COLUMNS} FROM sso_accounts a WHERE lower(a.display_name) = lower(%s)", (name,), primary=True
            )
        )

    def by_id(self, account_id: int, *, primary: bool = False) -> StoredAccount | None:
        """From any node (Pgpool balances reads) unless `primary`: a new account may not be on a
        replica yet, nor a password changed a moment ago."""
        return _row(
            self._pool.fetchone(
                f"SELECT {_COLUMNS} FROM sso_accounts a WHERE a.account_id = %s", (account_id,), primary=primary
            )
        )

    def by_device(self, device_id: str) -> StoredAccount | None:
        return _row(
            self._pool.fetchone(
                f"SELECT {_COLUMNS} FROM sso_accounts a JOIN sso_devices d USING (account_id) WHERE d.device_id = %s",
                (device_id,),
                primary=True,
            )
        )

    def create(
        self,
        name: str,
        password_hash: str,
        device_id: str | None,
        *,
        session_account: int | None = None,
        creating: Callable[[], None] = lambda: None,
    ) -> tuple[Account, bool]:
        """A new account (bound to `device_id` if no account has it yet), or the guest account of
        `device_id` upgraded in place when `session_account` is that guest (its own session):
        (the account, whether it is new). NameTaken if the name is taken; NotYourDevice if the
        device belongs to an account this session may not upgrade. `creating()` runs just before
        a new account is inserted (a limit that may refuse it, in the same transaction)."""
        try:
            with self._pool.transaction() as cur:
                if device_id:
                    cur.execute(
                        "SELECT a.account_id, a.guest FROM sso_devices d JOIN sso_accounts a USING (account_id)"
                        " WHERE d.device_id = %s FOR UPDATE OF a",
                        (device_id,),
                    )
                    found = cur.fetchone()
                    if found is not None:
                        owner, guest = int(found[0]), bool(found[1])
                        if not guest or owner != session_account:
                            raise NotYourDevice(guest)
                        cur.execute(
                            "UPDATE sso_accounts a SET display_name = %s, password_hash = %s, guest = false"
                            f" WHERE a.account_id = %s RETURNING {_COLUMNS}",
                            (name, password_hash, owner),
                        )
                        upgraded = _row(cur.fetchone())
                        assert upgraded is not None
                        return upgraded.account, False
                creating()
                cur.execute(
                    f"INSERT INTO sso_accounts AS a (display_name, password_hash) VALUES (%s, %s) RETURNING {_COLUMNS}",
                    (name, password_hash),
                )
                stored = _row(cur.fetchone())
                assert stored is not None
                if device_id:
                    # Never re-pointed: a device bound meanwhile (a concurrent register or guest
                    # login with it) keeps its account, and this one is not made.
                    cur.execute(
                        "INSERT INTO sso_devices (device_id, account_id) VALUES (%s, %s) ON CONFLICT (device_id) DO NOTHING",
                        (device_id, stored.account.account_id),
                    )
                    if cur.rowcount != 1:
                        raise NotYourDevice(False)
                return stored.account, True
        except psycopg2.errors.UniqueViolation as exc:
            raise NameTaken(name) from exc

    def create_guest(self, device_id: str) -> tuple[Account, bool]:
        """The device's guest account, created on its first login (concurrent firsts agree):
        (the account, whether this call made it)."""
        try:
            with self._pool.transaction() as cur:
                cur.execute(
                    f"INSERT INTO sso_accounts AS a (display_name, guest) VALUES (%s, true) RETURNING {_COLUMNS}",
                    (f"guest-{secrets.token_hex(6)}",),
                )
                stored = _row(cur.fetchone())
                assert stored is not None
                cur.execute(
                    "INSERT INTO sso_devices (device_id, account_id) VALUES (%s, %s)",
                    (device_id, stored.account.account_id),
                )
                return stored.account, True
        except psycopg2.errors.UniqueViolation:
            existing = self.by_device(device_id)  # another instance created it a moment ago
            if existing is None:
                raise
            return existing.account, False

    def set_password_hash(self, account_id: int, password_hash: str) -> None:
        self._pool.execute(
            "UPDATE sso_accounts SET password_hash = %s WHERE account_id = %s", (password_hash, account_id)
        )

    def logged_in(self, account_id: int) -> None:
        self._pool.execute("UPDATE sso_accounts SET last_login_at = now() WHERE account_id = %s", (account_id,))
