"""Providers register through yellow and consumers find and follow them (in-process, real sockets)."""

from __future__ import annotations

import json
import urllib.request

from hn_idl.yellow.ttypes import InstanceInfo
from hn_process import free_port
from hn_runtime import get_service
from hn_runtime.testing import RunningService, running, wait_for
from hn_runtime.testing.echo import EchoService
from hn_yellow._service import YellowService
from hn_yellow_client import YellowDiscovery


def states(discovery: YellowDiscovery, service: str = "echo") -> dict[str, str]:
    return {i.instance_id: i.state for i in discovery.directory.instances(service)}


def test_a_registered_service_is_found_and_called_by_name(discovery: YellowDiscovery) -> None:
    with running(EchoService(), discovery=discovery) as echo:
        wait_for(lambda: states(discovery).get(echo.server.instance) == "up", message="echo registered")
        proxy = get_service("echo", directory=discovery.directory)
        assert proxy.echo(payload=b"found") == b"found"
        assert proxy.health().instance == echo.server.instance
    # Leaving drains, then says "down".
    wait_for(lambda: states(discovery).get(echo.server.instance) == "down", message="echo down after leaving")


def test_calls_move_off_a_draining_instance(discovery: YellowDiscovery) -> None:
    with running(EchoService(), discovery=discovery) as a, running(EchoService(), discovery=discovery) as b:
        wait_for(lambda: len([s for s in states(discovery).values() if s == "up"]) == 2)
        proxy = get_service("echo", directory=discovery.directory)
        served = {proxy.health().instance for _ in range(40)}
        assert served == {a.server.instance, b.server.instance}, "least-outstanding balancing uses both"
        a.server.draining = True  # what SIGTERM does first; the heartbeat thread reports it
        wait_for(lambda: states(discovery).get(a.server.instance) == "draining")
        assert {proxy.health().instance for _ in range(40)} == {b.server.instance}


def test_the_view_follows_changes_and_resyncs_after_a_missed_one(
    yellow: RunningService, discovery: YellowDiscovery
) -> None:
    registry = yellow.service.registry
    assert registry is not None
    assert discovery.directory.wait_synced(10)
    # Changes published normally arrive in order...
    for n in range(5):
        change = registry.heartbeat(InstanceInfo("ghost", f"g-{n}", {}, "1", 0.0, "up", 1))
        yellow.service.publish("yellow", change)
    wait_for(lambda: len(discovery.directory.instances("ghost")) == 5)
    # ...and one that never reaches the subscriber is noticed at the next tick, which
    # announces a sequence the view has not seen: it takes a fresh snapshot.
    registry.heartbeat(InstanceInfo("ghost", "g-lost", {}, "1", 0.0, "up", 1))
    wait_for(lambda: "g-lost" in {i.instance_id for i in discovery.directory.instances("ghost")}, message="resync")


def test_two_yellows_merge_and_either_one_is_enough(yellow: RunningService) -> None:
    with running(YellowService()) as second:
        discovery = YellowDiscovery([yellow.endpoints["rep"], second.endpoints["rep"]])
        with running(EchoService(), discovery=discovery) as echo:
            for y in (yellow, second):
                wait_for(lambda y=y: y.service.registry.instances("echo"), message="registered with both")
            wait_for(lambda: states(discovery).get(echo.server.instance) == "up")
            assert len(discovery.directory.instances("echo")) == 1  # merged, not doubled
        discovery.directory.close()


def test_http_services_sd_and_status_page(yellow: RunningService, discovery: YellowDiscovery) -> None:
    with running(EchoService(), discovery=discovery, metrics_port=0) as echo:
        iid = echo.server.instance
        wait_for(lambda: states(discovery).get(iid) == "up")
        base = f"http://{yellow.endpoints['http']}"
        services = json.load(urllib.request.urlopen(f"{base}/services", timeout=10))
        assert [i["instance_id"] for i in services["services"]["echo"]] == [iid]
        sd = json.load(urllib.request.urlopen(f"{base}/sd", timeout=10))
        assert {
            "targets": [echo.endpoints["metrics"]],
            "labels": {"service": "echo", "instance": iid, "version": "0.1.0"},
        } in sd
        page = urllib.request.urlopen(f"{base}/", timeout=10).read().decode()
        assert iid in page and "<table" in page


def test_a_yellow_restarted_under_its_instance_id_is_a_new_server_and_the_view_keeps_what_it_forgot() -> None:
    """hn up and systemd restart yellow under the same instance id, and it comes back
    memory-less: consumers must see a new server and keep the instances it has not heard from
    again yet. Taken for the same server, its empty snapshot would drop them all (every broker
    then gives up every duel as lost)."""
    port = free_port()
    with running(YellowService(), instance="yellow-1", rep_port=port) as first:
        before = first.service.registry.server_id  # type: ignore[attr-defined]
        info = InstanceInfo("echo", "echo-1", {"rep": "tcp://127.0.0.1:9"}, "1", 0.0, "up", 1)
        get_service("yellow", endpoints=[first.endpoints["rep"]]).heartbeat(instance=info)  # once: it never beats again
        discovery = YellowDiscovery([first.endpoints["rep"]])
        wait_for(lambda: states(discovery) == {"echo-1": "up"}, message="echo-1 in the view")
    view = discovery.directory.views[0]
    try:
        wait_for(lambda: not view.reachable, message="the consumer noticed yellow gone")
        with running(YellowService(), instance="yellow-1", rep_port=port) as second:
            after = second.service.registry.server_id  # type: ignore[attr-defined]
            assert after != before, "a new process is a new server"
            wait_for(lambda: view.reachable and view.server_id == after, message="the consumer resynced")
            assert states(discovery) == {"echo-1": "up"}, "kept until yellow had time to relearn it"
    finally:
        discovery.directory.close()
