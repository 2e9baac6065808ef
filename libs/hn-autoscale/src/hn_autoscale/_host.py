"""Running an autoscaler in a process: the loop, its HTTP endpoint, its registration in yellow.

The autoscaler registers in yellow as service "autoscaler" with an "http" endpoint (GET /status:
desired vs actual per service, which `hn status` shows) and a "metrics" endpoint (the same
server's /metrics), so yellow's Prometheus service discovery has Prometheus scrape its decision
metrics like any service's.

When several autoscalers run, one acts and the others decide and export the same figures but leave
the driver alone (a warm standby, not a second pair of hands on the same groups). With a `lease`
(production: `RedisLease`, one key in the data tier) the holder acts, and a standby takes over
when the lease lapses; without one (`hn up --autoscale` runs a single autoscaler), the one with
the smallest instance id among those up in yellow acts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import gevent
import gevent.event
from gevent.pywsgi import WSGIServer

from hn_autoscale._autoscaler import Autoscaler, Driver, status_app
from hn_autoscale._config import AutoscaleConfig
from hn_autoscale._lease import RedisLease
from hn_autoscale._policy import Decision
from hn_autoscale._signals import YellowObserver
from hn_runtime import get_logger
from hn_runtime.curve import CurveKeys
from hn_runtime.discovery import Instance

__all__ = ["AutoscalerHost", "SERVICE_NAME"]

SERVICE_NAME = "autoscaler"
_log = get_logger("hn.autoscale")


class AutoscalerHost:
    def __init__(
        self,
        config: AutoscaleConfig,
        *,
        driver: Driver,
        yellow: Sequence[str],
        instance_id: str = "autoscaler-1",
        bind_host: str = "127.0.0.1",
        port: int = 0,
        advertise_host: str = "",
        version: str = "0.1.0",
        on_decision: Callable[[Decision], None] | None = None,
        curve_server_key: str | None = None,
        curve_keys: CurveKeys | None = None,
        lease: RedisLease | None = None,
        ready_file: str = "",
    ) -> None:
        """lease: who acts among several autoscalers (see the module's docstring); ready_file:
        written once the autoscaler serves (HN_READY_FILE: the host's launch hook waits for it)."""
        self.instance_id = instance_id
        self.lease = lease
        self.ready_file = ready_file
        self.yellow = list(yellow)
        #: Yellow's CURVE key, and the key pair this autoscaler registers and asks with.
        self._curve_server_key = curve_server_key
        self._curve_keys = curve_keys
        self.observer = YellowObserver(
            self.yellow, config.signals, curve_server_key=curve_server_key, curve_keys=curve_keys
        )
        self.autoscaler = Autoscaler(
            config.rules,
            driver=driver,
            observer=self.observer,
            interval_s=config.interval_s,
            active=self._active,
            on_decision=on_decision,
        )
        self._bind = (bind_host, port)
        self._advertise = advertise_host or bind_host
        self._version = version
        self._http: WSGIServer | None = None
        self._registration: Any = None
        self._loop: gevent.Greenlet | None = None
        self._keeper: gevent.Greenlet | None = None
        self._stop = gevent.event.Event()
        self.address = ""

    def _active(self) -> bool:
        if self.lease is not None:
            return self.lease.held()
        peers = [i.instance_id for i in self.observer.last_seen if i.service == SERVICE_NAME and i.state == "up"] or [
            self.instance_id
        ]
        return self.instance_id <= min(peers)

    def start(self) -> AutoscalerHost:
        from hn_yellow_client import YellowDiscovery

        self._http = WSGIServer(self._bind, status_app(self.autoscaler), log=None, error_log=None)
        self._http.start()
        self.address = f"{self._advertise}:{self._http.server_port}"
        endpoints = {"http": self.address, "metrics": self.address}

        def describe() -> Instance:
            return Instance(
                service=SERVICE_NAME,
                instance_id=self.instance_id,
                endpoints=endpoints,
                version=self._version,
                load=0.0,
                state="draining" if self._stop.is_set() else "up",
            )

        discovery = YellowDiscovery(self.yellow, curve_server_key=self._curve_server_key, curve_keys=self._curve_keys)
        self._registration = discovery.register(describe)
        if self.lease is not None:
            self._keeper = gevent.spawn(self.lease.keep, self._stop)
        self._loop = gevent.spawn(self.autoscaler.run, self._stop)
        if self.ready_file:
            _write_atomically(self.ready_file, json.dumps({"instance": self.instance_id, "endpoints": endpoints}))
        _log.info("autoscaler serving", http=self.address, instance=self.instance_id, lease=bool(self.lease))
        return self

    def stop(self) -> None:
        self._stop.set()
        for greenlet in (self._loop, self._keeper):
            if greenlet is not None:
                greenlet.join(timeout=10)  # the keeper releases the lease: a standby takes over
        if self._registration is not None:
            self._registration.close()
            self._registration = None
        if self._http is not None:
            self._http.stop(timeout=1)
            self._http = None


def _write_atomically(path: str, text: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
