"""sso against password guessing: a throttle shared by every instance that slows guessers and
never the owner, and no timing tell for names.

Two sso instances share the data tier: one in this process, one a real `python -m hn_sso`
process. Guesses spread over both meet one throttle, because the counters live in Redis (behind
Twemproxy), not in either process.

Whether a name exists must not show in how long a wrong password takes. That is proven by the
work done, not by a clock: every argon2 call the service makes is recorded (a real
`PasswordHasher` that notes its calls, in place of the service's own), and a wrong password costs
one verify with the same argon2 parameters whether the account exists, is missing, or has no
password at all. A wall-clock comparison is printed for information only
(`./pants test services/sso/tests/test_sso_security.py -- -s`).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import gevent
import pytest
from argon2 import PasswordHasher, extract_parameters

from hn_datatier.local import DataTier
from hn_idl.sso import Sso  # pants: no-infer-dep (generated service module)
from hn_idl.sso.ttypes import SsoError, SsoErrorCode
from hn_runtime import get_service
from hn_runtime.testing import ServiceProcess, running, spawn_service, wait_for
from hn_sso import SsoConfig, SsoService
from hn_sso._limits import SPREAD
from hn_sso._passwords import PROFILES

from _sso_support import call, fresh, fresh_address, outcome, sso_config

WRONG = SsoErrorCode.WRONG_CREDENTIALS
LIMITED = SsoErrorCode.RATE_LIMITED
PER_PAIR = 3
PER_ACCOUNT = 4
PER_ADDRESS = 6
#: a first wait long enough that the test never outlasts it by accident
BASE_DELAY_S = 30


# -- two instances sharing Redis --------------------------------------------------------------


@pytest.fixture
def sso_process(data_tier: DataTier) -> Iterator[ServiceProcess]:
    env = {
        **data_tier.env,
        "HN_SSO_HASH_PROFILE": "test",
        "HN_SSO_FAILED_LOGINS_PER_ACCOUNT_ADDRESS": str(PER_PAIR),
        "HN_SSO_FAILED_LOGINS_PER_ACCOUNT": str(PER_ACCOUNT),
        "HN_SSO_FAILED_LOGINS_PER_ADDRESS": str(PER_ADDRESS),
        "HN_SSO_LOGIN_DELAY_BASE_S": str(BASE_DELAY_S),
    }
    with spawn_service("hn_sso", service="sso", env=env) as proc:
        yield proc


def limited_config(tier: DataTier, **overrides: Any) -> Any:
    settings: dict[str, Any] = dict(
        failed_logins_per_account_address=PER_PAIR,
        failed_logins_per_account=PER_ACCOUNT,
        failed_logins_per_address=PER_ADDRESS,
        login_delay_base_s=BASE_DELAY_S,
    )
    settings.update(overrides)
    return sso_config(tier, **settings)


def _proxy(proc: ServiceProcess) -> Any:
    return get_service(Sso, endpoints=[proc.endpoints["rep"]])


def login(proxy: Any, user: str, passwd: str, *, address: str | None = None) -> int | str:
    """The outcome of one login through `proxy`: "ok" or the SsoError code.

    `address` is the client address a broker would stamp on the envelope.
    """
    return outcome(proxy, "login", client=address, user=user, passwd=passwd)  # type: ignore[no-any-return]


def test_guesses_spread_over_two_instances_meet_one_throttle(data_tier: DataTier, sso_process: ServiceProcess) -> None:
    attacker = fresh_address()
    with running(SsoService(limited_config(data_tier))) as here:
        instances = [here.proxy(), _proxy(sso_process)]
        name = fresh("target")
        here.proxy().register(user=name, passwd="the right password")
        # Alternate instances: each sees only half of the guesses, both count all of them.
        outcomes = [login(instances[n % 2], name, f"guess {n}", address=attacker) for n in range(PER_PAIR + 1)]
        assert outcomes == [WRONG] * (PER_PAIR + 1), "the free guesses, then one that starts the wait"
        # Now that address waits on both instances, even with the right password.
        for proxy in instances:
            assert login(proxy, name, "the right password", address=attacker) == LIMITED
        with pytest.raises(SsoError) as limited:
            call(instances[1], "login", client=attacker, user=name, passwd="the right password")
        assert limited.value.code == LIMITED and 0 < limited.value.retry_after_s <= BASE_DELAY_S


def test_the_owner_logs_in_from_another_address_while_an_attacker_guesses(data_tier: DataTier) -> None:
    """The attack: five wrong passwords locked the account for 15 minutes, for everyone."""
    attacker = fresh_address()
    # Short waits, so that the attacker really keeps guessing while the owner logs in.
    with running(SsoService(limited_config(data_tier, login_delay_base_s=0.05, login_delay_max_s=0.2))) as sso:
        client = sso.proxy().with_options(timeout=30)
        name = fresh("owner")
        client.register(user=name, passwd="the owner's password")
        guesses: list[int | str] = []
        guessing = [True]

        def guess() -> None:
            while guessing[0]:
                guesses.append(login(client, name, f"guess {len(guesses)}", address=attacker))

        attack = gevent.spawn(guess)
        try:
            wait_for(lambda: guesses.count(WRONG) > PER_PAIR + PER_ACCOUNT + 3, message="a sustained guessing")
            owner = [login(client, name, "the owner's password", address=fresh_address()) for _ in range(3)]
            assert guesses.count(LIMITED) > 0, "the attacker is slowed down meanwhile"
        finally:
            guessing[0] = False
            attack.join(timeout=10)
        assert owner == ["ok"] * 3, "each from a new address, never held back by the attacker"
        print(f"\nwhile the owner logged in: {guesses.count(WRONG)} guesses judged, {guesses.count(LIMITED)} refused")


def test_each_failure_doubles_the_wait_up_to_the_cap(data_tier: DataTier) -> None:
    address = fresh_address()
    with running(SsoService(limited_config(data_tier, login_delay_base_s=1, login_delay_max_s=4))) as sso:
        client = sso.proxy()
        name = fresh("patient")
        client.register(user=name, passwd="the right password")
        assert [login(client, name, "wrong", address=address) for _ in range(PER_PAIR)] == [WRONG] * PER_PAIR
        waits = []
        for _ in range(4):
            # The next guess goes through as soon as the last wait is over, and starts a longer one;
            # the refused polls meanwhile are not counted (or the wait would grow with them).
            wait_for(lambda: login(client, name, "wrong", address=address) == WRONG, timeout=10, interval=0.1)
            with pytest.raises(SsoError) as limited:
                call(client, "login", client=address, user=name, passwd="wrong")
            waits.append(limited.value.retry_after_s)
        assert waits == [1, 2, 4, 4], waits


def test_guesses_from_many_addresses_slow_new_addresses_not_known_ones(data_tier: DataTier) -> None:
    known, new = fresh_address(), fresh_address()
    with running(SsoService(limited_config(data_tier))) as sso:
        client = sso.proxy()
        name = fresh("popular")
        client.register(user=name, passwd="the right password")
        assert login(client, name, "the right password", address=known) == "ok", "the owner's usual address"
        # A botnet: one guess per address, never near the per-address limits.
        outcomes = [login(client, name, f"guess {n}", address=fresh_address()) for n in range(PER_ACCOUNT + 1)]
        assert outcomes == [WRONG] * (PER_ACCOUNT + 1), "the free guesses, then one that starts the wait"
        assert login(client, name, "guess", address=fresh_address()) == LIMITED, "the next new address waits"
        assert login(client, name, "the right password", address=new) == LIMITED, "the owner somewhere new too"
        assert login(client, name, "the right password", address=known) == "ok", "not from its usual address"


def test_one_address_spraying_many_accounts_over_two_instances_waits(
    data_tier: DataTier, sso_process: ServiceProcess
) -> None:
    attacker, bystander = fresh_address(), fresh_address()
    with running(SsoService(limited_config(data_tier))) as here:
        instances = [here.proxy(), _proxy(sso_process)]
        victim = fresh("victim")
        here.proxy().register(user=victim, passwd="victim password")
        # One guess per name (never near the per-account limits), alternating instances.
        outcomes = [
            login(instances[n % 2], fresh("sprayed"), "123456", address=attacker) for n in range(PER_ADDRESS + 1)
        ]
        assert outcomes == [WRONG] * (PER_ADDRESS + 1)
        for proxy in instances:
            assert login(proxy, fresh("sprayed"), "123456", address=attacker) == LIMITED
            # Even a right password from that address waits...
            assert login(proxy, victim, "victim password", address=attacker) == LIMITED
        # ...while the owner, elsewhere, logs in on either instance.
        assert [login(proxy, victim, "victim password", address=bystander) for proxy in instances] == ["ok", "ok"]


def test_parallel_guesses_do_not_get_past_the_throttle(data_tier: DataTier, sso_process: ServiceProcess) -> None:
    attacker = fresh_address()
    with running(SsoService(limited_config(data_tier))) as here:
        instances = [here.proxy().with_options(timeout=30), _proxy(sso_process).with_options(timeout=30)]
        name = fresh("parallel")
        here.proxy().register(user=name, passwd="the right password")
        outcomes: list[int | str] = []

        def guess(n: int) -> None:
            outcomes.append(login(instances[n % 2], name, f"parallel guess {n}", address=attacker))

        gevent.joinall([gevent.spawn(guess, n) for n in range(40)], raise_error=True)
        verified = outcomes.count(WRONG)
        print(
            f"\n40 parallel guesses over 2 instances, {PER_PAIR} free: {verified} checked, "
            f"{outcomes.count(LIMITED)} refused as rate limited"
        )
        assert verified <= PER_PAIR + 1, "the free ones, and one that starts the wait"


def test_default_throttle_allows_under_100_failures_an_hour_on_one_account() -> None:
    """ASVS 4.0 2.2.1: no more than 100 failed attempts per hour on a single account.

    With the defaults, one address on one account gets its free failures, then one per wait, each
    wait doubling up to the cap; fewer than SPREAD addresses add up; from SPREAD addresses on,
    new addresses share the account's own schedule, which takes every new address's attempt."""
    defaults = SsoConfig(pg_dsn="", redis_url="")
    throttle = defaults.login_throttle(None)

    def in_an_hour(free: int) -> int:
        failures, elapsed, over = free, 0.0, 0
        while elapsed < 3600:
            over += 1
            failures += 1  # the attempt that passes when the previous wait is over
            elapsed += throttle.delay_s(over)
        return failures

    one_address = in_an_hour(defaults.failed_logins_per_account_address)
    few_addresses = (SPREAD - 1) * one_address
    spread = in_an_hour(defaults.failed_logins_per_account)
    print(f"\nfailed logins an hour on one account: {one_address} from one address, {few_addresses} from "
          f"{SPREAD - 1}, {spread} from {SPREAD} or more")  # fmt: skip
    assert max(one_address, few_addresses, spread) <= 100
    assert [throttle.delay_s(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0] and throttle.delay_s(50) == 120.0


# -- no timing tell for names ------------------------------------------------------------------


class RecordingHasher(PasswordHasher):
    """A real argon2 hasher (the work is done) that records each call and the parameters it ran with."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, Any]] = []
        self._lock = threading.Lock()  # called from sso's hashing threads

    def _record(self, what: str, params: Any) -> None:
        with self._lock:
            self.calls.append((what, params))

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        hashed = super().hash(password, salt=salt)
        self._record("hash", extract_parameters(hashed))
        return hashed

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self._record("verify", extract_parameters(hash if isinstance(hash, str) else hash.decode()))
        return super().verify(hash, password)

    def take(self) -> list[tuple[str, Any]]:
        with self._lock:
            calls, self.calls = self.calls, []
        return calls


def recording(service: SsoService, profile: str) -> RecordingHasher:
    """Give `service` a recording hasher with its own profile's parameters; its dummy hash stays its own."""
    p = PROFILES[profile]
    hasher = RecordingHasher(time_cost=p.time_cost, memory_cost=p.memory_kib, parallelism=p.parallelism)
    service.passwords._hasher = hasher
    return hasher


def test_a_wrong_password_costs_the_same_argon2_work_whether_or_not_the_name_exists(data_tier: DataTier) -> None:
    # Production parameters: the dummy hash must match what real accounts are hashed with.
    service = SsoService(sso_config(data_tier, hash_profile="production", failed_logins_per_account=1000))
    with running(service) as sso:
        client = sso.proxy().with_options(timeout=30)
        existing = fresh("exists")
        client.register(user=existing, passwd="the right password")
        guest = client.guest_login(device_id=f"device-{fresh('guest')}-0123456789").account.display_name
        hasher = recording(service, "production")
        work = {}
        for label, user in (("existing", existing), ("missing", fresh("nobody")), ("guest", guest)):
            with pytest.raises(SsoError) as raised:
                client.login(user=user, passwd="a wrong password")
            assert raised.value.code == WRONG
            work[label] = hasher.take()
        assert [what for what, _ in work["existing"]] == ["verify"], work
        assert work["existing"] == work["missing"] == work["guest"], work
        (_, params) = work["existing"][0]
        assert (params.memory_cost, params.time_cost, params.parallelism) == (19 * 1024, 2, 1)
        print_timing(client, existing)


def print_timing(client: Any, existing: str, rounds: int = 15) -> None:
    """Wall-clock medians of wrong-password logins, interleaved; printed, never asserted."""
    samples: dict[str, list[float]] = {"existing": [], "missing": []}
    for _ in range(rounds):
        for label in ("existing", "missing"):
            user = existing if label == "existing" else fresh("nobody")
            started = time.perf_counter()
            with pytest.raises(SsoError):
                client.login(user=user, passwd="a wrong password")
            samples[label].append(time.perf_counter() - started)
    med = {label: statistics.median(values) * 1000 for label, values in samples.items()}
    spread = {label: statistics.pstdev(values) * 1000 for label, values in samples.items()}
    print(
        f"\nwrong password, {rounds} logins each (production argon2id): existing user median "
        f"{med['existing']:.1f} ms (sd {spread['existing']:.1f}), missing user median {med['missing']:.1f} ms "
        f"(sd {spread['missing']:.1f}), ratio {med['existing'] / med['missing']:.3f}"
    )
