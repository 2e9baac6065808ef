"""Yellow registers an instance of service X only from a key the CURVE authority lets act as X.

Issue 16's attack: one `yellow.heartbeat` registered a fake sso, and brokers sent it players'
logins. Here a real yellow process runs with CURVE and an authority, and the fake comes from a key
the authority names, but for match.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hn_idl.yellow import Yellow  # pants: no-infer-dep (generated service module)
from hn_idl.yellow.ttypes import InstanceInfo, InvalidRegistration
from hn_runtime import get_service
from hn_runtime.curve import CurveKeys, LocalIdentities
from hn_runtime.discovery import Instance
from hn_runtime.testing import ServiceProcess, spawn_service, wait_for
from hn_yellow_client import YellowDiscovery


@pytest.fixture
def identities(tmp_path: Path) -> LocalIdentities:
    return LocalIdentities(str(tmp_path / "curve"), ("yellow", "sso", "match"), grants={})


@pytest.fixture
def yellow(identities: LocalIdentities) -> Iterator[ServiceProcess]:
    with spawn_service("hn_yellow", service="yellow", env=identities.env("yellow")) as proc:
        yield proc


def as_service(yellow: ServiceProcess, keys: CurveKeys) -> Any:
    return get_service(
        Yellow, endpoints=[yellow.endpoints["rep"]], curve_server_key=yellow.curve_public_key, curve_keys=keys
    )


def sso_instance(instance_id: str, beat: int = 1) -> InstanceInfo:
    return InstanceInfo(
        service_name="sso",
        instance_id=instance_id,
        endpoints={"rep": "tcp://127.0.0.1:1"},
        version="6.6.6",
        load=0.0,
        state="up",
        beat=beat,
    )


def refusals(yellow: ServiceProcess, caller: str) -> float:
    with urllib.request.urlopen(f"http://{yellow.endpoints['metrics']}/metrics", timeout=5) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "hn_yellow_registrations_refused_total" and sample.labels == {"caller": caller}:
                return float(sample.value)
    return 0.0


def test_a_key_of_another_service_cannot_register_an_instance_of_sso(
    yellow: ServiceProcess, identities: LocalIdentities
) -> None:
    impostor = as_service(yellow, identities.keys("match"))
    with pytest.raises(InvalidRegistration, match=r"this caller \(match\) may not register instances of 'sso'"):
        impostor.heartbeat(instance=sso_instance("sso-fake"))
    # Marking a real sso instance down is a registration too.
    real = as_service(yellow, identities.keys("sso"))
    assert real.heartbeat(instance=sso_instance("sso-1")) > 0
    down = sso_instance("sso-1", beat=2)
    down.state = "down"
    with pytest.raises(InvalidRegistration):
        impostor.heartbeat(instance=down)
    found = {(i.instance_id, i.state) for i in real.find("sso")}
    assert found == {("sso-1", "up")}, "no fake instance, and the real one untouched"
    assert refusals(yellow, "match") == 2
    assert any(
        e.get("event") == "registration refused: the caller's key does not act as that service"
        and e.get("caller") == "match"
        and e.get("claimed_service") == "sso"
        for e in yellow.logs()
    )


def test_a_provider_registers_itself_with_its_own_key_and_is_found(
    yellow: ServiceProcess, identities: LocalIdentities
) -> None:
    address = [yellow.endpoints["rep"]]
    provider = YellowDiscovery(address, curve_server_key=yellow.curve_public_key, curve_keys=identities.keys("sso"))
    impostor = YellowDiscovery(address, curve_server_key=yellow.curve_public_key, curve_keys=identities.keys("match"))
    consumer = YellowDiscovery(address, curve_server_key=yellow.curve_public_key, curve_keys=identities.keys("match"))
    registrations = []
    try:
        for discovery, instance_id in ((provider, "sso-1"), (impostor, "sso-fake")):
            registrations.append(
                discovery.register(lambda i=instance_id: Instance("sso", i, {"rep": "tcp://127.0.0.1:1"}, "1.0.0"))
            )
        wait_for(lambda: refusals(yellow, "match") >= 2, message="the impostor's heartbeats refused")
        assert [i.instance_id for i in consumer.directory.instances("sso")] == ["sso-1"]
    finally:
        for registration in registrations:
            registration.close()
        for discovery in (provider, impostor, consumer):
            discovery.directory.close()


def test_a_key_outside_the_authority_gets_nothing_from_yellow(yellow: ServiceProcess) -> None:
    stranger = YellowDiscovery(
        [yellow.endpoints["rep"]], curve_server_key=yellow.curve_public_key, curve_keys=CurveKeys.generate()
    )
    try:
        assert not stranger.directory.wait_synced(2), "no snapshot for an unknown key"
    finally:
        stranger.directory.close()
