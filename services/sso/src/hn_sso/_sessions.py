"""Session tokens in Redis (through Twemproxy: single-key commands only).

    sso:tok:<token>       -> "<account_id>|<guest 0/1>|<created_ms>|<display_name>"  (TTL)
    sso:acct:<id>:tok     -> the account's current token                            (TTL)

A token is "<account_id>.<64 hex digits>": naming its account lets validate read both keys at
once (the random part is what makes it unguessable; a forged prefix names no stored token).

One session per account: a new login replaces the previous token, which stops validating at
once on every instance. A token validates only while it is its account's current token: a login
that failed between writing its token and pointing the account at it (two keys, two shards, no
transaction through Twemproxy) leaves a token that never validates, not a second session.
Validate reads both keys in one MGET, batched with the other validates of the same loop turn: it
is the broker's hot call. (A token from before tokens named their account takes two reads.)
"""

from __future__ import annotations

import secrets
from typing import Any

from hn_datatier import GetBatcher
from hn_idl.sso.ttypes import Account

__all__ = ["Sessions"]


def _tok(token: str) -> str:
    return f"sso:tok:{token}"


def _current(account_id: int) -> str:
    return f"sso:acct:{account_id}:tok"


class Sessions:
    def __init__(self, redis: Any, *, ttl_s: int) -> None:
        self._redis = redis
        self._batched = GetBatcher(redis)
        self.ttl_s = ttl_s

    def issue(self, account: Account) -> str:
        token = f"{account.account_id}.{secrets.token_hex(32)}"
        value = f"{account.account_id}|{int(account.guest)}|{account.created_ms}|{account.display_name}"
        self._redis.set(_tok(token), value, ex=self.ttl_s)
        previous = self._redis.getset(_current(account.account_id), token)
        self._redis.expire(_current(account.account_id), self.ttl_s)
        if previous:
            self._redis.delete(_tok(previous.decode() if isinstance(previous, bytes) else previous))
        return token

    def account(self, token: str) -> Account | None:
        named, dot, _ = token.partition(".")
        if dot:
            raw, current = self._batched.get_many([_tok(token), _current(int(named))])
        else:
            raw, current = self._batched.get(_tok(token)), None
        if raw is None:
            return None
        account_id, guest, created_ms, name = (raw.decode() if isinstance(raw, bytes) else raw).split("|", 3)
        if not dot:
            current = self._batched.get(_current(int(account_id)))
        if current is None or (current.decode() if isinstance(current, bytes) else current) != token:
            return None  # replaced by a newer login, or orphaned by a login that failed midway
        return Account(account_id=int(account_id), display_name=name, guest=guest == "1", created_ms=int(created_ms))

    def revoke(self, token: str) -> Account | None:
        """End the token; the account whose current session it was (None: it was not one)."""
        account = self.account(token)
        self._redis.delete(_tok(token))
        if account is not None:
            current = self._redis.get(_current(account.account_id))
            if current is not None and (current.decode() if isinstance(current, bytes) else current) == token:
                self._redis.delete(_current(account.account_id))
        return account
