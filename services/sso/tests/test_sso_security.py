"""sso against password guessing: limits shared by every instance, and no timing tell for names.

Two sso instances share the data tier: one in this process, one a real `python -m hn_sso`
process. Guesses spread over both hit one limit, because the counters live in Redis (behind
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
from hn_runtime.testing import ServiceProcess, running, spawn_service
from hn_runtime.wire import decode, encode
from hn_sso import SsoService
from hn_sso._passwords import PROFILES

from _sso_support import fresh, sso_config

WRONG = SsoErrorCode.WRONG_CREDENTIALS
LIMITED = SsoErrorCode.RATE_LIMITED
PER_ACCOUNT = 4
PER_ADDRESS = 6


# -- two instances sharing Redis --------------------------------------------------------------


@pytest.fixture
def sso_process(data_tier: DataTier) -> Iterator[ServiceProcess]:
    env = {
        **data_tier.env,
        "HN_SSO_HASH_PROFILE": "test",
        "HN_SSO_FAILED_LOGINS_PER_ACCOUNT": str(PER_ACCOUNT),
        "HN_SSO_FAILED_LOGINS_PER_ADDRESS": str(PER_ADDRESS),
    }
    with spawn_service("hn_sso", service="sso", env=env) as proc:
        yield proc


def limited_config(tier: DataTier) -> Any:
    return sso_config(tier, failed_logins_per_account=PER_ACCOUNT, failed_logins_per_address=PER_ADDRESS)


def _proxy(proc: ServiceProcess) -> Any:
    return get_service(Sso, endpoints=[proc.endpoints["rep"]])


def login(proxy: Any, user: str, passwd: str, *, address: str | None = None) -> int | str:
    """The outcome of one login through `proxy`: "ok" or the SsoError code.

    `address` is the client address a broker would stamp on the envelope.
    """
    method = proxy.idl.methods["login"]
    body = encode(method.args_cls(user=user, passwd=passwd), method.args_spec)
    result = decode(proxy.forward(method, body, client=address).body, method.result_spec)
    if result.error is not None:
        return result.error.code  # type: ignore[no-any-return]
    assert result.success is not None and result.success.token
    return "ok"


def test_guesses_spread_over_two_instances_hit_one_account_limit(
    data_tier: DataTier, sso_process: ServiceProcess
) -> None:
    with running(SsoService(limited_config(data_tier))) as here:
        instances = [here.proxy(), _proxy(sso_process)]
        name = fresh("target")
        here.proxy().register(user=name, passwd="the right password")
        # Alternate instances: each sees only half of the guesses, both count all of them.
        outcomes = [login(instances[n % 2], name, f"guess {n}") for n in range(PER_ACCOUNT)]
        assert outcomes == [WRONG] * PER_ACCOUNT
        # Now the right password is refused everywhere until the window ends.
        for proxy in instances:
            assert login(proxy, name, "the right password") == LIMITED
        with pytest.raises(SsoError) as limited:
            instances[1].login(user=name, passwd="the right password")
        assert limited.value.code == LIMITED and limited.value.retry_after_s > 0


def test_one_address_spraying_many_accounts_over_two_instances_hits_the_address_limit(
    data_tier: DataTier, sso_process: ServiceProcess
) -> None:
    attacker, bystander = "198.51.100.7:40000", "203.0.113.9:50000"
    with running(SsoService(limited_config(data_tier))) as here:
        instances = [here.proxy(), _proxy(sso_process)]
        victim = fresh("victim")
        here.proxy().register(user=victim, passwd="victim password")
        # One guess per name (never near the per-account limit), alternating instances.
        outcomes = [login(instances[n % 2], fresh("sprayed"), "123456", address=attacker) for n in range(PER_ADDRESS)]
        assert outcomes == [WRONG] * PER_ADDRESS
        for proxy in instances:
            assert login(proxy, fresh("sprayed"), "123456", address=attacker) == LIMITED
            # Even a right password from that address waits...
            assert login(proxy, victim, "victim password", address=attacker) == LIMITED
        # ...while the owner, elsewhere, logs in on either instance.
        assert [login(proxy, victim, "victim password", address=bystander) for proxy in instances] == ["ok", "ok"]


def test_parallel_guesses_do_not_get_past_the_account_limit(data_tier: DataTier, sso_process: ServiceProcess) -> None:
    with running(SsoService(limited_config(data_tier))) as here:
        instances = [here.proxy().with_options(timeout=30), _proxy(sso_process).with_options(timeout=30)]
        name = fresh("parallel")
        here.proxy().register(user=name, passwd="the right password")
        outcomes: list[int | str] = []

        def guess(n: int) -> None:
            outcomes.append(login(instances[n % 2], name, f"parallel guess {n}"))

        gevent.joinall([gevent.spawn(guess, n) for n in range(40)], raise_error=True)
        verified = outcomes.count(WRONG)
        print(
            f"\n40 parallel guesses over 2 instances, limit {PER_ACCOUNT}: {verified} checked, "
            f"{outcomes.count(LIMITED)} refused as rate limited"
        )
        assert verified <= PER_ACCOUNT


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
