"""Yellow's memory: who is registered, in which state, and the numbered changes it publishes.

Pure logic with an injectable clock, so its rules (when an instance is down, when a heartbeat
is news) are tested without sockets or sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from hn_idl.yellow.ttypes import Change, InstanceInfo, InvalidRegistration

__all__ = ["Registry", "UP", "DRAINING", "DOWN", "STATES"]

UP = "up"
DRAINING = "draining"
DOWN = "down"
STATES = (UP, DRAINING, DOWN)
#: "client" is a broker's game-client address (brokerlist's seed document); "tcp", "tls", "ws" and
#: "wss" are its addresses by scheme (host:port, or a ws:// or wss:// URL)
ENDPOINT_KINDS = ("rep", "pull", "pub", "metrics", "http", "client", "tcp", "tls", "ws", "wss")
_KNOWN_KINDS = frozenset(ENDPOINT_KINDS)
#: Every broker keeps the routes of every service: a registration cannot make that table large.
MAX_CLIENT_ROUTES = 256


def _material(info: InstanceInfo) -> tuple[object, ...]:
    """What subscribers care about; a heartbeat that changes none of it is not published."""
    return (info.endpoints, info.version, info.state, round(info.load or 0.0, 2), info.curve_public_key or "")


def validate(info: InstanceInfo) -> None:
    if not info.service_name or not info.instance_id:
        raise InvalidRegistration(reason="service and instance_id are required")
    if len(info.service_name) > 64 or len(info.instance_id) > 128:
        raise InvalidRegistration(reason="service or instance_id too long")
    if info.state not in STATES:
        raise InvalidRegistration(reason=f"state must be one of {', '.join(STATES)}, not {info.state!r}")
    for kind in info.endpoints or {}:
        if kind not in _KNOWN_KINDS:
            raise InvalidRegistration(reason=f"unknown endpoint kind {kind!r} (known: {', '.join(ENDPOINT_KINDS)})")
    if info.curve_public_key and len(info.curve_public_key) != 40:
        raise InvalidRegistration(reason="curve_public_key must be a 40-character Z85 key")
    if not 0.0 <= (info.load or 0.0) <= 1000.0:
        raise InvalidRegistration(reason=f"load {info.load} out of range")
    routes = info.client_routes or []
    if len(routes) > MAX_CLIENT_ROUTES:
        raise InvalidRegistration(reason=f"{len(routes)} client routes, at most {MAX_CLIENT_ROUTES}")
    for route in routes:
        if not route.method or len(route.method) > 64 or not route.kind or len(route.kind) > 64:
            raise InvalidRegistration(reason="a client route needs a method and a kind of 1 to 64 characters")


class Registry:
    def __init__(
        self,
        *,
        server_id: str,
        heartbeat_interval: float = 1.0,
        missed_beats: int = 3,
        forget_after: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.server_id = server_id
        self.heartbeat_interval = heartbeat_interval
        self.missed_beats = missed_beats
        self.forget_after = forget_after
        self.sequence = 0
        self._clock = clock
        self._records: dict[tuple[str, str], InstanceInfo] = {}
        #: each record's `_material`, kept beside it: a heartbeat computes only its own
        self._materials: dict[tuple[str, str], tuple[object, ...]] = {}

    def _change(self, info: InstanceInfo, *, removed: bool = False) -> Change:
        self.sequence += 1
        return Change(server_id=self.server_id, sequence=self.sequence, instance=info, removed=removed)

    def heartbeat(self, info: InstanceInfo) -> Change | None:
        """Record a heartbeat; return the change to publish, if it is news."""
        validate(info)
        info.endpoints = dict(info.endpoints or {})
        info.load = float(info.load or 0.0)
        info.beat = info.beat or 0
        key = (info.service_name, info.instance_id)
        old = self._records.get(key)
        if old is not None and info.beat < old.beat:
            return None  # overtaken by a newer heartbeat (reordered on the way)
        now_ms = int(self._clock() * 1000)
        info.last_seen_ms = now_ms
        info.registered_ms = old.registered_ms if old is not None else now_ms
        self._records[key] = info
        material = _material(info)
        if self._materials.get(key) != material:
            self._materials[key] = material
            return self._change(info)
        return None

    def sweep(self) -> list[Change]:
        """Mark silent instances down and forget long-dead ones; return the changes."""
        now_ms = int(self._clock() * 1000)
        down_after = self.heartbeat_interval * self.missed_beats * 1000
        changes = []
        for key, info in list(self._records.items()):
            silent = now_ms - (info.last_seen_ms or 0)
            if info.state != DOWN and silent > down_after:
                down = InstanceInfo(**{**vars_of(info), "state": DOWN})
                self._records[key] = down
                self._materials[key] = _material(down)
                changes.append(self._change(down))
            elif info.state == DOWN and silent > self.forget_after * 1000:
                del self._records[key]
                del self._materials[key]
                changes.append(self._change(info, removed=True))
        return changes

    def instances(self, service: str = "") -> list[InstanceInfo]:
        return [i for (svc, _), i in sorted(self._records.items()) if not service or svc == service]

    def __len__(self) -> int:
        return len(self._records)


def vars_of(info: Any) -> dict[str, Any]:
    """A Thrift struct's fields by name."""
    return {slot: getattr(info, slot) for slot in info.__slots__}


def by_service(instances: Iterable[InstanceInfo]) -> dict[str, list[InstanceInfo]]:
    grouped: dict[str, list[InstanceInfo]] = {}
    for info in instances:
        grouped.setdefault(info.service_name, []).append(info)
    return grouped
