"""The scaling policy: a pure function of what was observed, the rule, and the time.

Demand is counted in instances: 2.4 means "2.4 instances' worth of work" (the sum of the loads
the instances report, or a request rate divided by what one instance handles). Utilization is
demand per live instance. Per service, `Policy.evaluate` turns one observation into a Decision:

* bounds first: the desired count always lies in [min_instances, max_instances];
* a hysteresis band: nothing happens while utilization stays within
  [scale_down_below, scale_up_above];
* scale-up when the mean utilization over `up_window_s` is above the band, to the count that
  brings it back to `target` (at least one more, at most `max_step_up` more, and not so many
  that it would fall under the band), at most once per `up_cooldown_s`;
* scale-in when *every* sample of the last `down_window_s` is under the band, to the count the
  window's *peak* demand needs at `target` (at most `max_step_down` fewer), not sooner than
  `down_cooldown_s` after any change; the instances to drain are the least loaded live ones,
  and only those at or under `victim_max_load` (0: idle ones only);
* no decision while the live count has not caught up with the last one (instances starting or
  draining), for up to `settle_timeout_s`.

Sizing to `target` rather than stepping one by one is what keeps a steady load from flapping:
`Rule` refuses a band so narrow that demand varying by `noise` (relative) could push a freshly
shrunk service back over the band, or a freshly grown one back under it. The property tests (tests/test_policy.py) check exactly these claims.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["UP", "DOWN", "Rule", "InstanceLoad", "Observation", "Decision", "ServiceState", "Policy"]

UP = "up"
DOWN = "down"
_EPS = 1e-9


@dataclass(frozen=True)
class Rule:
    """How one service scales. Times in seconds; loads and utilizations 0 idle .. 1 full."""

    min_instances: int = 1
    max_instances: int = 4
    #: utilization a scaling decision aims at
    target: float = 0.5
    scale_up_above: float = 0.75
    scale_down_below: float = 0.3
    up_window_s: float = 3.0
    down_window_s: float = 15.0
    up_cooldown_s: float = 10.0
    down_cooldown_s: float = 30.0
    max_step_up: int = 2
    max_step_down: int = 1
    settle_timeout_s: float = 90.0
    #: scale-in drains only instances at or under this load (1.0: any; 0.0: idle ones only)
    victim_max_load: float = 1.0
    #: relative noise on demand the band must absorb without flapping (validated against target)
    noise: float = 0.1

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.min_instances <= self.max_instances:
            problems.append("need 1 <= min_instances <= max_instances")
        if not 0 < self.scale_down_below < self.target < self.scale_up_above:
            problems.append("need 0 < scale_down_below < target < scale_up_above")
        if not 0 <= self.noise < 0.5:
            problems.append("need 0 <= noise < 0.5")
        else:
            calm = (1 - self.noise) / (1 + self.noise)
            if self.target >= self.scale_up_above * calm:
                problems.append(
                    f"target {self.target} is too close to scale_up_above {self.scale_up_above} for noise "
                    f"{self.noise}: a freshly shrunk service would scale up again "
                    "(need target < scale_up_above*(1-noise)/(1+noise))"
                )
            if self.scale_down_below >= self.scale_up_above * calm / 2:
                problems.append(
                    f"scale_down_below {self.scale_down_below} is too close to scale_up_above "
                    f"{self.scale_up_above} / 2 for noise {self.noise}: a service just grown by one would "
                    "scale in again (need scale_down_below < scale_up_above*(1-noise)/(1+noise)/2)"
                )
        if self.max_step_up < 1 or self.max_step_down < 1:
            problems.append("steps must be at least 1")
        if min(self.up_window_s, self.down_window_s, self.up_cooldown_s, self.down_cooldown_s) < 0:
            problems.append("windows and cooldowns cannot be negative")
        if problems:
            raise ValueError("invalid scaling rule: " + "; ".join(problems))

    def clamp(self, count: int) -> int:
        return max(self.min_instances, min(self.max_instances, count))


@dataclass(frozen=True)
class InstanceLoad:
    """One instance as discovery sees it."""

    instance_id: str
    load: float
    state: str = "up"


@dataclass(frozen=True)
class Observation:
    """One look at a service: its instances, and its demand in instances (None: unknown)."""

    now: float
    instances: Sequence[InstanceLoad]
    demand: float | None

    @property
    def live(self) -> list[InstanceLoad]:
        return [i for i in self.instances if i.state == "up"]


@dataclass(frozen=True)
class Decision:
    service: str
    #: UP, DOWN, or None (hold)
    direction: str | None
    desired: int
    previous: int
    actual: int
    utilization: float | None
    reason: str
    #: instances to drain (scale-in), least loaded first
    victims: tuple[str, ...] = ()


@dataclass
class _Sample:
    at: float
    demand: float
    utilization: float


@dataclass
class ServiceState:
    """What the policy remembers about one service between observations."""

    desired: int | None = None
    changed_at: float = -math.inf
    last_up: float = -math.inf
    samples: deque[_Sample] = field(default_factory=deque)
    decisions: dict[str, int] = field(default_factory=lambda: {UP: 0, DOWN: 0})


class Policy:
    """Decides per service; keeps each service's state. Pure: no I/O, time comes in observations."""

    def __init__(self) -> None:
        self.states: dict[str, ServiceState] = {}

    def state(self, service: str) -> ServiceState:
        return self.states.setdefault(service, ServiceState())

    def forget(self) -> None:
        """Forget every service: the next evaluation starts from the driver's count again."""
        self.states.clear()

    def evaluate(self, service: str, rule: Rule, observation: Observation, *, current: int | None = None) -> Decision:
        """One observation of `service` in, one decision out.

        `current`: the count the driver runs now (it seeds the desired count on the first call,
        so an autoscaler that restarts picks up where the platform is); default: the live count.
        """
        state = self.state(service)
        now = observation.now
        live = observation.live
        actual = len(live)
        if state.desired is None:
            state.desired = current if current is not None else actual
            state.changed_at = now
        previous = state.desired
        utilization = None
        if observation.demand is not None and actual > 0:
            utilization = max(0.0, observation.demand) / actual

        def hold(reason: str) -> Decision:
            return Decision(service, None, previous, previous, actual, utilization, reason)

        bounded = rule.clamp(previous)
        if bounded != previous:
            direction = UP if bounded > previous else DOWN
            return self._change(state, service, direction, bounded, previous, actual, utilization, "bounds", live, now)
        if actual != previous and now - state.changed_at < rule.settle_timeout_s:
            return hold("converging")
        if utilization is None or observation.demand is None:
            return hold("no data")
        state.samples.append(_Sample(now, max(0.0, observation.demand), utilization))
        # Keep one sample at or past the longest window's start: it shows the window is covered.
        horizon = max(rule.up_window_s, rule.down_window_s)
        while len(state.samples) > 1 and state.samples[1].at <= now - horizon + _EPS:
            state.samples.popleft()

        up = self._window(state, now, rule.up_window_s)
        if up and now - state.last_up >= rule.up_cooldown_s:
            mean_u = sum(s.utilization for s in up) / len(up)
            if mean_u > rule.scale_up_above + _EPS:
                demand = sum(s.demand for s in up) / len(up)
                # Enough to bring utilization to target, but never so many that the demand, at
                # its noisy low, would leave them under the band (and scale in again).
                calm = (1 - rule.noise) / (1 + rule.noise)
                sized = min(math.ceil(demand / rule.target - _EPS), math.floor(demand * calm / rule.scale_down_below))
                want = max(previous + 1, sized)
                want = min(want, previous + rule.max_step_up, rule.max_instances)
                if want > previous:
                    reason = f"utilization {mean_u:.2f} > {rule.scale_up_above} over {rule.up_window_s:g}s"
                    return self._change(state, service, UP, want, previous, actual, utilization, reason, live, now)
        down = self._window(state, now, rule.down_window_s)
        if down and now - state.changed_at >= rule.down_cooldown_s:
            if all(s.utilization < rule.scale_down_below - _EPS for s in down):
                peak = max(s.demand for s in down)
                want = max(math.ceil(peak / rule.target - _EPS), previous - rule.max_step_down, rule.min_instances)
                if want < previous:
                    reason = (
                        f"utilization < {rule.scale_down_below} for {rule.down_window_s:g}s (peak demand {peak:.2f})"
                    )
                    victims = choose_victims(live, previous - want, rule.victim_max_load)
                    if not victims:
                        return hold("no instance idle enough to drain")
                    want = previous - len(victims)
                    return self._change(
                        state, service, DOWN, want, previous, actual, utilization, reason, live, now, victims
                    )
        return hold("within band")

    @staticmethod
    def _window(state: ServiceState, now: float, window: float) -> list[_Sample]:
        """The samples of the last `window` seconds, if the samples cover it (else none: too
        early to say); with a zero window, the latest sample."""
        if not state.samples:
            return []
        if window <= 0:
            return [state.samples[-1]]
        if state.samples[0].at > now - window + _EPS:
            return []
        return [s for s in state.samples if s.at >= now - window - _EPS]

    @staticmethod
    def _change(
        state: ServiceState,
        service: str,
        direction: str,
        desired: int,
        previous: int,
        actual: int,
        utilization: float | None,
        reason: str,
        live: Sequence[InstanceLoad],
        now: float,
        victims: Sequence[str] = (),
    ) -> Decision:
        if direction == DOWN and not victims:
            # Bounds: over max. Drain the least loaded of the live ones beyond the new count.
            victims = choose_victims(live, max(0, len(live) - desired), 1.0)
        state.desired = desired
        state.changed_at = now
        if direction == UP:
            state.last_up = now
        state.decisions[direction] += 1
        # A new count is a new regime: utilizations measured over the old one no longer apply.
        state.samples.clear()
        return Decision(service, direction, desired, previous, actual, utilization, reason, tuple(victims))


def choose_victims(live: Sequence[InstanceLoad], count: int, max_load: float) -> list[str]:
    """The `count` least loaded live instances at or under `max_load` (newest name first on ties)."""
    eligible = [i for i in live if i.state == "up" and i.load <= max_load + _EPS]
    eligible.sort(key=lambda i: (i.load, _natural_desc(i.instance_id)))
    return [i.instance_id for i in eligible[: max(0, count)]]


def _natural_desc(name: str) -> tuple[int, str]:
    """Sort key preferring the highest-numbered instance (sso-3 before sso-1) among equals."""
    stem, _, number = name.rpartition("-")
    return (-int(number), stem) if number.isdigit() else (0, name)
