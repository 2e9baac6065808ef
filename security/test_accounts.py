"""Attacks on players' accounts through a real broker (issue 16), each from an address of its own.

A victim's device id alone upgrades no guest; wrong passwords slow the guesser down and never lock
the owner out; one address makes only so many accounts; control characters are INVALID_INPUT.
sso runs with production's throttle and account-creation rules (the e2e platform raises the
latter, for its players who all come from 127.0.0.1). What each attack would have changed is read
from PostgreSQL and Redis directly.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from hn_client.testing import RawClient, fresh_name
from hn_datatier.local import DataTier
from hn_idl.client.ttypes import Packet
from hn_idl.sso.ttypes import SsoError, SsoErrorCode
from hn_runtime.testing import time_factor, wait_for

from _attacker import account, accounts_named, connect, devices_named, fresh_address, registered, token_of
from _platform import Platform, platform_on

pytestmark = pytest.mark.security

#: accounts one address may make per window (production's is 20: smaller keeps the test short)
CREATIONS = 5
#: failures one address gets free on one account (production's)
FREE_GUESSES = 3
_devices = itertools.count()


@pytest.fixture(scope="module")
def platform(data_tier: DataTier) -> Iterator[Platform]:
    sso = dict(
        account_creations_per_address=CREATIONS,
        failed_logins_per_account_address=FREE_GUESSES,
        login_delay_base_s=1.0,
        login_delay_max_s=120.0,
    )
    with platform_on(data_tier, sso_options=sso) as p:
        yield p


def device() -> str:
    return f"sec-device-{os.getpid()}-{next(_devices)}-0123456789abcdef"


def code(answer: Any) -> int | str:
    """An answer's SsoError code, or "ok"."""
    assert not isinstance(answer, Packet), answer  # the broker's own error: not what is tested
    return answer.code if isinstance(answer, SsoError) else "ok"


def test_a_victims_device_id_alone_upgrades_no_one(platform: Platform) -> None:
    """The attack: registering with a victim guest's device id upgraded the victim's account to the
    attacker's name and password, and the victim's next guest login landed in it."""
    victims_device = device()
    victim = connect(platform)
    victim_id = victim.guest_login(victims_device).account_id
    before = account(platform.tier, victim_id)
    token = token_of(platform.tier, victim_id)
    name = fresh_name("thief")
    attacker = connect(platform)
    as_stranger = attacker.call("sso.register", user=name, passwd="attackers password", device_id=victims_device)
    assert code(as_stranger) == SsoErrorCode.NOT_YOUR_DEVICE
    # Nor from a guest session of its own: only the victim's own session upgrades the victim.
    attacker.guest_login(device())
    as_guest = attacker.call("sso.register", user=name, passwd="attackers password", device_id=victims_device)
    assert code(as_guest) == SsoErrorCode.NOT_YOUR_DEVICE
    assert account(platform.tier, victim_id) == before, "the victim's account untouched"
    assert accounts_named(platform.tier, name) == 0 and token_of(platform.tier, victim_id) == token
    victim.ping()  # still served
    attacker.close()
    victim.close()
    again = connect(platform)
    assert again.guest_login(victims_device).account_id == victim_id and again.account.guest
    again.close()


def test_wrong_passwords_slow_the_guesser_and_never_lock_the_owner_out(platform: Platform) -> None:
    """The attack: five wrong passwords locked the account for 15 minutes, right password included."""
    owner, name = registered(platform, passwd="the owner's password")
    owner_id = owner.account.account_id
    owner.close()
    before = account(platform.tier, owner_id)
    guesser = connect(platform)
    guesses = [code(guesser.call("sso.login", user=name, passwd=f"guess {n}")) for n in range(FREE_GUESSES + 1)]
    assert guesses == [SsoErrorCode.WRONG_CREDENTIALS] * (FREE_GUESSES + 1), "the free guesses, then one judged"
    waits = []
    for _ in range(2):
        refused = guesser.call("sso.login", user=name, passwd="the owner's password")  # even the right one
        assert code(refused) == SsoErrorCode.RATE_LIMITED and refused.retry_after_s > 0, refused
        waits.append(refused.retry_after_s)
        # Refused polls meanwhile are not counted (or the wait would grow with them).
        wait_for(
            lambda: code(guesser.call("sso.login", user=name, passwd="wrong")) == SsoErrorCode.WRONG_CREDENTIALS,
            timeout=10 * time_factor(),
            interval=0.2,
            message="the wait over, one more guess judged",
        )
    assert waits[1] > waits[0], f"each judged failure makes the next wait longer: {waits}"
    # Meanwhile the owner gets in, from a new address and from the one it used.
    for source in (fresh_address(), fresh_address()):
        owner = connect(platform, source)
        assert code(owner.call("sso.login", user=name, passwd="the owner's password")) == "ok"
        owner.close()
    assert code(guesser.call("sso.login", user=name, passwd="guess again")) == SsoErrorCode.RATE_LIMITED
    after = account(platform.tier, owner_id)
    assert after == before, "the password and the account untouched"
    guesser.close()


def test_one_address_makes_only_so_many_accounts(platform: Platform) -> None:
    """The attack: 300 guest accounts and 60 registrations from one address in about 2 s."""
    attacker_address = fresh_address()
    prefix = f"sec-flood-{os.getpid()}-{next(_devices)}-"
    answers = []
    for n in range(CREATIONS + 3):
        client = connect(platform, attacker_address)
        answers.append(client.call("sso.guest_login", device_id=f"{prefix}{n}-0123456789abcdef"))
        client.close()
    assert [code(a) for a in answers] == ["ok"] * CREATIONS + [SsoErrorCode.RATE_LIMITED] * 3
    assert all(0 < a.retry_after_s <= 3600 for a in answers[CREATIONS:])
    name = fresh_name("flood")
    registering = connect(platform, attacker_address)
    assert code(registering.call("sso.register", user=name, passwd="password1")) == SsoErrorCode.RATE_LIMITED
    registering.close()
    assert devices_named(platform.tier, f"{prefix}%") == CREATIONS, "no account past the limit"
    assert accounts_named(platform.tier, name) == 0
    # Another address is not held back.
    other = connect(platform)
    assert code(other.call("sso.guest_login", device_id=f"{prefix}elsewhere-0123456789abcdef")) == "ok"
    other.close()


CONTROLS = ["nul\x00name", "new\nline", "tab\tname", "del\x7fname", "c1\x85name", f"trailing{os.getpid()}\n"]


def internal_errors() -> float:
    return sum(
        REGISTRY.get_sample_value("hn_requests_total", {"service": "sso", "method": m, "outcome": "internal"}) or 0.0
        for m in ("create_account", "login", "guest_login")
    )


@pytest.mark.parametrize("text", CONTROLS, ids=lambda t: repr(t)[1:-1])
def test_control_characters_are_invalid_input_never_internal(platform: Platform, text: str) -> None:
    """The attack: a NUL byte in a login name gave INTERNAL and a full traceback per request."""
    before = internal_errors()
    client: RawClient = connect(platform)
    calls: list[tuple[str, dict[str, str]]] = [
        ("sso.register", {"user": text, "passwd": "password1"}),
        ("sso.register", {"user": fresh_name("ctl"), "passwd": f"pass{text}word"}),
        ("sso.login", {"user": text, "passwd": "password1"}),
        ("sso.login", {"user": "anyone", "passwd": f"pass{text}word"}),
        ("sso.guest_login", {"device_id": f"{device()}{text}"}),
    ]
    for method, arguments in calls:
        answer = client.call(method, **arguments)
        assert code(answer) == SsoErrorCode.INVALID_INPUT and answer.message, (method, arguments, answer)
    assert internal_errors() == before
    # PostgreSQL takes no NUL even in a query: "_" (any one character) stands for each control.
    pattern = "".join("_" if ord(c) < 32 or 127 <= ord(c) < 160 else c for c in text)
    assert accounts_named(platform.tier, f"%{pattern}%") == 0 and devices_named(platform.tier, f"%{pattern}%") == 0
    client.ping()  # the connection is served on
    client.close()
