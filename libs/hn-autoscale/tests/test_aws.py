"""The AWS driver against moto's AWS API emulator, a real server process (conftest.py): groups made
through boto3, the autoscaler's loop sizing one under a load that comes and goes, the victims
protected against and drained through the termination hook, the hook completed once they left."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from structlog.testing import capture_logs

from hn_autoscale import (
    DOWN,
    DRAIN_HOOK,
    DRIVER_ERRORS,
    UP,
    Autoscaler,
    AwsAsgDriver,
    Decision,
    InstanceLoad,
    Observation,
    Rule,
    ec2_instance_id,
)

from _emulator import Aws

SERVICE = "sso"


class Fleet:
    """What yellow would show of the group's hosts (the observer: the seam the autoscaler owns).

    Each InService instance runs `sso-<EC2 id>`, up, sharing the demand (the newest carrying the
    least). An instance the group holds in Terminating:Wait is draining (its host saw the target
    lifecycle state and stopped its unit) for `drain_rounds` rounds, then leaves yellow. Time is a
    counter, one second a round, shared with the driver."""

    def __init__(self, aws: Aws, group: str, *, drain_rounds: int = 2) -> None:
        self.aws, self.group, self.drain_rounds = aws, group, drain_rounds
        self.demand = 0.0
        self.now = 0.0
        self.draining: dict[str, int] = {}  # EC2 id -> rounds spent draining
        self.left: set[str] = set()

    def clock(self) -> float:
        return self.now

    def observe(self) -> Mapping[str, Observation]:
        self.now += 1.0
        states = self.aws.states(self.group)
        up = sorted(i for i, (state, _) in states.items() if state == "InService")
        for instance, (state, _) in states.items():
            if state == "Terminating:Wait" and instance not in self.left:
                self.draining[instance] = self.draining.get(instance, 0) + 1
                if self.draining[instance] > self.drain_rounds:
                    self.left.add(instance)
        weights = list(range(len(up), 0, -1))
        loads = [
            InstanceLoad(f"{SERVICE}-{i}", self.demand * w / sum(weights), "up")
            for i, w in zip(up, weights, strict=True)
        ]
        loads += [InstanceLoad(f"{SERVICE}-{i}", 0.0, "draining") for i in self.draining if i not in self.left]
        return {SERVICE: Observation(self.now, loads, self.demand)}


def test_the_autoscaler_sizes_a_group_up_under_load_and_in_afterwards_draining_each_victim(aws: Aws) -> None:
    group = aws.group(SERVICE, min_size=1, max_size=4, desired=1)
    fleet = Fleet(aws, group)
    driver = AwsAsgDriver({SERVICE: group}, client=aws.autoscaling, drained_grace_s=1.0, clock=fleet.clock)
    rule = Rule(min_instances=1, max_instances=4, up_window_s=0, up_cooldown_s=0, down_window_s=2, down_cooldown_s=10)
    autoscaler = Autoscaler({SERVICE: rule}, driver=driver, observer=fleet)

    # Under load: 1.6 instances' worth on one host; sized for 0.5 each, two more at most per step.
    fleet.demand = 1.6
    assert [(d.direction, d.desired) for d in autoscaler.step()] == [(UP, 3)]
    described = aws.describe(group)
    assert described["DesiredCapacity"] == 3
    assert [s for s, _ in aws.states(group).values()] == ["InService"] * 3
    assert autoscaler.step() == []  # 0.53 each: inside the band

    # The load goes: the least loaded host is the victim; the others are protected while it drains.
    fleet.demand = 0.3
    decisions = wait_for_decision(autoscaler, rounds=12)
    assert [(d.direction, d.desired) for d in decisions] == [(DOWN, 2)]
    (victim,) = (ec2_instance_id(SERVICE, v) for v in decisions[0].victims)
    assert victim is not None
    states = aws.states(group)
    assert aws.describe(group)["DesiredCapacity"] == 2
    assert states.pop(victim)[0] == "Terminating:Wait", "the hook holds the victim while it drains"
    assert set(states.values()) == {("InService", True)}, "every other host protected from scale-in"
    assert aws.ec2_state(victim) == "running"

    # Draining (still in yellow): the hook stays pending. Gone from yellow: completed, terminated.
    autoscaler.step()
    assert victim in fleet.draining and victim not in fleet.left
    assert aws.states(group)[victim][0] == "Terminating:Wait"
    for _ in range(6):
        assert autoscaler.step() == []
        if victim not in aws.states(group):
            break
    assert victim in fleet.left and victim not in aws.states(group)
    assert aws.ec2_state(victim) == "terminated"

    # Down to the group's minimum, one drained victim at a time, and no further.
    decisions = [d for _ in range(30) for d in autoscaler.step()]
    assert [(d.direction, d.desired) for d in decisions] == [(DOWN, 1)]
    assert aws.describe(group)["DesiredCapacity"] == 1
    assert [state for state, _ in aws.states(group).values()] == ["InService"]
    assert all(aws.ec2_state(i) == "terminated" for i in fleet.left) and len(fleet.left) == 2


def test_scale_out_is_clamped_to_the_group_bounds_and_current_is_its_desired_capacity(aws: Aws) -> None:
    group = aws.group("broker", min_size=2, max_size=3, desired=2, drain_hook=False)
    driver = AwsAsgDriver({"broker": group}, client=aws.autoscaling)
    assert driver.current("broker") == 2 and driver.current("match") is None
    driver.scale_out("broker", 9)  # beyond MaxSize: clamped to it, never refused by AWS
    assert aws.describe(group)["DesiredCapacity"] == 3 and len(aws.states(group)) == 3
    assert driver.current("broker") == 3


def test_scale_in_of_a_victim_the_group_does_not_know_or_at_its_minimum_does_nothing(aws: Aws) -> None:
    group = aws.group("match", min_size=2, max_size=4, desired=3)
    driver = AwsAsgDriver({"match": group}, client=aws.autoscaling)
    before = aws.states(group)
    # Already gone from the group: letting the group choose instead could hit a busy host.
    driver.scale_in("match", 2, ["match-i-0123456789abcdef0"])
    assert aws.states(group) == before and aws.describe(group)["DesiredCapacity"] == 3
    first, second, _ = sorted(before)
    driver.scale_in("match", 2, [f"match-{first}"])
    assert aws.states(group)[first][0] == "Terminating:Wait"
    # At MinSize (2 in service): nothing, whoever is named.
    driver.scale_in("match", 1, [f"match-{second}"])
    assert aws.states(group)[second] == ("InService", True) and aws.describe(group)["DesiredCapacity"] == 2


class Waiting:
    """A group of two whose second instance the driver scaled in: it waits in Terminating:Wait.
    The driver's clock is `now[0]`; its grace is 3 s."""

    def __init__(self, aws: Aws) -> None:
        self.group = aws.group("sso", min_size=1, max_size=3, desired=2)
        self.now = [0.0]
        self.driver = AwsAsgDriver(
            {"sso": self.group}, client=aws.autoscaling, drained_grace_s=3.0, clock=lambda: self.now[0]
        )
        self.keep, self.victim = sorted(aws.states(self.group))
        self.driver.scale_in("sso", 1, [f"sso-{self.victim}"])


def test_finish_drains_completes_the_hook_once_the_instance_is_gone_from_yellow_for_the_grace(aws: Aws) -> None:
    waiting = Waiting(aws)
    driver, now, keep, victim = waiting.driver, waiting.now, waiting.keep, waiting.victim
    # Yellow lost sight of it for less than the grace (a yellow restarting): not drained yet.
    assert driver.finish_drains("sso", [f"sso-{keep}"]) == []
    now[0] = 2.0
    assert driver.finish_drains("sso", [f"sso-{keep}"]) == []
    now[0] = 3.0
    assert driver.finish_drains("sso", [f"sso-{keep}"]) == [victim]
    assert victim not in aws.states(waiting.group) and aws.ec2_state(victim) == "terminated"
    assert driver.finish_drains("other", []) == []  # a service it has no group for


def test_an_instance_seen_again_in_yellow_starts_its_grace_over(aws: Aws) -> None:
    waiting = Waiting(aws)
    driver, now, keep, victim = waiting.driver, waiting.now, waiting.keep, waiting.victim
    assert driver.finish_drains("sso", []) == []  # missing since 0
    now[0] = 2.0
    assert driver.finish_drains("sso", [f"sso-{victim}"]) == []  # listed again (draining)
    now[0] = 4.0
    assert driver.finish_drains("sso", []) == []  # missing since 4, not 0
    now[0] = 7.0
    assert driver.finish_drains("sso", [f"sso-{keep}"]) == [victim]


def wait_for_decision(autoscaler: Autoscaler, *, rounds: int) -> list[Decision]:
    """The decisions of the first round that has any, within `rounds` rounds."""
    for _ in range(rounds):
        decisions = autoscaler.step()
        if decisions:
            return decisions
    return []


class HookTimesOutMeanwhile:
    """The emulator's client, except that between the driver's look at the group and its
    CompleteLifecycleAction the waiting instances' hooks end on their own (their timeout)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def describe_auto_scaling_groups(self, **kwargs: Any) -> Any:
        seen = self.client.describe_auto_scaling_groups(**kwargs)
        for group in seen["AutoScalingGroups"]:
            for instance in group["Instances"]:
                if instance["LifecycleState"] == "Terminating:Wait":
                    self.client.complete_lifecycle_action(
                        AutoScalingGroupName=group["AutoScalingGroupName"],
                        LifecycleHookName=DRAIN_HOOK,
                        InstanceId=instance["InstanceId"],
                        LifecycleActionResult="CONTINUE",
                    )
        return seen


def test_a_hook_already_over_is_let_pass_and_a_wrong_hook_is_a_driver_error(aws: Aws) -> None:
    group = aws.group("sso", min_size=1, max_size=3, desired=3)
    _, first, second = sorted(aws.states(group))
    late = AwsAsgDriver({"sso": group}, client=HookTimesOutMeanwhile(aws.autoscaling), drained_grace_s=0.0)
    late.scale_in("sso", 2, [f"sso-{first}"])
    with capture_logs() as logs:
        assert late.finish_drains("sso", []) == [first]  # AWS: "No active Lifecycle Action found"
    assert any(e["event"] == "termination hook already over" for e in logs)
    assert first not in aws.states(group)
    # A hook name the group does not have is a mistake to see, not a drain to take as finished.
    wrong = AwsAsgDriver({"sso": group}, client=aws.autoscaling, drain_hook="hn-misnamed", drained_grace_s=0.0)
    wrong.scale_in("sso", 1, [f"sso-{second}"])
    autoscaler = Autoscaler({"sso": Rule(min_instances=1)}, driver=wrong, observer=Still("sso", []))
    errors = DRIVER_ERRORS.labels("sso")._value.get()
    with capture_logs() as logs:
        autoscaler.step()
    assert DRIVER_ERRORS.labels("sso")._value.get() == errors + 1
    assert any(e["event"] == "driver failed to finish drains" for e in logs)
    assert aws.states(group)[second][0] == "Terminating:Wait"


class Still:
    """An observer: one service, these instances up, no demand."""

    def __init__(self, service: str, instances: list[str]) -> None:
        self.service, self.instances, self.now = service, instances, 0.0

    def observe(self) -> Mapping[str, Observation]:
        self.now += 1.0
        return {self.service: Observation(self.now, [InstanceLoad(i, 0.0) for i in self.instances], None)}


def test_yellow_instance_ids_name_ec2_instances() -> None:
    assert ec2_instance_id("broker", "broker-i-0abc123") == "i-0abc123"
    assert ec2_instance_id("broker", "broker-1") is None
