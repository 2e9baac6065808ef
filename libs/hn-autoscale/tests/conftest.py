"""moto's AWS API emulator as a real server process (`_moto_server`), on a free loopback port, and
clients of it with a subnet to put groups in (`_emulator.Aws`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from hn_process import ManagedProcess, child_env, free_port, port_accepts, time_factor

from _emulator import REGION, Aws, aws_client


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint of a moto server started for this test process."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = ManagedProcess(
        "moto",
        [sys.executable, "-m", "_moto_server", "-H", "127.0.0.1", "-p", str(port)],
        log_path=str(log),
        env=child_env(),
    ).start()
    try:
        server.wait_ready(lambda: port_accepts(port), timeout=30 * time_factor(), what=f"port {port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def aws(moto_url: str) -> Aws:
    ec2 = aws_client("ec2", moto_url)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.16.0/20", AvailabilityZone=f"{REGION}a")["Subnet"]
    return Aws(moto_url, aws_client("autoscaling", moto_url), ec2, subnet["SubnetId"])
