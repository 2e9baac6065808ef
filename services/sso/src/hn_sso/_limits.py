"""How fast logins may fail and accounts may be made, shared by every sso instance (Redis).

Failed logins slow guessing down without locking anyone out (OWASP Authentication Cheat Sheet,
"Login Throttling": an exponential lockout that starts short, and care that it cannot be turned
into a denial of service; ASVS 4.0 2.2.1: soft lockouts, ever increasing delays, at most 100
failed attempts an hour on one account). Three counters, each with a few free failures, after
which every further failure doubles the wait before the next attempt, up to a cap:

    one address on one account     a guesser in one place; the owner elsewhere is not slowed
    one address on any accounts    one password sprayed over many names
    one account from new addresses guessing spread over many places (once `SPREAD` addresses
                                   tried it lately); addresses the account logged in from
                                   before ("known", as OWASP's device cookies) pass it by

A wait is a gate key set with `SET NX PX <delay>` when an attempt passes: the next attempt on the
same counter finds it and is refused RATE_LIMITED with the gate's remaining time, and is not
counted. An attempt is counted *before* its password is checked, so parallel guesses cannot all
slip past during the slow verify: at most one attempt per counter passes per wait. A success
clears its address's count on the account and gives the other counters their attempt back; an
attempt never judged (an outage) is taken back whole. Counters are forgotten `memory_s` after
their last attempt. Single-key commands in pipelines (no MULTI: Twemproxy), every counter write
paired with its EXPIRE so that none outlives its memory.

Account creation is a fixed window per address (`CreationLimit`).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Attempt", "CreationLimit", "LoginThrottle", "address_of"]


def address_of(client: str | None) -> str | None:
    """What limits count a client by, from the "ip:port" a broker stamps: the IP (an IPv6
    client by its /64, the network one subscriber gets); None without one (a service's call)."""
    if not client:
        return None
    try:
        ip = ipaddress.ip_address(client.rsplit(":", 1)[0].strip("[]"))
    except ValueError:
        try:
            ip = ipaddress.ip_address(client.strip("[]"))  # no port
        except ValueError:
            return client[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(frozen=True)
class _Counter:
    key: str
    gate: str
    free: int


@dataclass
class Attempt:
    """One login attempt, counted (see `LoginThrottle.attempt`). `wait_s` > 0: refused, nothing
    counted; wait that long."""

    name: str
    address: str | None
    wait_s: int = 0
    counted: list[str] = field(default_factory=list)
    gates: list[str] = field(default_factory=list)


#: distinct new addresses failing on one account before its own throttle slows them all: one
#: guesser, plus the owner's typos somewhere new, is not yet a spread attack
SPREAD = 3


class LoginThrottle:
    def __init__(
        self,
        redis: Any,
        *,
        per_account_address: int,
        per_account: int,
        per_address: int,
        memory_s: int,
        base_delay_s: float,
        max_delay_s: float,
        known_for_s: int,
    ) -> None:
        self._redis = redis
        self.per_account_address = per_account_address
        self.per_account = per_account
        self.per_address = per_address
        self.memory_s = memory_s
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.known_for_s = known_for_s

    # -- keys ---------------------------------------------------------------------------------

    @staticmethod
    def _known(name: str, address: str) -> str:
        return f"sso:known:{address}:{name}"

    @staticmethod
    def _spread(name: str) -> str:
        """The set of new addresses that tried the account lately."""
        return f"sso:from:acct:{name}"

    def _counters(self, name: str, address: str | None) -> tuple[_Counter | None, _Counter | None, _Counter]:
        """(one address on the account, the address on any, the account from new addresses)."""
        account = _Counter(f"sso:fail:acct:{name}", f"sso:gate:acct:{name}", self.per_account)
        if not address:
            return None, None, account
        pair = _Counter(f"sso:fail:pair:{address}:{name}", f"sso:gate:pair:{address}:{name}", self.per_account_address)
        spray = _Counter(f"sso:fail:addr:{address}", f"sso:gate:addr:{address}", self.per_address)
        return pair, spray, account

    def delay_s(self, over: int) -> float:
        """The wait after the `over`th failure beyond the free ones: base, doubling, capped."""
        return float(min(self.base_delay_s * 2 ** min(over - 1, 40), self.max_delay_s))

    # -- the three steps of a login ------------------------------------------------------------

    def attempt(self, name: str, address: str | None) -> Attempt:
        """Count an attempt at `name` from `address` before its password is checked; refused
        (`wait_s` > 0, uncounted) while a gate it needs is held."""
        name = name.lower()
        pair, spray, account = self._counters(name, address)
        counters = [c for c in (pair, spray, account) if c is not None]
        pipe = self._redis.pipeline(transaction=False)
        for counter in counters:
            pipe.incr(counter.key)
            pipe.expire(counter.key, self.memory_s)
        if address:
            pipe.get(self._known(name, address))
            pipe.sadd(self._spread(name), address)
            pipe.expire(self._spread(name), self.memory_s)
            pipe.scard(self._spread(name))
        replies = pipe.execute()
        counts = [int(replies[2 * i]) for i in range(len(counters))]
        known = bool(address) and replies[2 * len(counters)] is not None
        spread = int(replies[-1]) if address else SPREAD

        attempt = Attempt(name, address)
        gates: list[tuple[str, int]] = []
        pipe = self._redis.pipeline(transaction=False)
        for counter, count in zip(counters, counts, strict=True):
            if counter is account and known:
                # The owner's usual address: guesses from elsewhere do not hold it back.
                pipe.decr(counter.key)
                pipe.expire(counter.key, self.memory_s)
                pipe.srem(self._spread(name), address)
                continue
            attempt.counted.append(counter.key)
            if count > counter.free and (counter is not account or spread >= SPREAD):
                gates.append((counter.gate, max(1, int(self.delay_s(count - counter.free) * 1000))))
        for gate, delay_ms in gates:
            pipe.set(gate, 1, px=delay_ms, nx=True)
            pipe.pttl(gate)
        if not len(pipe):
            return attempt
        replies = pipe.execute()[-2 * len(gates) :] if gates else []
        held_ms = 0
        for i, (gate, _) in enumerate(gates):
            if replies[2 * i]:
                attempt.gates.append(gate)
            else:
                held_ms = max(held_ms, int(replies[2 * i + 1]), 1)
        if held_ms:
            self.refund(attempt)
            attempt.counted, attempt.gates = [], []
            attempt.wait_s = max(1, math.ceil(held_ms / 1000))
        return attempt

    def succeeded(self, attempt: Attempt) -> None:
        """The right password: this address starts afresh on the account and becomes one of its
        known addresses; the other counters get this attempt back, its gates are let go."""
        pair, _, _ = self._counters(attempt.name, attempt.address)
        pipe = self._redis.pipeline(transaction=False)
        for key in attempt.counted:
            if pair is not None and key == pair.key:
                pipe.delete(key)
            else:
                pipe.decr(key)
                pipe.expire(key, self.memory_s)
        if pair is not None:
            pipe.delete(pair.gate)
        for gate in attempt.gates:
            pipe.delete(gate)
        if attempt.address:
            pipe.srem(self._spread(attempt.name), attempt.address)
            pipe.set(self._known(attempt.name, attempt.address), 1, ex=self.known_for_s)
        pipe.execute()

    def refund(self, attempt: Attempt) -> None:
        """Take back an attempt that was refused or never judged (the check itself failed)."""
        pipe = self._redis.pipeline(transaction=False)
        for key in attempt.counted:
            pipe.decr(key)
            pipe.expire(key, self.memory_s)
        for gate in attempt.gates:
            pipe.delete(gate)
        if len(pipe):
            pipe.execute()


class CreationLimit:
    """At most `per_address` accounts made from one address per fixed window of `window_s`: `SET
    key 0 EX window NX`, `INCR` (which keeps the TTL), `TTL`, pipelined; counted before the
    account is made, so parallel requests cannot pass together. Calls with no address (from
    services, not game clients) are not limited."""

    def __init__(self, redis: Any, *, per_address: int, window_s: int) -> None:
        self._redis = redis
        self.per_address = per_address
        self.window_s = window_s

    def attempt(self, address: str | None) -> int:
        """Count one account about to be made; seconds to wait if it is over the limit, else 0."""
        if not address:
            return 0
        key = f"sso:new:addr:{address}"
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(key, 0, ex=self.window_s, nx=True)
        pipe.incr(key)
        pipe.ttl(key)
        _, count, ttl = pipe.execute()
        if int(count) > self.per_address:
            return max(int(ttl), 1)
        return 0

    def refund(self, address: str | None) -> None:
        """Take back an account that was not made after all (the database failed)."""
        if address:
            key = f"sso:new:addr:{address}"
            pipe = self._redis.pipeline(transaction=False)
            pipe.decr(key)
            pipe.expire(key, self.window_s)
            pipe.execute()
