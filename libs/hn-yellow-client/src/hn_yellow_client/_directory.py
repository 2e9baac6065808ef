"""The consumer side: a `hn_runtime.Directory` fed by every configured yellow server at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import gevent

from hn_idl.yellow.ttypes import InstanceInfo
from hn_runtime.curve import CurveKeys
from hn_runtime.discovery import DOWN, DRAINING, UP, AllWatcher, ClientRoute, Instance, Watcher, WatcherRegistry
from hn_yellow_client._view import YellowView

__all__ = ["YellowDirectory"]

_RANK = {UP: 0, DRAINING: 1, DOWN: 2}


def _instance(info: InstanceInfo) -> Instance:
    return Instance(
        info.service_name,
        info.instance_id,
        dict(info.endpoints or {}),
        info.version or "",
        info.load or 0.0,
        info.state,
        info.curve_public_key or "",
        tuple(ClientRoute(r.method, r.kind, bool(r.idempotent)) for r in info.client_routes or ()),
    )


def merge(views: Iterable[Iterable[InstanceInfo]]) -> list[InstanceInfo]:
    """One entry per instance from several yellows' views: the newest news wins.

    Newest: the higher heartbeat counter, and on a tie the graver state (a yellow that marked an
    instance down saw the same last beat as one that has not swept yet).
    """
    best: dict[str, InstanceInfo] = {}
    for view in views:
        for info in view:
            current = best.get(info.instance_id)
            rank = (info.beat or 0, _RANK.get(info.state, 2))
            if current is None or rank > (current.beat or 0, _RANK.get(current.state, 2)):
                best[info.instance_id] = info
    return [best[iid] for iid in sorted(best)]


class YellowDirectory:
    """Follows all configured yellows and merges their views.

    Views merge by `merge`; with every yellow unreachable the merged view stays as last known.
    """

    def __init__(
        self, addresses: Sequence[str], *, curve_server_key: str | None = None, curve_keys: CurveKeys | None = None
    ) -> None:
        if not addresses:
            raise ValueError("YellowDirectory needs at least one yellow address")
        #: The merged view last given to watchers, by service: a change that merges to the same
        #: instances (another yellow catching up) reaches no one.
        self._merged: dict[str, list[Instance]] = {}
        self._watchers = WatcherRegistry(self._current, self.services)
        self.views = [
            YellowView(address, self._changed, curve_server_key=curve_server_key, curve_keys=curve_keys)
            for address in addresses
        ]

    def _merge(self, service: str) -> list[Instance]:
        return [_instance(info) for info in merge(view.instances(service) for view in self.views)]

    def _current(self, service: str) -> list[Instance]:
        merged = self._merged[service] = self._merge(service)
        return merged

    def _changed(self, services: set[str]) -> None:
        for service in services:
            merged = self._merge(service)
            if merged != self._merged.get(service):
                self._merged[service] = merged
                self._watchers.notify(service, merged)

    def instances(self, service: str) -> list[Instance]:
        return self._merge(service)

    def services(self) -> list[str]:
        return sorted(set().union(*(view.services() for view in self.views)))

    def watch(self, service: str, callback: Watcher) -> Callable[[], None]:
        return self._watchers.watch(service, callback)

    def watch_all(self, callback: AllWatcher) -> Callable[[], None]:
        return self._watchers.watch_all(callback)

    def wait_synced(self, timeout: float) -> bool:
        """Wait until at least one yellow delivered its snapshot."""
        with gevent.Timeout(timeout, False):
            gevent.wait([view.synced for view in self.views], count=1)
            return True
        return False

    def last_heard(self) -> float:
        """When (time.monotonic()) any yellow last answered or published; 0.0 if none ever did.
        A broker's fence reads it: no word from any yellow for long means this host is cut off."""
        return max((view.last_heard for view in self.views), default=0.0)

    def close(self) -> None:
        for view in self.views:
            view.close()
