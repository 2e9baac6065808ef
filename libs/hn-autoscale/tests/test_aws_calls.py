"""The AWS driver's exact calls where the emulator cannot show them: botocore's Stubber, which checks
each call against the autoscaling API's model. moto launches every instance straight into
InService, so only here does a group hold instances still launching (Pending) or already leaving."""

from __future__ import annotations

from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.stub import Stubber  # type: ignore[import-untyped]

from hn_autoscale import AwsAsgDriver

GROUP = "hn-prod-broker"


def _instance(instance_id: str, *, protected: bool = False, state: str = "InService") -> dict[str, Any]:
    return {
        "InstanceId": instance_id,
        "AvailabilityZone": "eu-west-1a",
        "LifecycleState": state,
        "HealthStatus": "Healthy",
        "ProtectedFromScaleIn": protected,
    }


def test_scale_in_protects_launching_instances_too_and_touches_no_protection_twice() -> None:
    client = boto3.client(
        "autoscaling", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    group = {
        "AutoScalingGroupName": GROUP,
        "MinSize": 2,
        "MaxSize": 6,
        "DesiredCapacity": 4,
        "DefaultCooldown": 300,
        "AvailabilityZones": ["eu-west-1a"],
        "HealthCheckType": "EC2",
        "CreatedTime": "2025-01-01T00:00:00Z",
        "Instances": [
            _instance("i-busy", protected=True),  # protected at an earlier scale-in: left alone
            _instance("i-new"),  # launched since, unprotected
            _instance("i-idle", protected=True),  # the victim
            _instance("i-starting", state="Pending"),  # still launching: the group could pick it
            _instance("i-leaving", state="Terminating"),  # on its way out: not a member any more
        ],
    }
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_auto_scaling_groups", {"AutoScalingGroups": [group]}, {"AutoScalingGroupNames": [GROUP]}
        )
        stubber.add_response(
            "set_instance_protection",
            {},
            {"InstanceIds": ["i-new", "i-starting"], "AutoScalingGroupName": GROUP, "ProtectedFromScaleIn": True},
        )
        stubber.add_response(
            "set_instance_protection",
            {},
            {"InstanceIds": ["i-idle"], "AutoScalingGroupName": GROUP, "ProtectedFromScaleIn": False},
        )
        stubber.add_response(
            "set_desired_capacity", {}, {"AutoScalingGroupName": GROUP, "DesiredCapacity": 3, "HonorCooldown": False}
        )
        AwsAsgDriver({"broker": GROUP}, client=client).scale_in("broker", 3, ["broker-i-idle"])
        stubber.assert_no_pending_responses()
