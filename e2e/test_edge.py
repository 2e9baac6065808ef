"""Game client -> brokerlist -> broker -> sso, for real."""

from __future__ import annotations

import itertools
import os

import pytest

from hn_client import BrokerRejected, GameClient
from hn_client.testing import RawClient
from hn_datatier.local import DataTier
from hn_idl.client.ttypes import ClientError
from hn_idl.sso.ttypes import SsoError, SsoErrorCode
from hn_runtime.testing import capture_logs, wait_for

from _platform import Platform, platform_on

_names = itertools.count()


def fresh() -> str:
    return f"e2e{os.getpid() % 1000}x{next(_names)}"


def test_register_login_logout_through_the_edge(platform: Platform) -> None:
    client = GameClient(platform.brokerlist_url).connect()
    name = fresh()
    login = client.register(name, "password1")
    assert login.account.display_name == name and login.token.startswith(f"{login.account.account_id}.")
    with pytest.raises(SsoError) as wrong:
        client.call("sso.login", user=name, passwd="not the password")
    assert wrong.value.code == SsoErrorCode.WRONG_CREDENTIALS, "declared exceptions arrive as themselves"
    client.logout()
    client.close()


def test_a_renamed_method_answers_its_old_name(platform: Platform) -> None:
    """A game client built before `sso.register` became `sso.create_account` sends the old
    message type with the old struct: the broker routes it and sso serves it (IDL `RENAMED`)."""
    address = platform.brokers[0].endpoints["client"]
    old = RawClient(address)
    name = fresh()
    login = old.call("sso.register", user=name, passwd="password1")  # register_args: same field ids
    assert login.account.display_name == name
    assert old.call("sso.login", user=name, passwd="password1").account == login.account
    old.close()


def test_before_login_only_login_messages_pass(platform: Platform) -> None:
    client = GameClient(platform.brokerlist_url).connect()
    with pytest.raises(BrokerRejected) as refused:
        client.call("sso.logout", token="0" * 64)
    assert refused.value.code == ClientError.UNAUTHENTICATED and refused.value.trace_id
    with pytest.raises(BrokerRejected) as unknown:
        client.call("sso.validate", token="0" * 64)
    assert unknown.value.code == ClientError.UNKNOWN_MESSAGE, "service-only methods are not client messages"
    client.guest_login(f"device-{fresh()}")
    client.call("sso.logout", token=client.token)
    client.close()


def test_a_sampled_request_is_logged_by_every_hop_under_one_trace_id(data_tier: DataTier) -> None:
    with platform_on(data_tier, trace_sample=1.0) as platform, capture_logs() as logs:
        client = GameClient(platform.brokerlist_url).connect()
        client.guest_login(f"device-{fresh()}")
        client.close()
        hop = wait_for(
            lambda: [e for e in logs if e["event"] == "packet" and e.get("type") == "sso.guest_login"],
            message="the broker's line",
        )[0]
        handled = [e for e in logs if e["event"] == "handled" and e.get("trace_id") == hop["trace_id"]]
    assert [e["method"] for e in handled] == ["guest_login"], "sso logged the same trace"
    assert hop["outcome"] == "ok" and handled[0]["outcome"] == "ok"
    assert hop["duration_ms"] >= handled[0]["duration_ms"], "the edge's time includes the service's"
