"""The broker's fence: when this broker cannot reach the platform, it stops holding players.

A broker cut off from yellow, or from every instance of a service its players need, would keep
its players' connections and answer each of their calls with an error or a timeout, for as long
as the cut lasts: their SDKs see a live broker and never move. The fence decides when the broker
is cut off and when it is back; the broker (`Broker.fence_up` / `fence_down`) then turns its
players away to other brokers (BROKER_UNAVAILABLE, the code the SDKs already answer by
reconnecting through brokerlist and resuming), stops accepting, and reports itself "draining"
in yellow so that brokerlist stops listing it; and takes players again once the fence lifts.

What "reachable" means here, so that a healthy broker is never fenced:

- **yellow**: some yellow answered or published within the window (yellow publishes a tick every
  second), and yellow lists this broker (up or draining; a yellow that stopped hearing this
  broker's heartbeats lists it down, and brokerlist and the services' pushes then pass it by).
- **a service its players need** (one that publishes client routes): at least one of the
  instances yellow lists "up" answered a call within the window: a client request forwarded
  (passively: costs the hot path one set insertion), or, when no request answered lately, the
  fence's own `health` probe of a few of those instances. One dead or slow instance is yellow's
  business, not the fence's: any other instance answering is enough. A service yellow lists no
  live instance of is down for every broker alike, and moving players would not help: it does
  not count.

The broker fences once some target has been unreachable for `after_s` seconds (one slow call,
one lost probe cannot do it: only an unbroken silence), and lifts the fence once every target
has been reachable, unbroken, for `hold_s` (hysteresis); a fence soon after a lift (a flapping
link) doubles the hold, up to a minute, so that players are not bounced back and forth.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import gevent
from prometheus_client import Counter, Gauge

from hn_runtime import get_logger
from hn_runtime.discovery import DOWN, UP, Instance

__all__ = ["Fence", "HearsYellow", "YELLOW"]

_log = get_logger("hn.broker.fence")
FENCED = Gauge("hn_broker_fenced", "1 while this broker is fenced off (cut off from yellow or a needed service).")
FENCES = Counter(
    "hn_broker_fence_total", "Times this broker fenced itself, by the target it could not reach.", ["reason"]
)
LIFTS = Counter("hn_broker_fence_lifted_total", "Times this broker's fence lifted (reachability back).")
MOVED = Counter(
    "hn_broker_fence_moved_total", "Game-client connections a fence told to move to another broker, then closed."
)
UNREACHABLE = Gauge(
    "hn_broker_unreachable_seconds",
    "Seconds since this broker last reached the target (yellow, or any live instance of a service).",
    ["target"],
)
PROBES = Counter(
    "hn_broker_fence_probes_total",
    "The fence's health probes of service instances, by outcome.",
    ["service", "outcome"],
)

#: the target name of yellow (service names are the others)
YELLOW = "yellow"
#: yellow publishes a tick every second: that much silence is the normal gap, not news
_YELLOW_TICK_S = 1.0
#: a tick this late (in ticks) means the broker itself was not running (SIGSTOP, a hub stalled):
#: the time it missed is not the network's silence
_LATE_TICKS = 4
#: instances of one service probed at once (a few: any one answering is enough)
_PROBED_AT_ONCE = 3
#: a fence within this long of the last lift counts as flapping: the next hold is doubled
_FLAP_WINDOW_S = 60.0
_MAX_HOLD_S = 60.0


@runtime_checkable
class HearsYellow(Protocol):
    """A directory that says when it last heard from yellow (hn_yellow_client's YellowDirectory)."""

    def last_heard(self) -> float:
        """time.monotonic() of the last word from any yellow; 0.0 if none yet."""
        ...


#: probe(service, instance_id, timeout): True if that instance answered within timeout
Probe = Callable[[str, str, float], bool]


class Fence:
    """Follows reachability every `tick_s`; calls `on_fence(reason, unreachable)` when the
    broker must fence and `on_lift()` (True once it takes players again) when it may lift.

    Feed it the directory's changes (`instances_changed`) and, from the request path, each
    service that answered (`heard.add(service)`)."""

    def __init__(
        self,
        *,
        after_s: float,
        hold_s: float,
        instance_id: str,
        probe: Probe,
        on_fence: Callable[[str, dict[str, float]], None],
        on_lift: Callable[[], bool],
        yellow: HearsYellow | None = None,
        own_service: str = "broker",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`yellow`: None when the broker finds services without yellow (a fixed directory):
        then only the services are watched. `after_s` 0: the fence never closes."""
        self.after_s = after_s
        self.hold_s = hold_s
        self.enabled = after_s > 0
        self.tick_s = min(0.5, max(0.05, after_s / 10))
        self.probe_timeout_s = min(2.0, max(0.1, after_s / 4))
        #: a target reached within this long counts as reachable now (a probe's answer can take
        #: its timeout, and probes start once per tick)
        self.fresh_s = self.probe_timeout_s + 2 * self.tick_s
        self._instance_id = instance_id
        self._own_service = own_service
        self._probe = probe
        self._on_fence = on_fence
        self._on_lift = on_lift
        self._yellow = yellow
        self._clock = clock
        self.fenced = False
        #: services whose requests were answered since the last tick (the request path adds)
        self.heard: set[str] = set()
        started = clock()
        #: needed service -> the ids of its instances yellow lists "up"
        self._live: dict[str, list[str]] = {}
        #: target -> when it was last reached
        self._reached: dict[str, float] = {}
        self._probing: set[str] = set()
        self._listed = False
        self._listed_at = started
        #: silences count from here at the earliest: the start, or the end of a pause of the
        #: broker's own (it heard nothing while it did not run, through no fault of the network)
        self._floor = started
        self._started = started
        self._last_tick = started
        self._clear_since: float | None = None
        #: when a probe of a service last found none of its instances answering
        self._missed_at = 0.0
        self._fenced_at = 0.0
        self._lifted_at: float | None = None
        self._hold = hold_s
        self._loop: gevent.Greenlet | None = None
        FENCED.set(0)

    # -- inputs ------------------------------------------------------------------------------

    def instances_changed(self, service: str, instances: Sequence[Instance]) -> None:
        """A directory change (called in the hub: must not block)."""
        if service == self._own_service:
            me = [i for i in instances if i.instance_id == self._instance_id]
            listed = bool(me) and me[0].state != DOWN
            if self._listed and not listed:
                self._listed_at = self._clock()
            self._listed = listed
            return
        if service not in self._live and not any(i.client_routes for i in instances):
            return  # players send it nothing: not theirs to need
        # An instance with no request endpoint takes no one's calls: not a cut of this broker's.
        self._live[service] = [i.instance_id for i in instances if i.state == UP and "rep" in i.endpoints]

    # -- the loop ----------------------------------------------------------------------------

    def start(self) -> None:
        if self.enabled and self._loop is None:
            # Silences count from now: the broker may have waited a while for its first view.
            now = self._clock()
            self._started = self._floor = self._last_tick = now
            self._listed_at = max(self._listed_at, now)
            self._loop = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.kill(block=False)
            self._loop = None

    def _run(self) -> None:
        while True:
            gevent.sleep(self.tick_s)
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - the fence must outlive one bad tick
                _log.error("fence tick failed", exc_info=exc)

    def silences(self, *, since_pause: bool = True) -> dict[str, float]:
        """Seconds since each target was last reached, as of now; `since_pause`: counted from
        the end of the broker's own last pause at the earliest (to fence, not to lift: what
        reached it since must be real)."""
        now = self._clock()
        floor = self._floor if since_pause else self._started
        silent = {service: now - max(self._reached.get(service, now), floor) for service in self._live}
        if self._yellow is not None:
            if self._listed:
                self._listed_at = now
            # Yellow speaks once a second: the gap between two ticks is not silence.
            heard = self._yellow.last_heard() + _YELLOW_TICK_S
            silent[YELLOW] = max(0.0, now - max(min(heard, self._listed_at), floor))
        return silent

    def tick(self) -> None:
        """One look: refresh what was reached, probe what was not lately, fence or lift."""
        now = self._clock()
        if now - self._last_tick > _LATE_TICKS * self.tick_s + 1.0:
            _log.warning("fence: this broker did not run for a while, silences restart", paused_s=now - self._last_tick)
            self._floor = now
        self._last_tick = now
        heard, self.heard = self.heard, set()
        for service in heard:
            self._reached[service] = now
        for service, live in self._live.items():
            if not live or service not in self._reached:
                # Nothing live to reach (down for every broker alike), or new: not silent.
                self._reached[service] = now
            elif now - self._reached[service] >= self.tick_s and service not in self._probing:
                self._probing.add(service)
                gevent.spawn(self._probe_service, service, list(live))
        silent = self.silences(since_pause=not self.fenced)
        for target, seconds in silent.items():
            UNREACHABLE.labels(target).set(round(max(0.0, seconds), 3))
        if not self.fenced:
            cut = {target: round(s, 2) for target, s in silent.items() if s >= self.after_s}
            if cut:
                self._fence(now, cut, silent)
            return
        stale = [target for target, s in silent.items() if s > self._fresh(target)]
        if stale or (self._clear_since is not None and self._missed_at >= self._clear_since):
            self._clear_since = None  # a flap: the hold starts again
            return
        if self._clear_since is None:
            self._clear_since = now
            _log.info("fenced broker reaches the platform again: holding before lifting", hold_s=self._hold)
        if now - self._clear_since >= self._hold:
            self._lift(now)

    def _fresh(self, target: str) -> float:
        # Yellow's silence already leaves out its tick's gap; its ticks come on time or not.
        return self.fresh_s + _YELLOW_TICK_S if target == YELLOW else self.fresh_s

    def _fence(self, now: float, cut: dict[str, float], silent: dict[str, float]) -> None:
        reason = YELLOW if YELLOW in cut else "services"
        flapping = self._lifted_at is not None and now - self._lifted_at < _FLAP_WINDOW_S
        self._hold = min(self._hold * 2, _MAX_HOLD_S) if flapping else self.hold_s
        self.fenced = True
        self._fenced_at = now
        self._clear_since = None
        FENCED.set(1)
        FENCES.labels(reason).inc()
        _log.warning(
            "fenced: cut off from the platform, turning players away",
            reason=reason,
            unreachable_s=cut,
            listed_in_yellow=self._listed if self._yellow is not None else None,
            silences_s={target: round(s, 2) for target, s in silent.items()},
            after_s=self.after_s,
            hold_s=self._hold,
            flapping=flapping,
        )
        self._on_fence(reason, cut)

    def _lift(self, now: float) -> None:
        if not self._on_lift():
            return  # it could not take players yet (its port): tried again next tick
        self.fenced = False
        self._lifted_at = now
        self._clear_since = None
        FENCED.set(0)
        LIFTS.inc()
        _log.info("fence lifted: taking players again", fenced_for_s=round(now - self._fenced_at, 2), hold_s=self._hold)

    # -- probes ------------------------------------------------------------------------------

    def _probe_service(self, service: str, live: list[str]) -> None:
        """Ask a few of the service's live instances for `health`; any answer reaches it."""
        try:
            picked = random.sample(live, min(_PROBED_AT_ONCE, len(live)))
            probes = [gevent.spawn(self._probe_one, service, iid) for iid in picked]
            gevent.joinall(probes)
            if not any(probe.value for probe in probes):
                self._missed_at = self._clock()
        finally:
            self._probing.discard(service)

    def _probe_one(self, service: str, instance_id: str) -> bool:
        try:
            answered = self._probe(service, instance_id, self.probe_timeout_s)
        except Exception as exc:  # noqa: BLE001 - a probe that fails is an unreached instance
            _log.info("fence probe failed", service=service, instance=instance_id, error=str(exc))
            answered = False
        PROBES.labels(service, "ok" if answered else "failed").inc()
        if answered:
            self._reached[service] = self._clock()
        return answered
