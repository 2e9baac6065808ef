"""The autoscaler's deploy root (infra/terraform/autoscaler) and what it needs from the groups it
sizes: a least-privilege role (exactly the calls hn_autoscale.AwsAsgDriver makes), bounds from
variables, a desired capacity Terraform leaves alone, the termination hook and the host's drain
watcher (rendered by the real Terraform, run against a stand-in for the instance metadata)."""

from __future__ import annotations

import ast
import http.server
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO, TF_ROOT, dir_blocks, load, locals_of, unquote

ROOT = TF_ROOT / "autoscaler"
ENVIRONMENTS = ("staging", "prod")
DRIVER = REPO / "libs" / "hn-autoscale" / "src" / "hn_autoscale" / "_aws.py"


def _blocks(directory: Path, kind: str) -> dict[tuple[str, ...], dict[str, Any]]:
    return {tuple(labels): body for labels, body, _ in dir_blocks(directory, kind)}


def _sized_services(env: str) -> dict[str, dict[str, Any]]:
    return load(ROOT / f"{env}.tfvars")["services"]  # type: ignore[no-any-return]


def test_the_autoscaler_has_a_root_of_its_own() -> None:
    modules = _blocks(ROOT, "module")
    assert unquote(modules[("service",)]["source"]) == "../modules/hn-service"
    assert unquote(modules[("service",)]["service"]) == "autoscaler"
    assert unquote(modules[("platform",)]["source"]) == "../modules/platform-contract"
    backends = [b for entry in load(ROOT / "main.tf")["terraform"] for b in entry.get("backend", [])]
    assert unquote(backends[0]['"s3"']["key"]) == "autoscaler/terraform.tfstate"
    env = modules[("service",)]["environment_variables"]
    assert set(env) == {"HN_AUTOSCALE_CONFIG", "HN_REDIS_URL"}, "the configuration, and the lease's Redis"
    for name in ENVIRONMENTS:
        assert unquote(load(ROOT / f"{name}.tfvars")["environment"]) == name
    # Released like a service: publish-pex.sh builds its PEX and writes its release tfvars here.
    publish = (TF_ROOT / "bin" / "publish-pex.sh").read_text()
    assert 'target="libs/hn-autoscale:autoscaler"' in publish
    assert 'tfvars="infra/terraform/autoscaler/${env}.release.tfvars"' in publish


def _driver_calls() -> set[str]:
    """The autoscaling API operations AwsAsgDriver calls (`self.client.<operation>(...)`)."""
    calls = set()
    for node in ast.walk(ast.parse(DRIVER.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Attribute) and owner.attr == "client":
                calls.add("".join(word.capitalize() for word in node.func.attr.split("_")))
    return calls


def test_the_role_grants_exactly_the_calls_the_driver_makes_on_the_sized_groups_only() -> None:
    calls = _driver_calls()
    assert calls == {
        "DescribeAutoScalingGroups",
        "SetDesiredCapacity",
        "SetInstanceProtection",
        "CompleteLifecycleAction",
    }
    source = DRIVER.read_text()
    assert re.findall(r'boto3\.client\("([a-z0-9-]+)"', source) == ["autoscaling"], "no EC2 client: no EC2 grant"
    statements = _blocks(ROOT, "data")[("aws_iam_policy_document", "autoscale")]["statement"]
    granted: dict[str, Any] = {}
    for statement in statements:
        assert "effect" not in statement or unquote(statement["effect"]) == "Allow"
        assert "condition" not in statement and "not_actions" not in statement and "not_resources" not in statement
        for action in statement["actions"]:
            granted[unquote(action)] = statement["resources"]
    assert set(granted) == {f"autoscaling:{call}" for call in calls}
    for action, resources in granted.items():
        if action.startswith("autoscaling:Describe"):
            assert [unquote(r) for r in resources] == ["*"], "describe calls take no resource-level grant"
        else:
            assert resources == "${local.group_arns}", f"{action}: only the sized groups"
    text = (ROOT / "main.tf").read_text()
    assert ":autoScalingGroup:*:autoScalingGroupName/${name}" in text
    assert 'for service in keys(var.services) : service => "hn-${var.environment}-${service}"' in text
    policies = _blocks(ROOT, "resource")
    assert set(policies) == {("aws_iam_role_policy", "autoscale")}
    assert policies[("aws_iam_role_policy", "autoscale")]["role"] == "${module.service.role_name}"


def test_groups_take_their_bounds_from_variables_and_leave_desired_capacity_to_the_autoscaler() -> None:
    group = _blocks(TF_ROOT / "modules" / "hn-service", "resource")[("aws_autoscaling_group", "hosts")]
    assert group["lifecycle"][0]["ignore_changes"] == ["desired_capacity"]
    assert "local.min_size" in group["min_size"] and group["max_size"] == "${local.max_size}"
    module_locals = locals_of(TF_ROOT / "modules" / "hn-service")
    assert module_locals["min_size"] == "${var.min_size == null ? var.instance_count : var.min_size}"
    assert module_locals["max_size"] == "${var.max_size == null ? var.instance_count * 2 : var.max_size}"
    refresh = group["instance_refresh"][0]["preferences"][0]
    assert unquote(refresh["scale_in_protected_instances"]) == "Refresh", "a deploy replaces protected hosts too"
    hook = _blocks(TF_ROOT / "modules" / "hn-service", "resource")[("aws_autoscaling_lifecycle_hook", "drain")]
    assert unquote(hook["lifecycle_transition"]) == "autoscaling:EC2_INSTANCE_TERMINATING"
    assert unquote(hook["default_result"]) == "CONTINUE", "a drain nobody completes still ends"
    # The hook's name is the one the driver completes.
    assert 'DRAIN_HOOK = "hn-draining"' in DRIVER.read_text()
    assert unquote(module_locals["drain_hook_name"]) == "hn-draining"
    assert '"hn-draining"' in (ROOT / "main.tf").read_text()


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_sized_service_has_bounds_holding_the_autoscalers_and_the_drain_hook(env: str) -> None:
    """What the root checks at plan time against the live groups, checked here on the committed
    tfvars: each service the autoscaler sizes passes its bounds and drain timeout to hn-service,
    and its min_size..max_size holds both instance_count and the autoscaler's bounds."""
    sized = _sized_services(env)
    assert set(sized) == {"broker", "sso", "match"}
    for service, spec in sized.items():
        root = TF_ROOT / "services" / service
        module = _blocks(root, "module")[("service",)]
        assert module["min_size"] == "${var.min_size}" and module["max_size"] == "${var.max_size}", service
        assert module["drain_timeout_seconds"] == "${var.drain_timeout_seconds}", service
        tfvars = load(root / f"{env}.tfvars")
        assert tfvars["min_size"] <= tfvars["instance_count"] <= tfvars["max_size"], service
        assert tfvars["min_size"] <= spec["min_instances"] <= spec["max_instances"] <= tfvars["max_size"], service
    assert sized["match"]["rule"]["victim_max_load"] == 0, "never drain a match host holding a duel room"


# -- the host's drain watcher ----------------------------------------------------------------------


def test_autoscaled_hosts_run_the_drain_watcher_and_others_do_not(rendered: dict[str, Any], tmp_path: Path) -> None:
    match = rendered["match"]
    doc = yaml.safe_load(match["cloud_config"].partition("\n")[2])
    files = {f["path"]: f for f in doc["write_files"]}
    assert files["/usr/local/lib/highnoon/drain-match"]["content"] == match["drain_script"]
    assert files["/usr/local/lib/highnoon/drain-match"]["permissions"] == "0755"
    unit = files["/etc/systemd/system/hn-match-drain.service"]["content"]
    assert "ExecStart=/usr/local/lib/highnoon/drain-match" in unit
    assert doc["runcmd"][-1] == "systemctl enable --now --no-block hn-match-drain.service"
    (tmp_path / "hn-match-drain.service").write_text(unit)
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "hn-match-drain.service")], capture_output=True, text=True
    )
    problems = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip() and "not found" not in line]
    assert not [p for p in problems if "is not executable" not in p and "No such file" not in p], problems
    for other in ("sso", "broker"):  # no termination hook: nothing to watch
        assert "drain-" not in rendered[other]["cloud_config"]


class _Metadata(http.server.BaseHTTPRequestHandler):
    """The instance metadata's IMDSv2 token and autoscaling/target-lifecycle-state."""

    state = "InService"
    reads = 0

    def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
        self._answer("token" if self.path == "/latest/api/token" else None)

    def do_GET(self) -> None:  # noqa: N802
        ok = self.path == "/latest/meta-data/autoscaling/target-lifecycle-state"
        ok = ok and self.headers.get("X-aws-ec2-metadata-token") == "token"
        if ok:
            type(self).reads += 1
        self._answer(type(self).state if ok else None)

    def _answer(self, body: str | None) -> None:
        self.send_response(200 if body is not None else 401)
        self.end_headers()
        self.wfile.write((body or "").encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def metadata() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Metadata)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Metadata.state, _Metadata.reads = "InService", 0
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_drain_watcher_stops_the_unit_once_the_group_terminates_the_host(
    rendered: dict[str, Any], metadata: str, tmp_path: Path
) -> None:
    script = tmp_path / "drain-match"
    script.write_text(rendered["match"]["drain_script"])
    script.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stopped = tmp_path / "systemctl.args"
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "$@" >> {stopped}\n')
    (bin_dir / "systemctl").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", HN_IMDS_URL=metadata, HN_DRAIN_POLL_SECONDS="0.1")
    watcher = subprocess.Popen([str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait(lambda: _Metadata.reads >= 3)
        assert watcher.poll() is None and not stopped.exists(), "in service: nothing stops"
        _Metadata.state = "Terminated"  # the group holds the host in Terminating:Wait
        assert watcher.wait(timeout=30) == 0
    finally:
        watcher.kill()
    assert stopped.read_text() == "stop hn-match.service\n"
    assert "draining hn-match.service" in (watcher.stdout.read() if watcher.stdout else "")


def _wait(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
