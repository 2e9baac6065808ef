"""CURVE keys travel through yellow: a provider registers its public key, consumers connect with it.

Yellow itself can run with CURVE: its clients know its key (HN_YELLOW_CURVE_KEY), and every other
key comes from the registrations.
"""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from hn_idl.yellow.ttypes import InstanceInfo, InvalidRegistration
from hn_runtime import get_service
from hn_runtime.curve import CurveConfig, CurveKeys
from hn_runtime.discovery import Instance
from hn_runtime.testing import running, wait_for
from hn_runtime.testing.echo import EchoService
from hn_yellow._registry import Registry
from hn_yellow._service import YellowService
from hn_yellow_client import YellowDiscovery, discovery_from_env

YELLOW = CurveKeys.generate()
ECHO = CurveKeys.generate()
CONSUMER = CurveKeys.generate()


def registration(**kw: object) -> InstanceInfo:
    fields: dict[str, object] = dict(
        service_name="a", instance_id="a-1", endpoints={"rep": "tcp://h:1"}, version="1", load=0.0, state="up", beat=1
    )
    fields.update(kw)
    return InstanceInfo(**fields)  # type: ignore[arg-type]


def test_a_key_change_is_news_and_a_malformed_key_is_refused() -> None:
    registry = Registry(server_id="y1")
    assert registry.heartbeat(registration(beat=1)) is not None
    assert registry.heartbeat(registration(beat=2)) is None
    rotated = registry.heartbeat(registration(beat=3, curve_public_key=ECHO.public))
    assert rotated is not None and rotated.instance.curve_public_key == ECHO.public
    with pytest.raises(InvalidRegistration, match="Z85"):
        registry.heartbeat(registration(beat=4, curve_public_key="short"))


def test_discovery_from_env_reads_yellows_key() -> None:
    disc = discovery_from_env({"HN_YELLOW": "tcp://127.0.0.1:1", "HN_YELLOW_CURVE_KEY": YELLOW.public})
    assert disc is not None and disc.curve_server_key == YELLOW.public
    disc.directory.close()
    plain = discovery_from_env({"HN_YELLOW": "tcp://127.0.0.1:1"})
    assert plain is not None and plain.curve_server_key is None
    plain.directory.close()


def test_a_curve_service_is_found_through_a_curve_yellow_and_called_encrypted() -> None:
    allowed_by_yellow = frozenset({ECHO.public, CONSUMER.public})
    with running(YellowService(), curve=CurveConfig(YELLOW, allowed=allowed_by_yellow)) as yellow:
        address = [yellow.endpoints["rep"]]
        provider = YellowDiscovery(address, curve_server_key=YELLOW.public, curve_keys=ECHO)
        consumer = YellowDiscovery(address, curve_server_key=YELLOW.public, curve_keys=CONSUMER)
        try:
            echo_curve = CurveConfig(ECHO, allowed=frozenset({CONSUMER.public}))
            with running(EchoService(), discovery=provider, curve=echo_curve) as echo:

                def found() -> list[Instance]:
                    return [i for i in consumer.directory.instances("echo") if i.state == "up"]

                (instance,) = wait_for(found, message="echo registered through the CURVE yellow")
                assert instance.instance_id == echo.server.instance and instance.curve_key == ECHO.public
                proxy = get_service("echo", directory=consumer.directory, curve_keys=CONSUMER)
                assert proxy.echo(payload=b"found and encrypted") == b"found and encrypted"
                # Yellow's own view carries the key too (what /services shows and Change events publish).
                assert yellow.service.registry.instances("echo")[0].curve_public_key == ECHO.public
        finally:
            provider.directory.close()
            consumer.directory.close()


def refused_by_yellow() -> float:
    return REGISTRY.get_sample_value("hn_curve_handshakes_total", {"service": "yellow", "outcome": "unknown_key"}) or 0


def test_a_consumer_without_yellows_key_learns_nothing() -> None:
    before = refused_by_yellow()
    with running(YellowService(), curve=CurveConfig(YELLOW, allowed=frozenset({CONSUMER.public}))) as yellow:
        stranger = YellowDiscovery([yellow.endpoints["rep"]], curve_server_key=YELLOW.public)  # an unlisted key
        plain = YellowDiscovery([yellow.endpoints["rep"]])  # no CURVE at all
        friend = YellowDiscovery([yellow.endpoints["rep"]], curve_server_key=YELLOW.public, curve_keys=CONSUMER)
        try:
            assert friend.directory.wait_synced(10)
            wait_for(lambda: refused_by_yellow() > before, message="yellow refusing the unlisted key")
            # Refused: neither ever gets a snapshot (the friend above synced in the same time).
            assert not stranger.directory.wait_synced(1) and not plain.directory.wait_synced(1)
        finally:
            for disc in (stranger, plain, friend):
                disc.directory.close()
