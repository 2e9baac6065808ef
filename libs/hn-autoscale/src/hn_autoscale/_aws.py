"""The AWS driver: each service's autoscaling group (infra/terraform/modules/hn-service).

Scale-out sets the group's desired capacity. Scale-in must not let the group pick whom to
terminate (its termination policy knows nothing of load: it could pick the busiest host), so
the driver uses scale-in protection to make the choice itself:

1. every other instance of the group (launching or in service) is protected from scale-in;
2. the victims (the least loaded instances, chosen by the policy) are unprotected;
3. the desired capacity drops by the number of victims.

The group can then only terminate the victims. Termination stops the host's systemd unit:
SIGTERM, the service drains (refuses new work, which callers retry elsewhere; finishes what it
has), deregisters and exits. A victim the group does not know (already gone, or its yellow
instance id does not name an EC2 instance) cancels the scale-in for this round: the next round
decides again from fresh data. Desired capacities stay within the group's MinSize..MaxSize.

Yellow instance ids on AWS are `<service>-<EC2 instance id>` (pex-unit's prepare step sets
HN_INSTANCE so), which is how a victim is found in its group.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hn_runtime import get_logger

__all__ = ["AwsAsgDriver", "ec2_instance_id"]

_log = get_logger("hn.autoscale")
#: set_instance_protection takes at most this many instance ids per call
_PROTECTION_BATCH = 50
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
    ) -> None:
        """groups: service -> autoscaling group name. client: a boto3 "autoscaling" client."""
        if client is None:
            import boto3  # type: ignore[import-untyped]

            client = boto3.client("autoscaling", region_name=region)
        self.client = client
        self.groups = dict(groups)
        self.instance_of = instance_of

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
