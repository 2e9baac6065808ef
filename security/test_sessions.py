"""Sessions that end everywhere: one session per account across brokers, and a logout or a password
change reaching the connection that holds the session, on whichever broker it is.

Two brokers share the data tier. The attacks these answer: a login on the other broker left the
first connection open and served; logging out a token left a live connection that used it served.
A connection whose session ends is told why (ClientError SESSION_ENDED or LOGGED_IN_ELSEWHERE)
and closed within a heartbeat (a second, times the machine's time factor).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from hn_client import GameClient, SessionEnded
from hn_client.testing import RawClient, fresh_name
from hn_datatier.local import DataTier
from hn_idl.broker.ttypes import BrokerError
from hn_idl.client.ttypes import ClientError, Packet, PacketKind
from hn_idl.sso.ttypes import SsoError, SsoErrorCode
from hn_runtime.testing import time_factor, wait_for

from _platform import Platform, platform_on

pytestmark = [pytest.mark.integration, pytest.mark.security]

#: the broker's word to the first connection comes within a heartbeat of the second login
HEARTBEAT_S = 1.0


@pytest.fixture(scope="module")
def platform(data_tier: DataTier) -> Iterator[Platform]:
    with platform_on(data_tier, brokers=2) as platform:
        yield platform


def brokers(platform: Platform) -> tuple[str, str]:
    first, second = (broker.endpoints["client"] for broker in platform.brokers)
    return first, second


def registered(address: str) -> tuple[RawClient, str, Any]:
    """A new account logged in on the broker at `address`: (its connection, its name, the Login)."""
    client = RawClient(address)
    name = fresh_name("sess")
    login = client.call("sso.register", user=name, passwd="password1")
    assert hasattr(login, "token"), login
    client.account, client.token = login.account, login.token
    return client, name, login


def ended_within_a_heartbeat(client: RawClient, code: int, since: float) -> Packet:
    """The error the broker told `client`, which it then closed, within a heartbeat of `since`."""
    told = client.read_answer()
    assert (told.kind, told.seq, told.error_code) == (PacketKind.ERROR, 0, code), told
    assert client.closed(), "closed after telling"
    elapsed = time.monotonic() - since
    assert elapsed < HEARTBEAT_S * time_factor(), f"{elapsed:.2f}s"
    return told


def served(client: RawClient) -> bool:
    """A session-only request gets sso's own answer (to a wrong old password; slowed down after a
    few), not the broker's UNAUTHENTICATED."""
    answer = client.call("sso.change_password", old_passwd="not the password", new_passwd="whatever123")
    return isinstance(answer, SsoError) and answer.code in (SsoErrorCode.WRONG_CREDENTIALS, SsoErrorCode.RATE_LIMITED)


def test_a_login_on_the_other_broker_closes_the_first_connection(platform: Platform) -> None:
    a, b = brokers(platform)
    first, name, _ = registered(a)
    assert served(first)
    second = RawClient(b)
    assert hasattr(second.call("sso.login", user=name, passwd="password1"), "token")
    told = ended_within_a_heartbeat(first, ClientError.LOGGED_IN_ELSEWHERE, time.monotonic())
    assert told.error_message and told.trace_id
    assert served(second)

    # And back: a third login on the first broker ends the second connection, and only that one
    # (broker B's word to broker A, "end your older connection", must not end the newer one there).
    third = RawClient(a)
    assert hasattr(third.call("sso.login", user=name, passwd="password1"), "token")
    ended_within_a_heartbeat(second, ClientError.LOGGED_IN_ELSEWHERE, time.monotonic())
    assert served(third)
    third.ping()
    third.close()


def test_a_resume_on_the_other_broker_ends_the_first_connection(platform: Platform) -> None:
    a, b = brokers(platform)
    first, _, login = registered(a)
    elsewhere = RawClient(b)
    resumed = elsewhere.call("broker.resume", token=login.token)
    assert resumed.account_id == login.account.account_id
    ended_within_a_heartbeat(first, ClientError.LOGGED_IN_ELSEWHERE, time.monotonic())
    assert served(elsewhere)
    elsewhere.close()


def test_a_token_logged_out_from_elsewhere_closes_the_connection_that_used_it(platform: Platform) -> None:
    a, b = brokers(platform)
    player, _, login = registered(a)
    other, _, _ = registered(b)
    # Anyone holding the token may log it out (the player's other device, a web page through a
    # service): the connection it opened is told and closed, wherever it is.
    assert other.call("sso.logout", token=login.token) is None
    ended_within_a_heartbeat(player, ClientError.SESSION_ENDED, time.monotonic())
    refused = RawClient(b).call("broker.resume", token=login.token)
    assert isinstance(refused, BrokerError) and refused.code == ClientError.UNAUTHENTICATED
    other.close()


def test_logging_out_ones_own_session_answers_and_keeps_the_connection(platform: Platform) -> None:
    a, _ = brokers(platform)
    player, _, login = registered(a)
    assert player.call("sso.logout", token=login.token) is None
    unauthenticated = player.call("sso.change_password", old_passwd="password1", new_passwd="password2")
    assert isinstance(unauthenticated, Packet) and unauthenticated.error_code == ClientError.UNAUTHENTICATED
    player.ping()  # still connected: it may log in again
    assert hasattr(player.call("sso.guest_login", device_id=f"device-{fresh_name()}"), "token")
    player.close()


def test_a_password_change_keeps_the_session_and_kills_the_old_token(platform: Platform) -> None:
    a, b = brokers(platform)
    player, name, login = registered(a)
    changed = player.call("sso.change_password", old_passwd="password1", new_passwd="new password")
    assert changed.token != login.token and changed.account == login.account
    assert served(player), "the connection that changed it goes on"
    refused = RawClient(b).call("broker.resume", token=login.token)
    assert isinstance(refused, BrokerError) and refused.code == ClientError.UNAUTHENTICATED
    wrong = RawClient(b).call("sso.login", user=name, passwd="password1")
    assert isinstance(wrong, SsoError) and wrong.code == SsoErrorCode.WRONG_CREDENTIALS
    player.close()


def test_the_sdk_stops_reconnecting_and_reports_a_session_ended_elsewhere(platform: Platform) -> None:
    client = GameClient(platform.brokerlist_url).connect()
    name = fresh_name("sdk")
    client.register(name, "password1")
    told: list[SessionEnded] = []
    client.on("broker.SessionEnded", told.append)
    assert client.connection is not None
    other = next(address for address in brokers(platform) if address != client.connection.address)
    assert hasattr(RawClient(other).call("sso.login", user=name, passwd="password1"), "token")

    wait_for(lambda: told, timeout=HEARTBEAT_S, message="the SDK told its session ended")
    assert told[0].code == ClientError.LOGGED_IN_ELSEWHERE and client.ended is told[0]
    wait_for(lambda: client.connection is not None and client.connection.closed, message="the connection closed")
    with pytest.raises(SessionEnded):
        client.call("sso.change_password", old_passwd="password1", new_passwd="password2")
    assert client.resumes == 0 and client.token is None, "it did not resume the session it lost"
    # Logging in again is the way back.
    client.login(name, "password1")
    assert client.ended is None
    assert client.call("sso.logout", token=client.token) is None
    client.close()
