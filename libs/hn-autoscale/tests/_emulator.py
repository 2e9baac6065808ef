"""Autoscaling groups in moto's AWS API emulator (conftest.py starts it), made the way
infra/terraform/modules/hn-service makes them: a launch template, a group in a subnet, and the
`hn-draining` termination hook on autoscaled groups; Terraform-free, through boto3."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import boto3  # type: ignore[import-untyped]

from hn_autoscale import DRAIN_HOOK

REGION = "eu-west-1"
_names = itertools.count(1)


def aws_client(service: str, url: str) -> Any:
    """A boto3 client of the emulator (its fake credentials are accepted as any)."""
    return boto3.client(
        service, endpoint_url=url, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@dataclass
class Aws:
    """Clients of the emulator, and a way to make groups like hn-service's."""

    url: str
    autoscaling: Any
    ec2: Any
    subnet: str

    def group(self, service: str, *, min_size: int, max_size: int, desired: int, drain_hook: bool = True) -> str:
        """A new group of `desired` instances (a fresh name per call); with the termination hook
        the autoscaled groups have, unless `drain_hook` is False."""
        name = f"hn-test{next(_names)}-{service}"
        self.ec2.create_launch_template(
            LaunchTemplateName=name, LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.small"}
        )
        self.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            MinSize=min_size,
            MaxSize=max_size,
            DesiredCapacity=desired,
            LaunchTemplate={"LaunchTemplateName": name},
            VPCZoneIdentifier=self.subnet,
        )
        if drain_hook:
            self.autoscaling.put_lifecycle_hook(
                AutoScalingGroupName=name,
                LifecycleHookName=DRAIN_HOOK,
                LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
                HeartbeatTimeout=300,
                DefaultResult="CONTINUE",
            )
        return name

    def describe(self, name: str) -> dict[str, Any]:
        return self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[  # type: ignore[no-any-return]
            "AutoScalingGroups"
        ][
            0
        ]

    def states(self, name: str) -> dict[str, tuple[str, bool]]:
        """Instance id -> (lifecycle state, protected from scale-in) in the group."""
        return {
            i["InstanceId"]: (i["LifecycleState"], i["ProtectedFromScaleIn"]) for i in self.describe(name)["Instances"]
        }

    def ec2_state(self, instance_id: str) -> str:
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return reservations[0]["Instances"][0]["State"]["Name"]  # type: ignore[no-any-return]
