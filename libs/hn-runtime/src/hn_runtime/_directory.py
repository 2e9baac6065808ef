"""Where service instances are: the interface clients resolve through, and a static version of it.

`hn-yellow-client` implements `Directory` over the yellow discovery service; `StaticDirectory`
serves tests, tools and fixed deployments; both keep their watchers in a `WatcherRegistry`.
A process has one default directory.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Protocol

from hn_codec import load_idl

__all__ = [
    "ClientRoute",
    "declared_client_routes",
    "Instance",
    "AllWatcher",
    "Directory",
    "Discovery",
    "Registration",
    "StaticDirectory",
    "Watcher",
    "WatcherRegistry",
    "set_default_directory",
    "default_directory",
    "UP",
    "DRAINING",
    "DOWN",
]

UP = "up"
DRAINING = "draining"
DOWN = "down"


@dataclass(frozen=True)
class ClientRoute:
    """A message game clients may send to the instance's service through a broker."""

    method: str
    #: hn-edge's route kind: "login", "logout", "session", "bound:<family>", "resume"
    kind: str
    #: may be sent again to another instance after a connection was lost with it in flight
    idempotent: bool = False


def declared_client_routes(idl: str | ModuleType) -> tuple[ClientRoute, ...]:
    """The client routes a service's IDL declares (CLIENT_ROUTES), idempotent as its IDEMPOTENT
    says, and the old names of renamed ones (RENAMED: older game clients keep sending them)."""
    service = load_idl(idl)
    routes = dict(service.client_routes)
    routes.update({old: routes[new] for old, new in service.renamed.items() if new in routes})
    return tuple(
        ClientRoute(method, kind, service.methods[service.renamed.get(method, method)].idempotent)
        for method, kind in sorted(routes.items())
    )


@dataclass(frozen=True)
class Instance:
    """One running instance of a service, as discovery knows it."""

    service: str
    instance_id: str
    #: Endpoint kind -> address: "rep", "pull", "pub" (ZeroMQ) and "metrics" (host:port).
    endpoints: Mapping[str, str] = field(default_factory=dict)
    version: str = ""
    load: float = 0.0
    #: "up" takes new work; "draining" finishes what it has; "down" is gone.
    state: str = UP
    #: The Z85 CURVE public key of its ZeroMQ sockets; "" when they speak plaintext.
    curve_key: str = ""
    #: What game clients may send to the service through brokers (its IDL's CLIENT_ROUTES).
    client_routes: tuple[ClientRoute, ...] = ()


Watcher = Callable[[Sequence[Instance]], None]
#: Told of every service's changes: (service, its instances now).
AllWatcher = Callable[[str, Sequence[Instance]], None]


class Directory(Protocol):
    def watch(self, service: str, callback: Watcher) -> Callable[[], None]:
        """Call `callback` with the service's instances now and after every change.

        Returns a function that stops the watch. Callbacks run in the gevent hub's greenlet or a
        plain greenlet and must not block.
        """
        ...

    def watch_all(self, callback: AllWatcher) -> Callable[[], None]:
        """Call `callback(service, instances)` for every service known now and after every
        change to any service (a broker learning the client routes of services it never heard
        of). Returns a function that stops the watch; callbacks must not block."""
        ...

    def wait_synced(self, timeout: float) -> bool:
        """Wait until the directory holds a first whole view of the world (yellow's snapshot
        arrived); False if it still does not after `timeout` seconds."""
        ...


class Registration(Protocol):
    """A provider's presence in discovery, kept fresh by heartbeats until closed."""

    def set_state(self, state: str) -> None:
        """Announce a new state ("draining" before leaving) at once."""
        ...

    def close(self) -> None:
        """Announce "down" and stop heartbeating."""
        ...


class Discovery(Protocol):
    """Both sides of discovery for one process: finding others, and being found."""

    @property
    def directory(self) -> Directory:
        """Where this process finds other services."""
        ...

    def register(self, describe: Callable[[], Instance]) -> Registration:
        """Start heartbeating `describe()` (called from a heartbeat thread: keep it cheap)."""
        ...


class WatcherRegistry:
    """The watchers of each service of a directory: `watch` for its `Directory.watch`,
    `watch_all` for its `watch_all`, and `notify` when the directory's view of a service changed.

    `current(service)` is the directory's view now, which a new watcher gets at once, and
    `services()` the services it knows. Each watcher gets a list of its own.
    """

    def __init__(
        self, current: Callable[[str], Sequence[Instance]], services: Callable[[], Iterable[str]] = tuple
    ) -> None:
        self._current = current
        self._services = services
        self._watchers: dict[str, list[Watcher]] = {}
        self._all: list[AllWatcher] = []

    def watch(self, service: str, callback: Watcher) -> Callable[[], None]:
        self._watchers.setdefault(service, []).append(callback)
        callback(list(self._current(service)))
        return functools.partial(self._unwatch, service, callback)

    def _unwatch(self, service: str, callback: Watcher) -> None:
        watchers = self._watchers.get(service, [])
        if callback in watchers:
            watchers.remove(callback)

    def watch_all(self, callback: AllWatcher) -> Callable[[], None]:
        self._all.append(callback)
        for service in sorted(self._services()):
            callback(service, list(self._current(service)))
        return functools.partial(self._unwatch_all, callback)

    def _unwatch_all(self, callback: AllWatcher) -> None:
        if callback in self._all:
            self._all.remove(callback)

    def notify(self, service: str, instances: Sequence[Instance]) -> None:
        # A copy of the list: a watcher may stop watching (or start another) from its callback.
        for callback in list(self._watchers.get(service, ())):
            callback(list(instances))
        for every in list(self._all):
            every(service, list(instances))


class StaticDirectory:
    """A directory whose content the owner sets; changes reach watchers at once."""

    def __init__(self, services: Mapping[str, Sequence[Instance]] | None = None) -> None:
        self._services: dict[str, list[Instance]] = {k: list(v) for k, v in (services or {}).items()}
        self._watchers = WatcherRegistry(self.instances, self._services.keys)

    @classmethod
    def of(
        cls,
        service: str,
        *,
        rep: Sequence[str] = (),
        pull: Sequence[str] = (),
        pub: Sequence[str] = (),
        curve_key: str = "",
    ) -> StaticDirectory:
        """One service's instances given by endpoint lists (instance i has rep[i], pull[i], pub[i]).

        `curve_key`: the servers' CURVE public key (a service's instances share its key pair).
        """
        count = max(len(rep), len(pull), len(pub))
        instances = []
        for i in range(count):
            endpoints = {}
            for kind, values in (("rep", rep), ("pull", pull), ("pub", pub)):
                if i < len(values):
                    endpoints[kind] = values[i]
            instances.append(Instance(service, f"{service}-{i}", endpoints, curve_key=curve_key))
        return cls({service: instances})

    def set(self, service: str, instances: Sequence[Instance]) -> None:
        self._services[service] = list(instances)
        self._watchers.notify(service, instances)

    def instances(self, service: str) -> list[Instance]:
        return list(self._services.get(service, ()))

    def watch(self, service: str, callback: Watcher) -> Callable[[], None]:
        return self._watchers.watch(service, callback)

    def watch_all(self, callback: AllWatcher) -> Callable[[], None]:
        return self._watchers.watch_all(callback)

    def wait_synced(self, timeout: float) -> bool:
        return True  # its owner set it whole


_default: Directory | None = None


def set_default_directory(directory: Directory | None) -> None:
    """The directory `get_service`/`subscribe` use when not given one (yellow, in production)."""
    global _default
    _default = directory


def default_directory() -> Directory:
    if _default is None:
        raise LookupError(
            "no service directory: call hn_runtime.discovery.set_default_directory(), run the process "
            "with HN_YELLOW set, or pass endpoints= explicitly"
        )
    return _default
