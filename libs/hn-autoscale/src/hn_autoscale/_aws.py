"""The AWS driver: each service's autoscaling group (infra/terraform/modules/hn-service).

Scale-out sets the group's desired capacity. Scale-in must not let the group pick whom to
terminate (its termination policy knows nothing of load: it could pick the busiest host), so
the driver uses scale-in protection to make the choice itself:

1. every other instance of the group (launching or in service) is protected from scale-in;
2. the victims (the least loaded instances, chosen by the policy) are unprotected;
3. the desired capacity drops by the number of victims.

The group can then only terminate the victims. A victim the group does not know (already gone,
or its yellow instance id does not name an EC2 instance) cancels the scale-in for this round: the
next round decides again from fresh data. Desired capacities stay within the group's
MinSize..MaxSize.

A victim drains before it goes. The autoscaled groups have a termination lifecycle hook
(`hn-draining`): the group holds a terminating instance in `Terminating:Wait`, the host sees that
in its instance metadata and stops its unit (SIGTERM: the service turns "draining" in yellow,
refuses new work, which callers retry elsewhere, finishes what it has and deregisters), and every
round `finish_drains` completes the hook (CONTINUE) for each waiting instance yellow no longer
lists: only then does EC2 terminate it. The same goes for the old hosts of a rolling deploy. An
instance yellow lost sight of for less than `drained_grace_s` is not taken for drained (a yellow
restarting forgets instances for a heartbeat or two); the hook's own timeout ends a drain that
nobody completes (the autoscaler down).

Yellow instance ids on AWS are `<service>-<EC2 instance id>` (pex-unit's prepare step sets
HN_INSTANCE so), which is how a victim is found in its group.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from hn_runtime import get_logger

__all__ = ["AwsAsgDriver", "DRAIN_HOOK", "ec2_instance_id"]

_log = get_logger("hn.autoscale")
#: set_instance_protection takes at most this many instance ids per call
_PROTECTION_BATCH = 50
#: The termination lifecycle hook of the autoscaled groups (infra/terraform/modules/hn-service).
DRAIN_HOOK = "hn-draining"
_WAITING = "Terminating:Wait"
_GONE = ("Terminating", "Terminating:Wait", "Terminating:Proceed", "Terminated", "Detaching", "Detached")


def ec2_instance_id(service: str, instance_id: str) -> str | None:
    """The EC2 id in a yellow instance id (`broker-i-0abc...` -> `i-0abc...`), or None."""
    rest = instance_id.removeprefix(f"{service}-")
    return rest if rest.startswith("i-") else None


class AwsAsgDriver:
    def __init__(
        self,
        groups: Mapping[str, str],
        *,
        client: Any = None,
        region: str | None = None,
        instance_of: Callable[[str, str], str | None] = ec2_instance_id,
        drain_hook: str = DRAIN_HOOK,
        drained_grace_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """groups: service -> autoscaling group name. client: a boto3 "autoscaling" client.
        drain_hook: the groups' termination lifecycle hook; drained_grace_s: how long an instance
        must be missing from yellow before its drain counts as finished."""
        if client is None:
            import boto3  # type: ignore[import-untyped]

            client = boto3.client("autoscaling", region_name=region)
        self.client = client
        self.groups = dict(groups)
        self.instance_of = instance_of
        self.drain_hook = drain_hook
        self.drained_grace_s = drained_grace_s
        self.clock = clock
        #: EC2 id -> when yellow was first seen without it, for instances waiting to terminate
        self._missing_since: dict[str, float] = {}

    @classmethod
    def from_config(cls, aws: Mapping[str, Any], services: Collection[str], **options: Any) -> AwsAsgDriver:
        """From the configuration's "aws" section: "region", the groups ("groups": {service: name},
        or "group_template": "hn-prod-{service}" for the services not named there), "drain_hook"
        and "drained_grace_s"."""
        groups = dict(aws.get("groups") or {})
        template = aws.get("group_template")
        for service in services:
            if service not in groups and template:
                groups[service] = str(template).format(service=service)
        return cls(
            groups,
            region=aws.get("region"),
            drain_hook=str(aws.get("drain_hook", DRAIN_HOOK)),
            drained_grace_s=float(aws.get("drained_grace_s", 5.0)),
            **options,
        )

    def _group(self, service: str) -> dict[str, Any]:
        name = self.groups[service]
        found = self.client.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
        if not found:
            raise LookupError(f"no autoscaling group {name!r} for {service}")
        return found[0]  # type: ignore[no-any-return]

    def current(self, service: str) -> int | None:
        if service not in self.groups:
            return None
        return int(self._group(service)["DesiredCapacity"])

    def _set_desired(self, service: str, group: dict[str, Any], desired: int) -> int:
        bounded = max(int(group["MinSize"]), min(int(group["MaxSize"]), desired))
        if bounded != desired:
            _log.warning(
                "desired count outside the group's bounds: clamped",
                service=service,
                group=group["AutoScalingGroupName"],
                desired=desired,
                applied=bounded,
                min_size=group["MinSize"],
                max_size=group["MaxSize"],
            )
        if bounded != int(group["DesiredCapacity"]):
            # HonorCooldown=False: the autoscaler keeps its own cooldowns; the group's would
            # silently refuse a decision already taken.
            self.client.set_desired_capacity(
                AutoScalingGroupName=group["AutoScalingGroupName"], DesiredCapacity=bounded, HonorCooldown=False
            )
            _log.info("desired capacity set", service=service, group=group["AutoScalingGroupName"], desired=bounded)
        return bounded

    def scale_out(self, service: str, desired: int) -> None:
        group = self._group(service)
        if desired > int(group["DesiredCapacity"]):
            self._set_desired(service, group, desired)

    def scale_in(self, service: str, desired: int, victims: Sequence[str]) -> None:
        group = self._group(service)
        name = group["AutoScalingGroupName"]
        members = {i["InstanceId"]: i for i in group.get("Instances", []) if i["LifecycleState"] not in _GONE}
        wanted = {self.instance_of(service, v) for v in victims}
        chosen = sorted(i for i in wanted if i is not None and i in members)
        room = int(group["DesiredCapacity"]) - int(group["MinSize"])
        chosen = chosen[: max(0, room)]
        if not chosen or len(chosen) < len(victims):
            _log.warning(
                "scale-in skipped: victims not (all) in the group, or the group is at its MinSize",
                service=service,
                group=name,
                victims=list(victims),
                found=chosen,
            )
            return
        protect = sorted(i for i, m in members.items() if i not in chosen and not m.get("ProtectedFromScaleIn"))
        release = [i for i in chosen if members[i].get("ProtectedFromScaleIn")]
        for ids, protected in ((protect, True), (release, False)):
            for start in range(0, len(ids), _PROTECTION_BATCH):
                self.client.set_instance_protection(
                    InstanceIds=ids[start : start + _PROTECTION_BATCH],
                    AutoScalingGroupName=name,
                    ProtectedFromScaleIn=protected,
                )
        self._set_desired(service, group, int(group["DesiredCapacity"]) - len(chosen))
        _log.info("scale-in: the group terminates the victims (they drain on SIGTERM)", service=service, victims=chosen)

    def finish_drains(self, service: str, present: Collection[str]) -> list[str]:
        """Complete the termination hook of every instance of the group waiting in
        Terminating:Wait that yellow has not listed (up or draining) for `drained_grace_s`:
        it drained and left. `present`: the service's instance ids in yellow. Returns the EC2
        ids whose termination went on."""
        if service not in self.groups:
            return []
        group = self._group(service)
        name = group["AutoScalingGroupName"]
        waiting = {i["InstanceId"] for i in group.get("Instances", []) if i["LifecycleState"] == _WAITING}
        listed = {self.instance_of(service, instance) for instance in present}
        now = self.clock()
        finished = []
        for instance in sorted(waiting):
            if instance in listed:
                self._missing_since.pop(instance, None)
                continue
            if now - self._missing_since.setdefault(instance, now) < self.drained_grace_s:
                continue
            try:
                self.client.complete_lifecycle_action(
                    AutoScalingGroupName=name,
                    LifecycleHookName=self.drain_hook,
                    InstanceId=instance,
                    LifecycleActionResult="CONTINUE",
                )
            except self.client.exceptions.ClientError as exc:
                if "No active Lifecycle Action" not in str(exc):
                    raise  # throttled, denied, no such hook: a driver error; the next round tries again
                # Its hook timed out meanwhile, or another hand completed it: it terminates anyway.
                _log.info("termination hook already over", service=service, instance=instance, error=str(exc))
            else:
                _log.info("drained: the group terminates it now", service=service, group=name, instance=instance)
            finished.append(instance)
        for instance in set(self._missing_since) - (waiting - set(finished)):
            del self._missing_since[instance]
        return finished
