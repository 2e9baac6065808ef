"""sso while its data tier fails: a Redis master killed, Pgpool and the replica restarted.

Each test keeps logins and validates flowing, records every call as ok / clear error / wrong
answer, and prints the figures (`./pants test services/sso/tests/test_sso_failover.py -- -s`).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator

import gevent
import pytest

from hn_datatier.local import DataTier
from hn_datatier.testing import kill_redis_master
from hn_idl.sso.ttypes import SsoError, SsoErrorCode
from hn_runtime import HNError
from hn_runtime.testing import RunningService, running, wait_for
from hn_sso import SsoService

from _sso_support import fresh, sso_config

pytestmark = pytest.mark.chaos


class Traffic:
    """Greenlets validating known tokens and logging in, until stopped; every outcome recorded."""

    def __init__(self, sso: RunningService, accounts: int = 6) -> None:
        self.client = sso.proxy().with_options(timeout=5)
        self.outcomes: list[tuple[float, str]] = []
        self.users = []
        for _ in range(accounts):
            name = fresh("load")
            login = self.client.register(user=name, passwd="password1")
            self.users.append((name, login.account.account_id, login.token))
        self._running = True
        self._workers: list[gevent.Greenlet] = []

    def _record(self, call: Callable[[], bool]) -> None:
        try:
            outcome = "ok" if call() else "wrong"
        except SsoError as exc:
            outcome = "clear error" if exc.code == SsoErrorCode.INTERNAL else f"wrong ({exc.code})"
        except HNError as exc:
            outcome = f"clear error ({type(exc).__name__})"
        self.outcomes.append((time.monotonic(), outcome))

    def _validator(self, index: int) -> None:
        _, account_id, token = self.users[index]
        while self._running:
            self._record(lambda: self.client.validate(token=token).account_id == account_id)
            gevent.sleep(0.005)

    def _login_loop(self) -> None:
        name, account_id, _ = self.users[-1]
        while self._running:
            self._record(lambda: self.client.login(user=name, passwd="password1").account.account_id == account_id)
            gevent.sleep(0.02)

    @contextlib.contextmanager
    def flowing(self) -> Iterator[None]:
        self._workers = [gevent.spawn(self._validator, i) for i in range(len(self.users) - 1)]
        self._workers.append(gevent.spawn(self._login_loop))
        try:
            yield
        finally:
            self._running = False
            gevent.joinall(self._workers, raise_error=True)

    def summary(self, since: float) -> tuple[Counter[str], float]:
        counts = Counter(outcome for _, outcome in self.outcomes)
        failures = [t for t, outcome in self.outcomes if outcome != "ok" and t >= since]
        window = (max(failures) - since) if failures else 0.0
        return counts, window


@pytest.fixture
def sso_service(data_tier: DataTier) -> Iterator[RunningService]:
    with running(SsoService(sso_config(data_tier))) as svc:
        yield svc


def test_a_redis_master_killed_under_load(sso_service: RunningService, data_tier: DataTier) -> None:
    traffic = Traffic(sso_service)
    gevent.sleep(1.5)  # the tokens above replicate before the master dies (replication is async)
    with traffic.flowing():
        wait_for(lambda: len(traffic.outcomes) > 50)
        started = time.monotonic()
        report = kill_redis_master(data_tier, "shard0")
        wait_for(lambda: traffic.outcomes[-1][1] == "ok" and traffic.outcomes[-2][1] == "ok", timeout=30)
        healthy_from = len(traffic.outcomes)
        wait_for(lambda: len(traffic.outcomes) > healthy_from + 50)
    counts, window = traffic.summary(started)
    assert not [o for o in counts if o.startswith("wrong")], counts
    assert all(o == "ok" for _, o in traffic.outcomes[healthy_from:]), "calls succeed again after the failover"
    print(f"\nredis master killed: {dict(counts)}; sso outage window {window:.2f}s; tier: {report}")


@pytest.mark.parametrize("what", ["pgpool", "replica"])
def test_pgpool_or_the_replica_restarted_under_load(
    sso_service: RunningService, data_tier: DataTier, what: str
) -> None:
    traffic = Traffic(sso_service)
    client = traffic.client
    account_id = traffic.users[0][1]
    with traffic.flowing():
        wait_for(lambda: len(traffic.outcomes) > 50)
        started = time.monotonic()
        if what == "pgpool":
            data_tier.restart_pgpool(kill=True)
        else:
            data_tier.restart_postgres(data_tier.pg_replica, kill=True)

        def database_answers() -> bool:
            try:
                return bool(client.get_account(account_id=account_id).account_id == account_id)
            except SsoError:
                return False

        wait_for(database_answers, timeout=60, message="sso reconnects to the database by itself")
        healthy_from = len(traffic.outcomes)
        wait_for(lambda: len(traffic.outcomes) > healthy_from + 30)
    counts, window = traffic.summary(started)
    assert not [o for o in counts if o.startswith("wrong")], counts
    assert all(o == "ok" for _, o in traffic.outcomes[healthy_from + 5 :]), "calls succeed again"
    print(f"\n{what} killed and restarted: {dict(counts)}; sso outage window {window:.2f}s")
