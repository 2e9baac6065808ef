"""What must hold after a fault, checked against the stores themselves (not through the services).

- register: every acknowledged account is in PostgreSQL once, and logs in afterwards with its
  password (through the platform).
- guest_login: every acknowledged device is bound to exactly the account it was told.
- duel: every acknowledged result is in PostgreSQL exactly once, with the winner and the rating
  the players were told.
- ratings: each player's rating row agrees with their results (duels and wins counted once, the
  rating is the one after their last duel): a result applied twice shows up here.
- sessions: no account has more than one live session token in Redis (a retried or repeated
  login must replace the session, not add one).
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import Any

import psycopg2

from hn_chaos import CheckResult, History, Op, Outcome, check_set
from hn_datatier import redis_from_url
from hn_datatier.local import DataTier
from hn_datatier.testing import direct_redis
from hn_runtime.testing import wait_for

from _players import PASSWORD, Workload, fresh_client

__all__ = ["check_everything", "stored_results"]


@contextlib.contextmanager
def _snapshot(tier: DataTier) -> Iterator[Any]:
    """One consistent read of the primary itself (not through Pgpool, not a lagging replica)."""
    conn = psycopg2.connect(tier.pg_direct_dsn(tier.pg_primary), connect_timeout=10)
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def stored_results(tier: DataTier, match_ids: Sequence[str]) -> dict[str, int]:
    """How many times each of `match_ids` is in match_results (on the primary itself)."""
    with _snapshot(tier) as cur:
        return {str(k): n for k, n in _counts(cur, _RESULTS_PER_MATCH, list(match_ids)).items()}


_RESULTS_PER_MATCH = "SELECT match_id, count(*) FROM match_results WHERE match_id = ANY(%s) GROUP BY 1"


def _counts(cur: Any, sql: str, keys: Sequence[Hashable]) -> dict[Hashable, int]:
    if not keys:
        return {}
    cur.execute(sql, (list(keys),))
    return {k: int(n) for k, n in cur.fetchall()}


def _accounts(cur: Any, workload: Workload) -> dict[int, str]:
    """Every account the workload's players own (by name or device): account id -> owner."""
    owners: dict[int, str] = {}
    cur.execute(
        "SELECT account_id, lower(display_name) FROM sso_accounts WHERE lower(display_name) = ANY(%s)",
        ([n.lower() for n in workload.names],),
    )
    owners.update({int(a): n for a, n in cur.fetchall()})
    cur.execute("SELECT account_id, device_id FROM sso_devices WHERE device_id = ANY(%s)", (workload.devices,))
    owners.update({int(a): d for a, d in cur.fetchall()})
    return owners


def _registrations(history: History, cur: Any) -> CheckResult:
    def present(ops: Sequence[Op]) -> Mapping[Hashable, int]:
        names = sorted({str(op.key) for op in ops})
        found = _counts(
            cur,
            "SELECT lower(display_name), count(*) FROM sso_accounts WHERE lower(display_name) = ANY(%s) GROUP BY 1",
            [n.lower() for n in names],
        )
        return {n: found.get(n.lower(), 0) for n in names}

    return check_set(history, "register", present, name="registrations in PostgreSQL")


def _logins_afterwards(history: History, brokerlist_url: str) -> CheckResult:
    """Each account whose registration was acknowledged (or proved by a login) logs in now."""
    result = CheckResult("registered accounts log in afterwards")
    for name in sorted({str(op.key) for op in history.ops(("register", "login"), Outcome.OK)}):
        result.checked += 1
        if not _can_log_in(brokerlist_url, name):
            result.lost.extend(op for op in history.ops(("register", "login"), Outcome.OK) if op.key == name)
    return result


def _can_log_in(brokerlist_url: str, name: str) -> bool:
    """True when `name` logs in; False on wrong credentials. Transient errors are retried."""
    from hn_idl.sso.ttypes import SsoError, SsoErrorCode

    answer: list[bool] = []

    def attempt() -> bool:
        client = fresh_client(brokerlist_url, reconnect=False)
        try:
            client.connect()
            client.login(name, PASSWORD)
            answer.append(True)
        except SsoError as exc:
            if exc.code == SsoErrorCode.WRONG_CREDENTIALS:
                answer.append(False)
            else:
                return False
        except Exception:  # noqa: BLE001 - the platform still settling: try again
            return False
        finally:
            client.close()
        return True

    wait_for(attempt, timeout=30, interval=0.5, message=f"a clear answer to a login as {name}")
    return answer[-1]


def _guests(history: History, cur: Any) -> CheckResult:
    ops = [op for op in history.ops("guest_login") if not op.pending]
    devices = sorted({str(op.key) for op in ops})
    cur.execute("SELECT device_id, account_id FROM sso_devices WHERE device_id = ANY(%s)", (devices,))
    stored = {d: int(a) for d, a in cur.fetchall()}
    result = check_set(history, "guest_login", lambda _ops: {d: int(d in stored) for d in devices}, name="guests")
    told: dict[str, set[int]] = {}
    for op in ops:
        if op.outcome is Outcome.OK:
            told.setdefault(str(op.key), set()).add(int(op.value))
    for device, accounts in told.items():
        if len(accounts) > 1:
            result.duplicates[device] = len(accounts)  # one device, two accounts
        elif device in stored and stored[device] not in accounts:
            result.problems.append(f"{device}: told account {accounts}, stored {stored[device]}")
    return result


def _duels(history: History, cur: Any) -> CheckResult:
    ops = [op for op in history.ops("duel") if op.key is not None]
    ids = sorted({str(op.key) for op in ops})
    stored: dict[str, tuple[int, int, int | None, int, int]] = {}
    if ids:
        cur.execute(
            "SELECT match_id, player_a, player_b, winner, rating_a_after, rating_b_after FROM match_results"
            " WHERE match_id = ANY(%s)",
            (ids,),
        )
        stored = {m: (a, b, w, ra, rb) for m, a, b, w, ra, rb in cur.fetchall()}
    found = _counts(cur, _RESULTS_PER_MATCH, ids)
    result = check_set(history, "duel", lambda _ops: {m: found.get(m, 0) for m in ids}, name="duel results")
    for op in history.ops("duel", Outcome.OK):
        row = stored.get(str(op.key))
        if row is None:
            continue  # already counted as lost
        me, winner, rating = op.value
        a, b, stored_winner, rating_a, rating_b = row
        mine = rating_a if me == a else rating_b if me == b else None
        if mine is None or stored_winner != winner or mine != rating:
            result.problems.append(
                f"duel {op.key}: player {me} was told winner {winner}, rating {rating}; "
                f"stored winner {stored_winner}, rating {mine}"
            )
    return result


def _ratings(cur: Any, accounts: Mapping[int, str]) -> CheckResult:
    result = CheckResult("ratings agree with results")
    ids = sorted(accounts)
    if not ids:
        return result
    cur.execute("SELECT account_id, rating, duels, wins FROM match_ratings WHERE account_id = ANY(%s)", (ids,))
    rows = {int(a): (int(r), int(d), int(w)) for a, r, d, w in cur.fetchall()}
    cur.execute(
        "SELECT player_a, player_b, winner, rating_a_after, rating_b_after FROM match_results"
        " WHERE player_a = ANY(%s) OR player_b = ANY(%s) ORDER BY created_at, match_id",
        (ids, ids),
    )
    seen: dict[int, list[int]] = {}
    wins: dict[int, int] = {}
    for a, b, winner, rating_a, rating_b in cur.fetchall():
        for player, rating in ((a, rating_a), (b, rating_b)):
            seen.setdefault(player, []).append(rating)
            wins[player] = wins.get(player, 0) + (1 if winner == player else 0)
    for account in ids:
        history = seen.get(account, [])
        row = rows.get(account)
        result.checked += len(history)
        if row is None:
            if history:
                result.problems.append(f"account {account}: {len(history)} results, no rating row")
            continue
        rating, duels, won = row
        if duels > len(history):
            result.duplicates[f"rating of {account}"] = duels - len(history) + 1  # applied more than once
        elif duels < len(history) or won != wins.get(account, 0) or (history and rating != history[-1]):
            result.problems.append(
                f"account {account}: row says {duels} duels, {won} wins, rating {rating}; results say "
                f"{len(history)} duels, {wins.get(account, 0)} wins, last rating {history[-1] if history else None}"
            )
    return result


def _sessions(tier: DataTier, accounts: Mapping[int, str]) -> CheckResult:
    """Live sessions per account: every token in Redis (read from each shard's master directly,
    Twemproxy has no SCAN), counted when sso's own validation accepts it."""
    from hn_sso import Sessions

    result = CheckResult(SESSIONS)
    found: list[str] = []
    for shard in tier.shards:
        master = tier.sentinel_master(shard.name)
        assert master is not None, f"no master for {shard.name}"
        with direct_redis(master) as client:
            found.extend(key.split(":", 2)[2] for key in client.scan_iter(match="sso:tok:*", count=1000))
    sessions = Sessions(redis_from_url(tier.env["HN_REDIS_URL"]), ttl_s=3600)
    tokens: dict[int, int] = {}
    for token in found:
        account = sessions.account(token)
        if account is not None and account.account_id in accounts:
            tokens[account.account_id] = tokens.get(account.account_id, 0) + 1
    result.checked = len(tokens)
    result.duplicates = {accounts[a]: n for a, n in tokens.items() if n > 1}  # owner (name or device) -> tokens
    return result


SESSIONS = "one session per account"


def check_everything(workload: Workload, tier: DataTier) -> list[CheckResult]:
    """Run every check on a stopped workload; the sessions check first (later logins add tokens)."""
    history = workload.history
    with _snapshot(tier) as cur:
        accounts = _accounts(cur, workload)
        results = [_sessions(tier, accounts)]
        results += [_registrations(history, cur), _guests(history, cur), _duels(history, cur)]
        results.append(_ratings(cur, accounts))
    results.append(_logins_afterwards(history, workload.brokerlist_url))
    return results
