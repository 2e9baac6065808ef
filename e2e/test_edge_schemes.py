"""Every scheme of the edge end to end: players on TCP, WebSocket, TLS and wss log in as guests
and call match through brokers registered in yellow, found through brokerlist's documents; the
Python SDK over TLS with the local CA."""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hn_broker import LocalCa, make_local_ca
from hn_client import ConnectionLost, GameClient
from hn_client.testing import RawClient, fresh_name
from hn_datatier.local import DataTier
from hn_idl.match.ttypes import QueueState

from _platform import Platform, platform_on


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCa:
    return make_local_ca(str(tmp_path_factory.mktemp("tls")))


@pytest.fixture
def plain(data_tier: DataTier) -> Iterator[Platform]:
    with platform_on(data_tier, matches=1, ws_port=0) as p:
        yield p


@pytest.fixture
def secure(data_tier: DataTier, ca: LocalCa) -> Iterator[Platform]:
    with platform_on(data_tier, matches=1, ws_port=0, tls_cert=ca.cert_file, tls_key=ca.key_file) as p:
        yield p


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def _play(client: RawClient) -> None:
    """A guest login, then a match call under the session the broker stamps."""
    account = client.guest_login()
    assert account.account_id > 0
    assert client.call("match.status").state == QueueState.IDLE
    assert client.call("match.enqueue", mode="duel").state == QueueState.QUEUED
    assert client.call("match.cancel").state == QueueState.IDLE
    client.close()


def test_plain_brokers_serve_tcp_and_websocket(plain: Platform) -> None:
    (entry,) = _get(plain.brokerlist_url + "v2/brokers")["brokers"]
    assert set(entry["endpoints"]) == {"tcp", "ws"}
    seed = _get(plain.brokerlist_url)
    assert seed == {"version": seed["version"], "brokerList": {entry["address"]: entry["load"]}}
    assert entry["endpoints"]["tcp"] == entry["address"]
    for scheme in ("tcp", "ws"):
        _play(RawClient(entry["endpoints"][scheme]))


def test_tls_brokers_serve_tls_and_wss_to_clients_that_trust_the_ca(secure: Platform, ca: LocalCa) -> None:
    (entry,) = _get(secure.brokerlist_url + "v2/brokers")["brokers"]
    assert set(entry["endpoints"]) == {"tls", "wss"}
    assert list(_get(secure.brokerlist_url)["brokerList"]) == [entry["endpoints"]["tls"]]
    trusting = ssl.create_default_context(cafile=ca.ca_file)
    for scheme in ("tls", "wss"):
        _play(RawClient(entry["endpoints"][scheme], tls=trusting))


def test_the_sdk_speaks_tls_with_a_ca_file(secure: Platform, ca: LocalCa) -> None:
    client = GameClient(secure.brokerlist_url, ca_file=ca.ca_file).connect()
    login = client.guest_login(f"device-{fresh_name()}")
    assert login.token
    assert client.call("match.enqueue", mode="duel").state == QueueState.QUEUED
    assert client.call("match.cancel").state == QueueState.IDLE
    client.close()
    # Without the CA the broker's certificate is not trusted: no broker to be had.
    with pytest.raises(ConnectionLost, match="CERTIFICATE_VERIFY_FAILED"):
        GameClient(secure.brokerlist_url, tls=True).connect()
    assert Path(ca.ca_file).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
