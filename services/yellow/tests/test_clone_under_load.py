"""A subscriber that joins while yellow publishes ~1,000 changes a second ends with yellow's view."""

from __future__ import annotations

import itertools

import gevent
import pytest

from hn_idl.yellow.ttypes import InstanceInfo
from hn_runtime import get_service
from hn_runtime.testing import spawn_service, time_factor, wait_for
from hn_yellow_client import YellowDiscovery

pytestmark = pytest.mark.integration


def material(infos: list[InstanceInfo]) -> set[tuple[object, ...]]:
    return {(i.service_name, i.instance_id, i.state, round(i.load, 2)) for i in infos}


def test_late_joiner_converges_to_the_servers_view() -> None:
    with spawn_service("hn_yellow", service="yellow") as yellow:
        address = yellow.endpoints["rep"]
        proxy = get_service("yellow", endpoints=[address], timeout=10)
        beats = itertools.count(1)
        sent = [0]

        def provider(n: int) -> None:
            # 20 providers x 50 updates/s: ~1,000 published changes per second.
            for k in range(150):
                load = ((n * 7 + k) % 100) / 100
                state = "draining" if k % 25 == 24 else "up"
                proxy.heartbeat(
                    InstanceInfo(f"svc{n % 4}", f"i-{n}", {"rep": f"tcp://h:{n}"}, "1", load, state, next(beats))
                )
                sent[0] += 1
                gevent.sleep(0.02)

        flow = [gevent.spawn(provider, n) for n in range(20)]
        wait_for(lambda: sent[0] > 500, timeout=60, message="the flow to be under way")
        late = YellowDiscovery([address])
        gevent.joinall(flow, timeout=120 * time_factor(), raise_error=True)
        server_view = material(proxy.find(""))
        assert len(server_view) == 20

        def client_view() -> set[tuple[object, ...]]:
            return {
                (svc, i.instance_id, i.state, round(i.load, 2))
                for svc in late.directory.services()
                for i in late.directory.instances(svc)
            }

        wait_for(lambda: client_view() == server_view, timeout=10, message="the late joiner to converge")
        late.directory.close()
