"""The yellow service: heartbeats in, numbered changes out, snapshots and lookups on request.

With a CURVE authority, an instance of service X is registered (or changed, or marked down) only
by a caller whose key acts as X: a key of another service cannot add an instance to X, so no
impostor is ever handed X's traffic.
"""

from __future__ import annotations

import os
import time
from typing import Any

import gevent
from prometheus_client import Counter

from hn_idl.yellow import Yellow  # pants: no-infer-dep (generated service module)
from hn_idl.yellow.ttypes import InstanceInfo, InvalidRegistration, Snapshot, Tick
from hn_runtime import Service, Session
from hn_runtime.logs import LogThrottle
from hn_yellow._http import make_app
from hn_yellow._registry import Registry
from hn_yellow._status import StatusCollector, StatusConfig

__all__ = ["YellowService", "TOPIC"]

#: Every change and tick goes out on this one topic: consumers want the whole view.
TOPIC = "yellow"

REGISTRATIONS_REFUSED = Counter(
    "hn_yellow_registrations_refused_total",
    "Heartbeats refused because the caller's service identity (CURVE authority) is not the service it registers.",
    ["caller"],
)


class YellowService(Service):
    name = "yellow"
    idl = Yellow
    #: Changes leave in bursts at most 10 ms apart: with every instance beating each second, one
    #: event per beat woke zmq's I/O thread (and every subscriber) per event, the larger part of
    #: yellow's CPU; discovery news 10 ms later changes nothing for anyone.
    publish_delay = 0.01

    def __init__(
        self,
        *,
        heartbeat_interval: float = 1.0,
        missed_beats: int = 3,
        forget_after: float = 300.0,
        status: StatusConfig | None = None,
    ) -> None:
        super().__init__()
        #: what the status page gathers besides the registry (rates, the data tier)
        self.status_config = status or StatusConfig.from_env()
        self.status: StatusCollector | None = None
        self._settings = dict(
            heartbeat_interval=heartbeat_interval, missed_beats=missed_beats, forget_after=forget_after
        )
        self.registry: Registry | None = None
        #: the logger bound once, in on_start (see there)
        self._log: Any = self.log
        self._loops: list[gevent.Greenlet] = []
        self._throttle = LogThrottle()

    def on_start(self) -> None:
        assert self.server is not None
        # A restarted yellow is a new server, memory-less, even under the same instance id (hn up
        # and systemd keep it): the id names this process, so subscribers see a new one, take a
        # snapshot, and keep what it has not relearned yet instead of dropping every instance.
        server_id = f"{self.server.instance}/{os.urandom(4).hex()}"
        self.registry = Registry(server_id=server_id, **self._settings)  # type: ignore[arg-type]
        interval = self.registry.heartbeat_interval
        self.status = StatusCollector(self.registry, self.status_config)
        self.status.start()
        self._loops = [gevent.spawn(self._every, interval / 2, self._sweep), gevent.spawn(self._every, 1.0, self._tick)]
        # `self.log` is structlog's lazy proxy, which binds anew on every call: every heartbeat
        # logs through one bound now (logging is configured before on_start).
        self._log = self.log.bind()

    def on_stop(self) -> None:
        gevent.killall(self._loops)
        if self.status is not None:
            self.status.stop()

    def http_app(self) -> Any:
        assert self.registry is not None and self.status is not None
        return make_app(self.registry, self.status)

    @staticmethod
    def _every(seconds: float, fn: Any) -> None:
        while True:
            gevent.sleep(seconds)
            fn()

    def _sweep(self) -> None:
        assert self.registry is not None
        for change in self.registry.sweep():
            self.log.info(
                "instance forgotten" if change.removed else "instance down",
                instance=change.instance.instance_id,
                of=change.instance.service_name,
            )
            self.publish(TOPIC, change)

    def _tick(self) -> None:
        assert self.registry is not None
        self.publish(TOPIC, Tick(server_id=self.registry.server_id, sequence=self.registry.sequence))

    # -- IDL methods -------------------------------------------------------------------------

    def on_heartbeat(self, session: Session, request: Any) -> int:
        assert self.registry is not None and self.server is not None
        if self.server.knows_callers:
            self._check_identity(session, request.instance)
        change = self.registry.heartbeat(request.instance)
        if change is not None:
            info = change.instance
            self._log.debug("instance changed", instance=info.instance_id, of=info.service_name, state=info.state)
            self.publish(TOPIC, change)
        return int(self.registry.heartbeat_interval * 1000)

    def _check_identity(self, session: Session, info: InstanceInfo) -> None:
        if info is not None and session.peer_service is not None and session.peer_service == info.service_name:
            return
        caller = session.peer_service or "unidentified"
        REGISTRATIONS_REFUSED.labels(caller).inc()
        claimed = str(info.service_name if info is not None else None)[:64]
        self._throttle.warning(
            self.log,
            caller,
            "registration refused: the caller's key does not act as that service",
            caller=caller,
            claimed_service=claimed,
            claimed_instance=str(info.instance_id if info is not None else None)[:128],
        )
        raise InvalidRegistration(reason=f"this caller ({caller}) may not register instances of {claimed!r}")

    def on_snapshot(self, session: Session, request: Any) -> Snapshot:
        assert self.registry is not None and self.server is not None
        return Snapshot(
            server_id=self.registry.server_id,
            sequence=self.registry.sequence,
            instances=self.registry.instances(),
            pub_endpoint=self.server.endpoints["pub"],
            heartbeat_ms=int(self.registry.heartbeat_interval * 1000),
            uptime_ms=int((time.time() - self.started_at) * 1000),
        )

    def on_find(self, session: Session, request: Any) -> list[InstanceInfo]:
        assert self.registry is not None
        return self.registry.instances(request.service_name or "")
