"""One yellow server's view of the world, kept by the ZeroMQ guide's Clone pattern.

Subscribe to the server's changes, take a snapshot, then apply only changes numbered after it;
a gap, a new server id or a tick announcing a newer sequence means updates were missed, and the
view takes a fresh snapshot. While the server is unreachable the last view is kept as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event

from hn_idl.yellow import Yellow  # pants: no-infer-dep (generated service module)
from hn_idl.yellow.ttypes import Change, InstanceInfo, Snapshot, Tick
from hn_runtime import HNError, get_logger, get_service, subscribe
from hn_runtime.client import Subscription
from hn_runtime.curve import CurveKeys

__all__ = ["YellowView", "TOPIC"]

TOPIC = "yellow"
Key = tuple[str, str]
_log = get_logger("hn.yellow_client")


class YellowView:
    def __init__(
        self,
        address: str,
        on_change: Callable[[set[str]], None],
        *,
        timeout: float = 2.0,
        curve_server_key: str | None = None,
        curve_keys: CurveKeys | None = None,
    ) -> None:
        self.address = address
        self.server_id: str | None = None
        self.sequence = -1
        self.synced = gevent.event.Event()
        self.reachable = False
        self._instances: dict[Key, InstanceInfo] = {}
        #: Entries a restarted (memory-less) yellow has not relearned yet, kept until it warmed up.
        self._retained: dict[Key, InstanceInfo] = {}
        self._retain_until = 0.0
        self._on_change = on_change
        #: Yellow's CURVE key: its request and publish sockets share it.
        self._curve_key = curve_server_key
        self._curve_keys = curve_keys
        self._proxy = get_service(
            Yellow, endpoints=[address], timeout=timeout, curve_server_key=curve_server_key, curve_keys=curve_keys
        )
        self._subscription: Subscription | None = None
        self._pub_endpoint = ""
        self._heartbeat_s = 1.0
        self._syncing = True
        self._buffer: list[Change] = []
        self._resync = gevent.event.Event()
        self._resync.set()
        self._last_heard = 0.0
        self._loop = gevent.spawn(self._run)

    # -- reading -----------------------------------------------------------------------------

    def instances(self, service: str) -> list[InstanceInfo]:
        found = [i for (svc, _), i in self._instances.items() if svc == service]
        if self._retained:
            if time.monotonic() < self._retain_until:
                found += [
                    i
                    for (svc, iid), i in self._retained.items()
                    if svc == service and (svc, iid) not in self._instances
                ]
            else:
                self._retained.clear()
        return found

    def services(self) -> set[str]:
        return {svc for svc, _ in self._instances} | {svc for svc, _ in self._retained}

    @property
    def last_heard(self) -> float:
        """When (time.monotonic()) this yellow last answered or published (a tick comes every
        second); 0.0 if never."""
        return self._last_heard

    # -- keeping it current ------------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.05
        while True:
            # Silence for three ticks means the server (or the link) is gone: probe it.
            self._resync.wait(timeout=3 * self._heartbeat_s)
            if not self._resync.is_set() and time.monotonic() - self._last_heard < 3 * self._heartbeat_s:
                continue
            self._resync.clear()
            self._syncing = True
            self._buffer = []
            try:
                snapshot: Snapshot = self._proxy.snapshot()
            except HNError as exc:
                if self.reachable:
                    _log.warning("yellow unreachable, keeping the last view", yellow=self.address, error=str(exc))
                self.reachable = False
                self._resync.set()
                gevent.sleep(backoff)
                backoff = min(backoff * 2, self._heartbeat_s)
                continue
            backoff = 0.05
            self._install(snapshot)

    def _install(self, snapshot: Snapshot) -> None:
        self._heartbeat_s = (snapshot.heartbeat_ms or 1000) / 1000.0
        if snapshot.pub_endpoint != self._pub_endpoint:
            if self._subscription is not None:
                self._subscription.close()
            self._pub_endpoint = snapshot.pub_endpoint
            self._subscription = subscribe(
                Yellow,
                TOPIC,
                self._on_event,
                endpoints=[snapshot.pub_endpoint],
                curve_server_key=self._curve_key,
                curve_keys=self._curve_keys,
            )
        before = self._instances
        fresh = {(i.service_name, i.instance_id): i for i in snapshot.instances}
        if snapshot.server_id != self.server_id and (snapshot.uptime_ms or 0) < 3 * (snapshot.heartbeat_ms or 1000):
            # A yellow that just (re)started has heard only part of the world yet: what we knew
            # and it does not stays visible until every provider had time to heartbeat again.
            self._retained = {k: v for k, v in before.items() if k not in fresh}
            self._retain_until = time.monotonic() + 3 * self._heartbeat_s
        self._instances = fresh
        self.server_id = snapshot.server_id
        self.sequence = snapshot.sequence
        self._syncing = False
        self._last_heard = time.monotonic()
        self.reachable = True
        changed = {key[0] for key in before.keys() | fresh.keys() if before.get(key) != fresh.get(key)}
        for change in sorted(self._buffer, key=lambda c: c.sequence):
            changed |= self._apply(change)
        self._buffer = []
        self.synced.set()
        if changed:
            self._on_change(changed)

    def _on_event(self, topic: str, event: Any) -> None:
        self._last_heard = time.monotonic()
        if isinstance(event, Tick):
            if not self._syncing and (event.server_id != self.server_id or event.sequence > self.sequence):
                self._resync.set()
        elif isinstance(event, Change):
            if self._syncing:
                self._buffer.append(event)
                return
            changed = self._apply(event)
            if changed:
                self._on_change(changed)

    def _apply(self, change: Change) -> set[str]:
        if change.server_id != self.server_id or change.sequence > self.sequence + 1:
            self._resync.set()  # a new server, or updates we never saw
            return set()
        if change.sequence <= self.sequence:
            return set()  # already in the snapshot
        self.sequence = change.sequence
        info = change.instance
        key = (info.service_name, info.instance_id)
        if change.removed:
            self._instances.pop(key, None)
        else:
            self._instances[key] = info
        self._retained.pop(key, None)
        return {info.service_name}

    def close(self) -> None:
        self._loop.kill()
        if self._subscription is not None:
            self._subscription.close()
