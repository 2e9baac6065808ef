"""A steady load of players whose every operation is recorded in a History.

Each player is a game client through brokerlist and a broker, as a real one: half register an
account with a password, half log in as guests by device id; then they duel, again and again, and
log in again after every third duel. Operations and what acknowledges them:

- register(name) / login(name): the Login reply (an account id and a token).
- guest_login(device): the Login reply (the device's account id).
- duel(match id): the DuelResult push, with the winner and this player's new rating.

A player whose connection breaks lets the SDK reconnect and resume; if that does not happen
within its timeout, it starts a fresh client and logs in again (recorded like any login).
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.event

from hn_chaos import History, Op, Outcome
from hn_client import BrokerConnection, BrokerRejected, ConnectionLost, Duelist, DuelTimeout, GameClient
from hn_idl.client.ttypes import ClientError
from hn_idl.sso.ttypes import SsoErrorCode

__all__ = ["Workload", "classify", "fresh_client"]

#: a client's wait for one reply (the broker gives up on a service after 10 s)
CALL_TIMEOUT_S = 12.0
#: one whole duel, queue to result (a result is stored with retries through a database failover)
DUEL_TIMEOUT_S = 30.0
PASSWORD = "chaos-monkey-password"

_runs = itertools.count(1)


def classify(exc: BaseException) -> Outcome:
    """What an error says about whether the operation happened.

    No answer (a timeout, the connection lost mid-call, a broker TIMEOUT, a handler that crashed
    midway) is unknown; a declared error or a refusal before anything ran is a clear failure.
    """
    if isinstance(exc, BrokerRejected):
        return Outcome.UNKNOWN if exc.code in (ClientError.TIMEOUT, ClientError.INTERNAL) else Outcome.FAILED
    if isinstance(exc, ConnectionLost | DuelTimeout | gevent.Timeout | OSError):
        return Outcome.UNKNOWN
    return Outcome.FAILED


class RoutedClient(GameClient):
    """A GameClient whose path to each broker may go through something else (a fault proxy).

    `route(address)` gives the address to dial for a broker brokerlist lists; `first` rotates
    which broker a client tries first, so players spread over the brokers.
    """

    def __init__(self, brokerlist_url: str, *, route: Callable[[str], str], first: int = 0, **options: Any) -> None:
        super().__init__(brokerlist_url, **options)
        self.route = route
        self.first = first
        self.broker = ""

    def connect(self) -> GameClient:
        from hn_client import fetch_brokers

        brokers = [address for address, _load in fetch_brokers(self.brokerlist_url, self.timeout)]
        if brokers:
            k = self.first % len(brokers)
            brokers = brokers[k:] + brokers[:k]
        errors = []
        for address in brokers:
            try:
                self.connection = BrokerConnection(self.route(address), on_push=self._on_push, on_close=self._on_close)
            except OSError as exc:
                errors.append(f"{address}: {exc}")
                continue
            self.broker = address
            self.connected.set()
            if self.token is None:
                self.ready.set()  # nothing to resume (as GameClient.connect)
            return self
        raise ConnectionLost(f"no broker reachable: {'; '.join(errors) or 'brokerlist lists none'}")


def fresh_client(brokerlist_url: str, *, timeout: float = CALL_TIMEOUT_S, **options: Any) -> RoutedClient:
    return RoutedClient(brokerlist_url, route=lambda a: a, timeout=timeout, **options)


class _Stopped(Exception):
    pass


@dataclass
class Player:
    workload: Workload
    number: int
    name: str
    guest: bool
    client: RoutedClient | None = None
    duelist: Duelist | None = None
    #: the register was acknowledged, or a later login proved it happened
    registered: bool = False
    #: (time on the history clock, match id) of the last MatchFound
    found: tuple[float, str] | None = None
    duels: int = 0
    next_login: int = 3
    #: seconds to back off after the next error (doubles on each error in a row, up to 2 s)
    backoff: float = 0.25
    greenlet: gevent.Greenlet | None = field(default=None, repr=False)

    @property
    def device(self) -> str:
        return f"{self.name}-device"

    # -- one player's life ---------------------------------------------------------------------

    def live(self) -> None:
        try:
            while not self.workload.stopping.is_set():
                if self.client is None or self.client.token is None:
                    if not self._log_in():
                        self._back_off()
                        continue
                self._duel()
                if self.duels >= self.next_login:
                    self.next_login = self.duels + 3
                    self._log_in(again=True)
        except _Stopped:
            pass
        finally:
            if self.client is not None:
                self.client.close()

    def _pause(self, seconds: float) -> None:
        """Pace the load (after an error: a client's back-off, not a wait for a condition)."""
        if self.workload.stopping.wait(seconds):
            raise _Stopped

    def _back_off(self) -> None:
        self._pause(self.backoff)
        self.backoff = min(2.0, self.backoff * 2)

    def _new_client(self) -> RoutedClient:
        if self.client is not None:
            self.client.close()
        client = RoutedClient(
            self.workload.brokerlist_url, route=self.workload.route, first=self.number, timeout=CALL_TIMEOUT_S
        )
        client.on("match.MatchFound", self._on_found)
        self.client, self.duelist = client, Duelist(client)
        client.connect()
        return client

    def _on_found(self, event: Any) -> None:
        self.found = (self.workload.history.now(), event.match_id)

    def _log_in(self, *, again: bool = False) -> bool:
        """Log in (a fresh client unless `again`); True when logged in."""
        history = self.workload.history
        if not again:
            try:
                self._new_client()
            except (OSError, ConnectionLost) as exc:  # no broker reachable: not an operation yet
                self.workload.connect_errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                return False
        assert self.client is not None
        client = self.client
        if self.guest:
            op = history.run("guest_login", lambda: client.guest_login(self.device), key=self.device, process=self.name)
        elif not self.registered:
            op = history.run("register", lambda: client.register(self.name, PASSWORD), key=self.name, process=self.name)
            if op.outcome is Outcome.OK:
                self.registered = True
            elif _code(op) == "NAME_TAKEN":  # an earlier attempt of ours did happen: log in
                self.registered = True
                op = history.run("login", lambda: client.login(self.name, PASSWORD), key=self.name, process=self.name)
        else:
            op = history.run("login", lambda: client.login(self.name, PASSWORD), key=self.name, process=self.name)
        if op.outcome is Outcome.OK:
            op.value = op.value.account.account_id  # keep the figure, not the token
            self.backoff = 0.25
            return True
        if _code(op) == "WRONG_CREDENTIALS" and not again:
            self.registered = False  # the unknown register did not happen after all
        self._recover(op)
        return False

    def _duel(self) -> None:
        history = self.workload.history
        assert self.client is not None and self.duelist is not None
        op = history.invoke("duel", process=self.name)
        try:
            outcome = self.duelist.duel(stop=self.workload.stopping.is_set, timeout=DUEL_TIMEOUT_S)
        except gevent.GreenletExit:
            self._key_from_found(op)
            history.unknown(op, "interrupted")
            raise
        except Exception as exc:  # noqa: BLE001 - an outcome to record
            self._key_from_found(op)
            history.error(op, exc)
            self._recover(op)
            return
        if outcome is None:  # stopped while queued: called off by the workload, not an operation
            history.discard(op)
            raise _Stopped
        op.key = outcome.match_id or None
        if outcome.result is None:
            if "while reconnecting" in str(outcome.aborted) and outcome.match_id:
                # The SDK asked after a resume: the duel is over, its result push was lost.
                history.unknown(op, f"ended unheard: {outcome.aborted}")
            else:
                history.fail(op, f"aborted: {outcome.aborted}")
            return
        assert self.client.account is not None
        me = self.client.account.account_id
        history.ok(op, (me, outcome.result.winner_id, outcome.result.ratings.get(me)))
        self.duels += 1
        self.backoff = 0.25

    def _key_from_found(self, op: Op) -> None:
        if self.found is not None and self.found[0] >= op.invoked_at:
            op.key = self.found[1]

    def _recover(self, op: Op) -> None:
        """After an error: carry on with this client if it is (or gets) connected, else start over."""
        client = self.client
        self._back_off()
        if client is None or client.token is None:
            return
        if not client.ready.wait(CALL_TIMEOUT_S) or client.connection is None or client.connection.closed:
            self.workload.restarts += 1
            client.close()
            client.token = None  # next round: a fresh client and a new login


def _code(op: Op) -> str:
    """The name of the SsoError code in an operation's error text ("" for any other error)."""
    found = re.match(r"SsoError: .*?code=(\d+)", op.error)
    return str(SsoErrorCode._VALUES_TO_NAMES.get(int(found.group(1)), "")) if found else ""


class Workload:
    """`players` players on the platform behind `brokerlist_url`, recorded in `history`."""

    def __init__(
        self,
        brokerlist_url: str,
        *,
        players: int = 10,
        route: Callable[[str], str] | None = None,
        history: History | None = None,
    ) -> None:
        self.brokerlist_url = brokerlist_url
        self.route = route or (lambda address: address)
        self.history = history or History(classify=classify)
        self.stopping = gevent.event.Event()
        self.prefix = f"chaos{int(time.time()) % 100000}x{next(_runs)}"
        self.players = [Player(self, n, f"{self.prefix}p{n}", guest=n % 2 == 1) for n in range(players)]
        self.restarts = 0
        from collections import Counter

        self.connect_errors: Counter[str] = Counter()

    def start(self) -> Workload:
        for player in self.players:
            player.greenlet = gevent.spawn(player.live)
        return self

    def duels_since(self, at: float) -> int:
        return self.history.succeeded_since(at, "duel")

    def everyone_logged_in(self) -> bool:
        logged = {op.process for op in self.history.ops(("register", "login", "guest_login"), Outcome.OK)}
        return len(logged) == len(self.players)

    def stop(self, timeout: float = 15.0) -> None:
        """Players finish the duel they are in (a queued one is called off), then stop; a player
        still waiting after `timeout` (for a push that will not come) is stopped, its operation
        recorded as unknown."""
        self.stopping.set()
        greenlets = [p.greenlet for p in self.players if p.greenlet is not None]
        gevent.joinall(greenlets, timeout=timeout)
        gevent.killall([g for g in greenlets if not g.dead], timeout=5)
        self.history.close("the workload stopped first")

    # -- what the checks need ----------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.players if not p.guest]

    @property
    def devices(self) -> list[str]:
        return [p.device for p in self.players if p.guest]
