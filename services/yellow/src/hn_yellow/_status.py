"""The status page's view: instances, each service's rate, errors and p99, and the data tier.

A `StatusCollector` scrapes every live instance's metrics endpoint and probes the data tier
(`hn_datatier.probe_data_tier`) together, every `interval` seconds, but only while someone looks
(a page or a script read the view in the last `idle_after` seconds): yellow is discovery first,
and an unwatched page costs nothing. Requests read the last view and never wait on a scrape,
except the very first, which waits for one round (itself time-bounded).
"""

from __future__ import annotations

import dataclasses
import os
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent.event import Event

from hn_datatier import ProbeConfig, probe_data_tier
from hn_runtime import get_logger
from hn_yellow._rates import FAMILIES, Counts, Window, parse_counts, summarize
from hn_yellow._registry import DOWN, Registry, by_service

__all__ = ["StatusCollector", "StatusConfig"]

_log = get_logger("hn.yellow.status")

Fetch = Callable[[str, float], str]


def _http_get(url: str, timeout: float) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


@dataclass(frozen=True)
class StatusConfig:
    """HN_STATUS_INTERVAL (seconds between rounds, 2), HN_STATUS_WINDOW (seconds rates are taken
    over, 30), HN_STATUS_SCRAPE_TIMEOUT (1), HN_STATUS_IDLE_AFTER (60); the data tier's probe
    from its own variables (`hn_datatier.ProbeConfig.from_env`: without them the page's data-tier
    section says "not configured")."""

    probe: ProbeConfig = field(default_factory=ProbeConfig)
    interval: float = 2.0
    window: float = 30.0
    scrape_timeout: float = 1.0
    idle_after: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StatusConfig:
        env = os.environ if env is None else env
        return cls(
            probe=ProbeConfig.from_env(env),
            interval=float(env.get("HN_STATUS_INTERVAL", "2")),
            window=float(env.get("HN_STATUS_WINDOW", "30")),
            scrape_timeout=float(env.get("HN_STATUS_SCRAPE_TIMEOUT", "1")),
            idle_after=float(env.get("HN_STATUS_IDLE_AFTER", "60")),
        )


class StatusCollector:
    def __init__(
        self,
        registry: Registry,
        config: StatusConfig,
        *,
        fetch: Fetch = _http_get,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.config = config
        self._fetch = fetch
        self._clock = clock
        #: instance id -> (time, counts per family) of its recent scrapes, oldest first
        self._history: dict[str, deque[tuple[float, dict[str, Counts]]]] = {}
        self._errors: dict[str, str] = {}
        self._data_tier: dict[str, Any] = {"configured": config.probe.configured}
        self._collected_at = 0.0
        self._viewed_at = -float("inf")
        self._wanted = Event()
        self._ready = Event()
        self._loop: gevent.Greenlet | None = None

    # -- the loop --------------------------------------------------------------------------

    def start(self) -> None:
        self._loop = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.kill()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            if self._clock() - self._viewed_at > self.config.idle_after:
                self._wanted.clear()  # no one looks: sleep until someone does
                continue
            try:
                self.collect()
            except Exception:  # noqa: BLE001  (the page shows the last view; the next round retries)
                _log.exception("status round failed")
            gevent.sleep(self.config.interval)

    def collect(self) -> None:
        """One round: every live instance's metrics and the data tier, at once, time-bounded."""
        targets = {
            info.instance_id: (info.service_name, info.endpoints["metrics"])
            for info in self.registry.instances()
            if info.state != DOWN and "metrics" in (info.endpoints or {})
        }
        scrapes = {
            iid: gevent.spawn(self._fetch, f"http://{address}/metrics", self.config.scrape_timeout)
            for iid, (_, address) in targets.items()
        }
        probe = gevent.spawn(probe_data_tier, self.config.probe)
        gevent.joinall([*scrapes.values(), probe], timeout=2 * self.config.probe.timeout + 1.0)
        now = self._clock()
        errors = {}
        for iid, job in scrapes.items():
            if not job.successful():
                job.kill(block=False)
                errors[iid] = repr(job.exception) if job.exception is not None else "no answer in time"
                continue
            try:
                counts = parse_counts(job.value, targets[iid][0])
            except ValueError as exc:
                errors[iid] = f"unreadable metrics: {exc}"
                continue
            history = self._history.setdefault(iid, deque())
            history.append((now, counts))
            # Keep one scrape at least `window` old: rates span the whole window once it is full.
            while len(history) > 2 and history[1][0] <= now - self.config.window:
                history.popleft()
        for gone in set(self._history) - set(targets):
            del self._history[gone]
        self._errors = errors
        if probe.successful():
            self._data_tier = dataclasses.asdict(probe.value)
        else:
            probe.kill(block=False)
            self._data_tier = {"configured": True, "error": "the data-tier probe did not finish in time"}
        self._collected_at = time.time()
        self._ready.set()

    # -- the view --------------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        """The view as JSON-friendly data (`/status.json`, and what the page shows)."""
        self._viewed_at = self._clock()
        self._wanted.set()
        if not self._ready.is_set() and self._loop is not None:
            self._ready.wait(timeout=2 * self.config.probe.timeout + self.config.scrape_timeout + 1.0)
        return {
            "server_id": self.registry.server_id,
            "sequence": self.registry.sequence,
            "collected_at": self._collected_at,
            "window_seconds": self.config.window,
            "instances": self._instances(),
            "services": self._services(),
            "data_tier": self._data_tier,
        }

    def _instances(self) -> list[dict[str, Any]]:
        now_ms = time.time() * 1000
        return [
            {
                "service": info.service_name,
                "instance": info.instance_id,
                "state": info.state,
                "load": info.load or 0.0,
                "version": info.version or "",
                "seconds_since_heartbeat": round((now_ms - (info.last_seen_ms or 0)) / 1000, 1),
                "endpoints": dict(sorted((info.endpoints or {}).items())),
                "metrics_error": self._errors.get(info.instance_id, ""),
            }
            for info in self.registry.instances()
        ]

    def _services(self) -> list[dict[str, Any]]:
        rows = []
        for service, infos in sorted(by_service(self.registry.instances()).items()):
            live = [i.instance_id for i in infos if i.state != DOWN]
            for family in FAMILIES:
                total, seen = Window(), False
                for iid in live:
                    history = self._history.get(iid)
                    if not history or family.key not in history[-1][1]:
                        continue
                    seen = True
                    (t0, old), (t1, new) = history[0], history[-1]
                    if t1 > t0:
                        total.add(Window.between(old.get(family.key, Counts()), new[family.key], t1 - t0))
                if not seen and family is not FAMILIES[0]:
                    continue  # a family this service does not export (client packets: brokers only)
                rows.append(
                    {
                        "service": service,
                        "family": family.key,
                        "instances": len(live),
                        "scrape_errors": sum(1 for iid in live if iid in self._errors),
                        **summarize(total),
                    }
                )
        return rows
