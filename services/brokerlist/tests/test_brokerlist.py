"""brokerlist's HTTP answer, fed by a directory (yellow in production, a static one here)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from hn_brokerlist import BrokerlistService
from hn_idl.broker.constants import PROTOCOL_VERSION
from hn_runtime.discovery import Instance, StaticDirectory
from hn_runtime.testing import running


def broker(n: int, load: float, state: str = "up", client: bool = True) -> Instance:
    endpoints = {"rep": f"tcp://10.0.0.{n}:7000"}
    if client:
        endpoints["client"] = f"ec2-54-208-53-{n}.compute-1.amazonaws.com:1055"
    return Instance("broker", f"broker-{n}", endpoints, "0.1.0", load, state)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
            return response.status, dict(response.headers), json.loads(body) if body else None
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), None


@pytest.fixture
def directory() -> StaticDirectory:
    return StaticDirectory({"broker": [broker(1, 0.067), broker(2, 0.0418)]})


def test_the_talks_document_shape(directory: StaticDirectory) -> None:
    with running(BrokerlistService(directory=directory)) as svc:
        base = f"http://{svc.endpoints['http']}"
        for path in ("/", "/v1/brokers"):
            status, headers, body = get(base + path)
            assert status == 200 and headers["Content-Type"] == "application/json"
            assert body == {
                "version": PROTOCOL_VERSION,
                "brokerList": {
                    "ec2-54-208-53-1.compute-1.amazonaws.com:1055": 0.067,
                    "ec2-54-208-53-2.compute-1.amazonaws.com:1055": 0.0418,
                },
            }
            assert isinstance(body["brokerList"]["ec2-54-208-53-2.compute-1.amazonaws.com:1055"], float)


def test_only_live_brokers_with_a_client_address_are_listed(directory: StaticDirectory) -> None:
    with running(BrokerlistService(directory=directory)) as svc:
        directory.set(
            "broker",
            [
                broker(1, 0.5),
                broker(2, 0.1, state="draining"),
                broker(3, 0.2, state="down"),
                broker(4, 0.0, client=False),
            ],
        )
        _, _, body = get(f"http://{svc.endpoints['http']}/")
        assert list(body["brokerList"]) == ["ec2-54-208-53-1.compute-1.amazonaws.com:1055"]
        directory.set("broker", [])
        assert get(f"http://{svc.endpoints['http']}/")[2] == {"version": PROTOCOL_VERSION, "brokerList": {}}


def test_cache_headers_and_conditional_requests(directory: StaticDirectory) -> None:
    with running(BrokerlistService(directory=directory)) as svc:
        url = f"http://{svc.endpoints['http']}/"
        status, headers, _ = get(url)
        assert "max-age" in headers["Cache-Control"] and headers["ETag"]
        assert get(url, {"If-None-Match": headers["ETag"]})[0] == 304
        directory.set("broker", [broker(9, 0.3)])
        status, changed, body = get(url, {"If-None-Match": headers["ETag"]})
        assert status == 200 and changed["ETag"] != headers["ETag"] and len(body["brokerList"]) == 1


def test_health_and_unknown_paths(directory: StaticDirectory) -> None:
    with running(BrokerlistService(directory=directory)) as svc:
        base = f"http://{svc.endpoints['http']}"
        assert urllib.request.urlopen(base + "/healthz", timeout=10).status == 200
        assert get(base + "/nope")[0] == 404


def test_the_seed_document_is_byte_for_byte_the_seeds(directory: StaticDirectory) -> None:
    """Brokers that register their schemes too leave `GET /` exactly as it was."""
    with_schemes = [broker(1, 0.067), broker(2, 0.0418)]
    for b in with_schemes:
        b.endpoints.update(tcp=b.endpoints["client"], ws=f"ws://{b.endpoints['client'].split(':')[0]}:1056/")
    directory.set("broker", with_schemes)
    with running(BrokerlistService(directory=directory)) as svc:
        with urllib.request.urlopen(f"http://{svc.endpoints['http']}/", timeout=10) as response:
            assert response.read() == (
                b'{"version":"0.1.0","brokerList":{"ec2-54-208-53-1.compute-1.amazonaws.com:1055":0.067,'
                b'"ec2-54-208-53-2.compute-1.amazonaws.com:1055":0.0418}}'
            )


def test_the_schemes_document_lists_each_brokers_endpoints(directory: StaticDirectory) -> None:
    plain, secure, old = broker(1, 0.5), broker(2, 0.25), broker(3, 0.125)
    plain.endpoints.update(tcp="b1:1055", ws="ws://b1:1056/")
    secure.endpoints.update(tls="b2:1055", wss="wss://b2:1056/")
    directory.set("broker", [plain, secure, old, broker(4, 0.0, state="draining")])
    with running(BrokerlistService(directory=directory)) as svc:
        status, headers, body = get(f"http://{svc.endpoints['http']}/v2/brokers")
        assert status == 200 and headers["Content-Type"] == "application/json" and headers["ETag"]
        assert headers["Access-Control-Allow-Origin"] == "*", "browsers read it from a game's page"
        host = "ec2-54-208-53-{}.compute-1.amazonaws.com:1055"
        assert body == {
            "version": PROTOCOL_VERSION,
            "brokers": [
                {"address": host.format(1), "load": 0.5, "endpoints": {"tcp": "b1:1055", "ws": "ws://b1:1056/"}},
                {"address": host.format(2), "load": 0.25, "endpoints": {"tls": "b2:1055", "wss": "wss://b2:1056/"}},
                # A broker that registers no schemes (an older release) is listed by its address.
                {"address": host.format(3), "load": 0.125, "endpoints": {}},
            ],
        }
        # Each document has its own ETag.
        assert headers["ETag"] != get(f"http://{svc.endpoints['http']}/")[1]["ETag"]
        assert get(f"http://{svc.endpoints['http']}/v2/brokers", {"If-None-Match": headers["ETag"]})[0] == 304
