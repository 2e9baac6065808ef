"""The policy's promises, as properties: bounds, the band, no flapping, cooldowns, steps, victims."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hn_autoscale import DOWN, UP, Decision, InstanceLoad, Observation, Policy, Rule


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    noise = draw(st.floats(0.0, 0.2))
    calm = (1 - noise) / (1 + noise)
    high = draw(st.floats(0.5, 1.2))
    target = draw(st.floats(0.3, 0.95)) * high * calm
    low = draw(st.floats(0.05, 0.95)) * min(target, high * calm / 2)
    assume(0 < low < target)
    lo = draw(st.integers(1, 3))
    return Rule(
        min_instances=lo,
        max_instances=draw(st.integers(lo, lo + 8)),
        target=target,
        scale_up_above=high,
        scale_down_below=low,
        up_window_s=draw(st.sampled_from([0.0, 1.0, 3.0])),
        down_window_s=draw(st.sampled_from([0.0, 2.0, 5.0])),
        up_cooldown_s=draw(st.sampled_from([0.0, 2.0, 10.0])),
        down_cooldown_s=draw(st.sampled_from([0.0, 5.0, 30.0])),
        max_step_up=draw(st.integers(1, 4)),
        max_step_down=draw(st.integers(1, 3)),
        noise=noise,
    )


def even(count: int, demand: float) -> list[InstanceLoad]:
    return [InstanceLoad(f"svc-{k + 1}", demand / count) for k in range(count)]


def simulate(
    rule: Rule, start: int, demands: Sequence[float], dt: float = 1.0, jitter: Sequence[float] = ()
) -> list[Decision]:
    """Instances follow each decision before the next look (an instant driver). Look k happens
    at k*dt plus jitter[k] (a real loop's rounds are never exactly `dt` apart)."""
    policy = Policy()
    count, decisions = start, []
    for step, demand in enumerate(demands):
        now = step * dt + (jitter[step % len(jitter)] if jitter else 0.0)
        decision = policy.evaluate("svc", rule, Observation(now, even(count, demand), demand), current=start)
        decisions.append(decision)
        count = decision.desired
    return decisions


def test_scale_in_happens_with_rounds_not_exactly_periodic() -> None:
    """A real loop's rounds drift (1.003 s apart): the windows must still count as covered."""
    rule = Rule(min_instances=2, max_instances=4, down_window_s=5, down_cooldown_s=8)
    policy = Policy()
    downs: list[tuple[float, str, int]] = []
    for step in range(40):
        now = step * 1.003
        count = 4 - len(downs)
        decision = policy.evaluate("broker", rule, Observation(now, even(count, 0.0), 0.0), current=4)
        if decision.direction is not None:
            downs.append((round(now, 1), decision.direction, decision.desired))
    assert [d[1:] for d in downs] == [(DOWN, 3), (DOWN, 2)], downs


def changes(decisions: Sequence[Decision]) -> list[Decision]:
    return [d for d in decisions if d.direction is not None]


@settings(max_examples=300, deadline=None)
@given(rules(), st.integers(0, 15), st.lists(st.floats(0.0, 30.0), min_size=1, max_size=120))
def test_bounds_always_respected(rule: Rule, start: int, demands: list[float]) -> None:
    for decision in simulate(rule, start, demands):
        assert rule.min_instances <= decision.desired <= rule.max_instances


@settings(max_examples=300, deadline=None)
@given(rules(), st.data())
def test_noise_inside_the_band_never_scales(rule: Rule, data: st.DataObject) -> None:
    start = data.draw(st.integers(rule.min_instances, rule.max_instances))
    utilizations = data.draw(st.lists(st.floats(rule.scale_down_below, rule.scale_up_above), min_size=1, max_size=150))
    decisions = simulate(rule, start, [u * start for u in utilizations])
    assert changes(decisions) == []


@settings(max_examples=400, deadline=None)
@given(rules(), st.data())
def test_a_steady_noisy_load_never_flaps(rule: Rule, data: st.DataObject) -> None:
    """Demand steady up to `noise`: the count moves in one direction only, then stays."""
    start = data.draw(st.integers(rule.min_instances, rule.max_instances))
    base = data.draw(st.floats(0.01, rule.max_instances * 1.5))
    wobble = data.draw(st.lists(st.floats(-rule.noise, rule.noise), min_size=1, max_size=200))
    jitter = data.draw(st.lists(st.floats(0.0, 0.4), max_size=20))
    decisions = changes(simulate(rule, start, [base * (1 + w) for w in wobble], jitter=jitter))
    assert len({d.direction for d in decisions}) <= 1, [(d.direction, d.previous, d.desired) for d in decisions]


@settings(max_examples=300, deadline=None)
@given(rules(), st.data())
def test_cooldowns_and_steps(rule: Rule, data: st.DataObject) -> None:
    start = data.draw(st.integers(rule.min_instances, rule.max_instances))
    dt = data.draw(st.sampled_from([0.5, 1.0, 2.0]))
    demands = data.draw(st.lists(st.floats(0.0, rule.max_instances * 2.0), min_size=1, max_size=150))
    jitter = data.draw(st.lists(st.floats(0.0, 0.4), max_size=20))
    decisions = simulate(rule, start, demands, dt, jitter)
    last_up = last_change = None
    for step, decision in enumerate(decisions):
        now = step * dt + (jitter[step % len(jitter)] if jitter else 0.0)
        if decision.direction == UP:
            assert decision.desired - decision.previous <= rule.max_step_up
            if last_up is not None:
                assert now - last_up >= rule.up_cooldown_s
            last_up = last_change = now
        elif decision.direction == DOWN:
            assert decision.previous - decision.desired <= rule.max_step_down
            if last_change is not None:
                assert now - last_change >= rule.down_cooldown_s
            last_change = now


def test_scale_in_drains_the_least_loaded_and_never_a_busy_one() -> None:
    rule = Rule(min_instances=1, max_instances=5, down_window_s=2, down_cooldown_s=0, victim_max_load=0.05)
    policy = Policy()
    loads = [InstanceLoad("match-1", 0.2), InstanceLoad("match-2", 0.0), InstanceLoad("match-3", 0.1)]
    decisions = [policy.evaluate("match", rule, Observation(t, loads, 0.3)) for t in range(4)]
    down = changes(decisions)
    assert [(d.direction, d.victims) for d in down] == [(DOWN, ("match-2",))]
    # All of them busy: nobody is drained, however idle the service is overall.
    busy = [InstanceLoad("match-1", 0.1), InstanceLoad("match-2", 0.1), InstanceLoad("match-3", 0.1)]
    policy = Policy()
    held = [policy.evaluate("match", rule, Observation(t, busy, 0.3)) for t in range(6)]
    assert changes(held) == []
    assert held[-1].reason == "no instance idle enough to drain"


def test_scale_up_sizes_to_target_and_holds_while_converging() -> None:
    rule = Rule(min_instances=2, max_instances=8, target=0.5, up_window_s=0, up_cooldown_s=0, max_step_up=4)
    policy = Policy()
    first = policy.evaluate("broker", rule, Observation(0, even(2, 1.9), 1.9))
    assert (first.direction, first.desired) == (UP, 4)
    # The new instances are not up yet: no second decision on the old instances' loads.
    again = policy.evaluate("broker", rule, Observation(1, even(2, 1.9), 1.9))
    assert (again.direction, again.reason) == (None, "converging")
    settled = policy.evaluate("broker", rule, Observation(2, even(4, 1.9), 1.9))
    assert settled.direction is None and settled.desired == 4


def test_unknown_demand_decides_nothing_but_bounds() -> None:
    rule = Rule(min_instances=2, max_instances=3)
    policy = Policy()
    decision = policy.evaluate("sso", rule, Observation(0, even(5, 1.0), None), current=5)
    assert (decision.direction, decision.desired, decision.victims) == (DOWN, 3, ("svc-5", "svc-4"))
    assert policy.evaluate("sso", rule, Observation(1, even(3, 1.0), None)).reason == "no data"


@pytest.mark.parametrize(
    "fields",
    [
        {"min_instances": 0},
        {"min_instances": 3, "max_instances": 2},
        {"target": 0.74},
        {"scale_down_below": 0.5},
        {"scale_down_below": 0.31},
        {"max_step_up": 0},
    ],
)
def test_rules_that_would_flap_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="invalid scaling rule"):
        Rule(**fields)  # type: ignore[arg-type]
