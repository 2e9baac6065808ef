"""The AWS driver against botocore's Stubber: the exact calls it makes, validated against the
autoscaling API's model (no cloud is reachable from here, and none is needed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from hn_autoscale import AwsAsgDriver, ec2_instance_id

GROUP = "hn-prod-broker"


@pytest.fixture
def stubbed() -> Iterator[tuple[AwsAsgDriver, Stubber]]:
    client = boto3.client(
        "autoscaling", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield AwsAsgDriver({"broker": GROUP}, client=client), stubber
        stubber.assert_no_pending_responses()


def _instance(instance_id: str, *, protected: bool = False, state: str = "InService") -> dict[str, Any]:
    return {
        "InstanceId": instance_id,
        "AvailabilityZone": "eu-west-1a",
        "LifecycleState": state,
        "HealthStatus": "Healthy",
        "ProtectedFromScaleIn": protected,
    }


def _group(desired: int, instances: list[dict[str, Any]], *, min_size: int = 2, max_size: int = 6) -> dict[str, Any]:
    return {
        "AutoScalingGroups": [
            {
                "AutoScalingGroupName": GROUP,
                "MinSize": min_size,
                "MaxSize": max_size,
                "DesiredCapacity": desired,
                "DefaultCooldown": 300,
                "AvailabilityZones": ["eu-west-1a"],
                "HealthCheckType": "EC2",
                "CreatedTime": "2025-01-01T00:00:00Z",
                "Instances": instances,
            }
        ]
    }


def _describe(stubber: Stubber, response: dict[str, Any]) -> None:
    stubber.add_response("describe_auto_scaling_groups", response, {"AutoScalingGroupNames": [GROUP]})


def test_scale_out_sets_the_desired_capacity_within_the_group_bounds(stubbed: tuple[AwsAsgDriver, Stubber]) -> None:
    driver, stubber = stubbed
    _describe(stubber, _group(2, [_instance("i-1"), _instance("i-2")]))
    stubber.add_response(
        "set_desired_capacity", {}, {"AutoScalingGroupName": GROUP, "DesiredCapacity": 4, "HonorCooldown": False}
    )
    driver.scale_out("broker", 4)
    # Beyond MaxSize: clamped to it, never refused by AWS.
    _describe(stubber, _group(4, [_instance(f"i-{n}") for n in range(1, 5)]))
    stubber.add_response(
        "set_desired_capacity", {}, {"AutoScalingGroupName": GROUP, "DesiredCapacity": 6, "HonorCooldown": False}
    )
    driver.scale_out("broker", 9)


def test_current_is_the_group_desired_capacity(stubbed: tuple[AwsAsgDriver, Stubber]) -> None:
    driver, stubber = stubbed
    _describe(stubber, _group(3, [_instance("i-1")]))
    assert driver.current("broker") == 3
    assert driver.current("match") is None


def test_scale_in_protects_the_others_releases_the_victim_then_lowers_capacity(
    stubbed: tuple[AwsAsgDriver, Stubber],
) -> None:
    driver, stubber = stubbed
    _describe(
        stubber,
        _group(
            4,
            [
                _instance("i-busy", protected=True),
                _instance("i-new"),  # launched unprotected since the last scale-in
                _instance("i-idle", protected=True),
                _instance("i-starting", state="Pending"),
                _instance("i-leaving", state="Terminating"),
            ],
        ),
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
    driver.scale_in("broker", 3, ["broker-i-idle"])


def test_scale_in_of_an_unknown_victim_or_at_min_size_does_nothing(stubbed: tuple[AwsAsgDriver, Stubber]) -> None:
    driver, stubber = stubbed
    # The victim already left the group: letting the group choose could hit a busy host.
    _describe(stubber, _group(3, [_instance("i-1"), _instance("i-2"), _instance("i-3")]))
    driver.scale_in("broker", 2, ["broker-i-gone"])
    _describe(stubber, _group(2, [_instance("i-1"), _instance("i-2")], min_size=2))
    driver.scale_in("broker", 1, ["broker-i-1"])


def test_yellow_instance_ids_name_ec2_instances() -> None:
    assert ec2_instance_id("broker", "broker-i-0abc123") == "i-0abc123"
    assert ec2_instance_id("broker", "broker-1") is None
