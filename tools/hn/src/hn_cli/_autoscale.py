"""The autoscaler's local driver: real processes of the local cluster, added and drained."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gevent

from hn_autoscale import AutoscaleConfig, AutoscalerHost, Decision
from hn_cli._cluster import SCALABLE, Cluster
from hn_runtime import get_logger

__all__ = ["ClusterDriver", "start_autoscaler", "describe"]

_log = get_logger("hn.cli")


class ClusterDriver:
    """`hn_autoscale.Driver` over a `Cluster`: scale-out starts processes, scale-in drains them.

    A drain takes as long as the instance needs to finish its work, so it runs in its own
    greenlet: the autoscaler's loop goes on (the instance is "draining" in yellow at once, so it
    no longer counts as live, and the policy waits for the live count to settle).
    """

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.draining: dict[str, gevent.Greenlet] = {}

    def current(self, service: str) -> int | None:
        return self.cluster.count(service) if service in SCALABLE else None

    def scale_out(self, service: str, desired: int) -> None:
        while self.cluster.count(service) < desired:
            self.cluster.add_instance(service)

    def scale_in(self, service: str, desired: int, victims: Sequence[str]) -> None:
        for name in victims:
            if self.cluster.count(service) <= desired:
                break
            if name in self.cluster.removing or not any(p.name == name for p in self.cluster.processes):
                _log.warning("scale-in: no such instance running here", name=name)
                continue
            self.cluster.removing.add(name)  # counted out at once; remove_instance drains it
            self.draining[name] = gevent.spawn(self._drain, name)

    def _drain(self, name: str) -> None:
        self.cluster.removing.discard(name)
        try:
            self.cluster.remove_instance(name)
        except Exception as exc:  # noqa: BLE001 - the next round sees what is running and decides again
            _log.error("could not remove an instance", name=name, exc_info=exc)
        finally:
            self.draining.pop(name, None)


def start_autoscaler(
    cluster: Cluster, config: AutoscaleConfig, *, on_decision: Callable[[Decision], None] | None = None
) -> AutoscalerHost:
    """The autoscaler for this cluster, registered in its yellow; `host.stop()` ends it."""
    unknown = set(config.rules) - set(SCALABLE)
    if unknown:
        raise ValueError(f"the local cluster scales {', '.join(SCALABLE)}; not {', '.join(sorted(unknown))}")
    driver = ClusterDriver(cluster)
    assert cluster.identities is not None
    # It runs in this process: over hosts, on the bots host, at that host's address.
    host = cluster.host_of("bots").address if cluster.network is not None else "127.0.0.1"
    return AutoscalerHost(
        config,
        driver=driver,
        bind_host=host,
        yellow=[cluster.yellow_address],
        on_decision=on_decision,
        curve_server_key=cluster.yellow_key,
        curve_keys=cluster.identities.keys("autoscaler"),
    ).start()


def describe(decision: Decision) -> str:
    """One line for the terminal."""
    victims = f", draining {', '.join(decision.victims)}" if decision.victims else ""
    return f"autoscale: {decision.service} {decision.direction} {decision.previous} -> {decision.desired} ({decision.reason}{victims})"
