"""Game client -> brokerlist -> broker -> sso, for real."""

from __future__ import annotations

import itertools
import os

import pytest
from hn_client import BrokerRejected, GameClient

from hn_idl.client.ttypes import ClientError
from hn_idl.sso.ttypes import SsoError, SsoErrorCode

from _platform import Platform

_names = itertools.count()


def fresh() -> str:
    return f"e2e{os.getpid() % 1000}x{next(_names)}"


def test_register_login_logout_through_the_edge(platform: Platform) -> None:
    client = GameClient(platform.brokerlist_url).connect()
    name = fresh()
    login = client.register(name, "password1")
    assert login.account.display_name == name and len(login.token) == 64
    with pytest.raises(SsoError) as wrong:
        client.call("sso.login", user=name, passwd="not the password")
    assert wrong.value.code == SsoErrorCode.WRONG_CREDENTIALS, "declared exceptions arrive as themselves"
    client.logout()
    client.close()


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
