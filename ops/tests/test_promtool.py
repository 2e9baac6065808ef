"""promtool on the repository's Prometheus configuration, alert rules and the rules' unit tests."""

from __future__ import annotations

import re

from _ops import PROMETHEUS_CONFIG, RULE_TESTS_DIR, RULES_DIR, binary, files, read, run


def promtool(*args: str) -> str:
    result = run([binary("promtool"), *args])
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(args)} failed ({result.returncode}):\n{output}"
    return output


def test_the_configuration_is_valid_and_loads_the_rules() -> None:
    output = promtool("check", "config", "--lint=all", "--lint-fatal", PROMETHEUS_CONFIG)
    assert f"{len(files(RULES_DIR, '.yml'))} rule files found" in output, output


def test_the_alert_rules_are_valid() -> None:
    promtool("check", "rules", "--lint=all", "--lint-fatal", *files(RULES_DIR, ".yml"))


def test_the_alert_rules_pass_their_unit_tests() -> None:
    output = promtool("test", "rules", *files(RULE_TESTS_DIR, ".yml"))
    assert "SUCCESS" in output and "FAILED" not in output, output


def test_every_alert_has_a_unit_test() -> None:
    alerts = {name for path in files(RULES_DIR, ".yml") for name in re.findall(r"^\s*- alert: (\w+)", read(path), re.M)}
    tested = {name for path in files(RULE_TESTS_DIR, ".yml") for name in re.findall(r"alertname: (\w+)", read(path))}
    assert alerts, "no alerts found"
    assert alerts <= tested, f"alerts without a promtool unit test: {sorted(alerts - tested)}"
    assert tested <= alerts, f"unit tests for alerts that do not exist: {sorted(tested - alerts)}"


def test_the_issue_s_alerts_exist() -> None:
    """Instance down, error rate, p99 latency, broker saturation, Redis or Postgres unreachable,
    Sentinel failover (issue 9)."""
    text = "".join(read(path) for path in files(RULES_DIR, ".yml"))
    for alert in (
        "HNInstanceDown",
        "HNErrorRate",
        "HNLatencyP99",
        "HNBrokerNearCapacity",
        "HNRedisUnreachable",
        "HNPostgresUnreachable",
        "HNSentinelFailover",
    ):
        assert f"- alert: {alert}\n" in text, alert
