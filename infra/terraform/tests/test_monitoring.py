"""The monitoring root's configuration (modules/monitoring-config), the data hosts' exporters and
every host's log shipping (modules/log-shipping), rendered offline by the real Terraform
(fixtures/render) and checked with the real promtool, amtool and bash."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from conftest import REPO, require_tool
from conftest import written as written_files

OPS = REPO / "ops"
LOG_HOST = "10.20.16.50"


def cloud_config(text: str) -> dict[str, Any]:
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)  # type: ignore[no-any-return]


def written(doc: dict[str, Any]) -> dict[str, str]:
    """Each written file's content by path, as the host gets it."""
    return {path: f["content"] for path, f in written_files(doc).items()}


def bundle(rendered: dict[str, Any], tmp_path: Path) -> Path:
    """The monitoring bundle as the host finds it in /etc/highnoon/monitoring."""
    root = tmp_path / "monitoring"
    for path, content in rendered["monitoring"]["files"].items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(content)
    return root


# -- Prometheus --------------------------------------------------------------------------------


def test_prometheus_is_ops_configuration_pointed_at_yellow_and_the_data_tier(
    rendered: dict[str, Any], tmp_path: Path
) -> None:
    root = bundle(rendered, tmp_path)
    promtool = require_tool("promtool", "prometheus")
    check = subprocess.run(
        [promtool, "check", "config", "--lint=all", "--lint-fatal", str(root / "prometheus/prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    rules = sorted(p.name for p in (OPS / "prometheus/rules").glob("*.yml"))
    assert f"{len(rules)} rule files found" in check.stdout + check.stderr
    assert sorted(p.name for p in (root / "prometheus/rules").glob("*.yml")) == rules

    config = yaml.safe_load((root / "prometheus/prometheus.yml").read_text())
    ops = yaml.safe_load((OPS / "prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert list(jobs) == [job["job_name"] for job in ops["scrape_configs"]]
    # Every instance through each yellow's /sd; yellow's own metrics; the agents.
    assert [sd["url"] for sd in jobs["hn"]["http_sd_configs"]] == [
        "http://10.20.16.10:8080/sd",
        "http://10.20.32.11:8080/sd",
    ]
    assert jobs["hn-yellow"]["static_configs"] == [
        {"targets": ["10.20.16.10:9100", "10.20.32.11:9100"], "labels": {"service": "yellow"}}
    ]
    assert jobs["hn-twemproxy-agent"]["static_configs"][0]["targets"] == ["10.20.200.70:9101", "10.20.201.71:9101"]
    # Everything else is ops' file: relabelling, intervals, the exporters' file_sd jobs, rules.
    overridden = {"hn": "http_sd_configs", "hn-yellow": "static_configs", "hn-twemproxy-agent": "static_configs"}
    for job in ops["scrape_configs"]:
        name = job["job_name"]
        assert {k: v for k, v in jobs[name].items() if k != overridden.get(name)} == {
            k: v for k, v in job.items() if k != overridden.get(name)
        }, name
    assert config["global"] == ops["global"] and config["rule_files"] == ops["rule_files"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["localhost:9093"]
    # The data tier's exporters, as file_sd groups with the labels the rules use.
    redis = json.loads((root / "prometheus/targets/redis.json").read_text())
    assert redis[0] == {"targets": ["10.20.200.30:9121"], "labels": {"node": "shard0-a", "shard": "shard0"}}
    assert [g["labels"]["node"] for g in json.loads((root / "prometheus/targets/postgres.json").read_text())] == [
        "pg0",
        "pg1",
    ]


# -- Alertmanager -------------------------------------------------------------------------------


def test_alertmanager_routes_every_alert_to_the_receiver_the_variable_gives(
    rendered: dict[str, Any], tmp_path: Path
) -> None:
    root = bundle(rendered, tmp_path)
    amtool = require_tool("amtool", "prometheus-alertmanager")
    config = root / "alertmanager/alertmanager.yml"
    check = subprocess.run([amtool, "check-config", str(config)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    document = yaml.safe_load(config.read_text())
    assert document["receivers"] == [
        {
            "name": "hn-staging-oncall",
            "slack_configs": [
                {
                    "api_url_file": "/etc/highnoon/monitoring-secrets/slack-webhook-url",
                    "channel": "#hn-staging-alerts",
                    "send_resolved": True,
                }
            ],
        }
    ]
    for labels in (
        ["alertname=HNRedisNoMaster", "severity=critical", "shard=shard0"],
        ["alertname=HNLatencyP99", "severity=warning", "service=sso"],
    ):
        routed = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={config}", *labels],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert routed.returncode == 0 and routed.stdout.strip() == "hn-staging-oncall", routed.stdout + routed.stderr
    # The receiver's credential comes from SSM into the file it names, at boot.
    init = rendered["monitoring"]["init_script"]
    assert 'secret "/highnoon/staging/monitoring/slack_webhook_url" >"/etc/highnoon/monitoring-secrets/slack-webhook-url"' in init


# -- Grafana ------------------------------------------------------------------------------------


def test_grafana_is_provisioned_with_ops_grafana(rendered: dict[str, Any], tmp_path: Path) -> None:
    root = bundle(rendered, tmp_path)
    for source in sorted((OPS / "grafana").rglob("*")):
        if source.is_file():
            relative = source.relative_to(OPS / "grafana")
            assert (root / "grafana" / relative).read_text() == source.read_text(), relative
    init = rendered["monitoring"]["init_script"]
    for line in (
        "GF_PATHS_PROVISIONING=$conf/grafana/provisioning",
        "HN_PROMETHEUS_URL=http://localhost:9090",
        "HN_GRAFANA_DASHBOARDS=$conf/grafana/dashboards",
    ):
        assert line in init


def test_the_monitoring_host_boots_from_its_bundle_and_is_the_log_host(rendered: dict[str, Any], tmp_path: Path) -> None:
    monitoring = rendered["monitoring"]
    text = monitoring["cloud_config"]
    assert len(text.encode()) < 16 * 1024, "EC2 refuses user data over 16 KiB"
    doc = cloud_config(text)
    assert {"prometheus", "prometheus-alertmanager", "systemd-journal-remote"} <= set(doc["packages"])
    files = written(doc)
    init = files["/usr/local/lib/highnoon/monitoring-init.sh"]
    assert init == monitoring["init_script"]
    assert 'aws s3 cp --recursive --only-show-errors "s3://highnoon-staging-artifacts/monitoring/staging/0123abcd/"' in init
    script = tmp_path / "monitoring-init.sh"
    script.write_text(init)
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    # systemd-journal-remote over HTTP on its socket, and the gateway serving what it received.
    remote = files["/etc/systemd/system/systemd-journal-remote.service.d/highnoon.conf"]
    assert "--listen-http=-3 --output=/var/log/journal/remote/" in remote
    assert "ListenStream=19532" in files["/etc/systemd/system/systemd-journal-remote.socket.d/highnoon.conf"]
    gateway = files["/etc/systemd/system/systemd-journal-gatewayd.service.d/highnoon.conf"]
    assert "--directory=/var/log/journal/remote" in gateway
    assert "systemctl enable --now systemd-journal-remote.socket systemd-journal-gatewayd.socket" in doc["runcmd"]
    assert doc["runcmd"][0] == "/usr/local/lib/highnoon/monitoring-init.sh"


# -- every host ships its journal --------------------------------------------------------------


def _ships_to_the_log_host(name: str, doc: dict[str, Any]) -> None:
    assert "systemd-journal-remote" in doc["packages"], name
    conf = written(doc)["/etc/systemd/journal-upload.conf.d/highnoon.conf"]
    assert f"URL=http://{LOG_HOST}:19532" in conf.splitlines(), name
    assert "systemctl restart systemd-journal-upload.service" in doc["runcmd"], name


def test_every_host_ships_its_journal_to_the_log_host(rendered: dict[str, Any]) -> None:
    sso = cloud_config(rendered["sso"]["cloud_config"])
    _ships_to_the_log_host("sso", sso)
    assert "SyslogIdentifier=hn-sso" in rendered["sso"]["unit"].splitlines()
    datatier = rendered["datatier"]
    for name, text in {**datatier["cloud_config"], **datatier["redis_cloud_config"]}.items():
        _ships_to_the_log_host(name, cloud_config(text))
    # Without a log host (the fixture's broker), nothing about shipping.
    broker = cloud_config(rendered["broker"]["cloud_config"])
    assert "systemd-journal-remote" not in broker["packages"]
    assert not any("journal-upload" in path for path in written(broker))


# -- the data hosts' exporters -------------------------------------------------------------------


def test_data_hosts_run_their_exporter_with_passwords_from_ssm_only(rendered: dict[str, Any], tmp_path: Path) -> None:
    datatier = rendered["datatier"]
    docs = {**datatier["cloud_config"], **{f"redis/{k}": v for k, v in datatier["redis_cloud_config"].items()}}
    expected = {
        "postgres_primary": "prometheus-postgres-exporter",
        "postgres_replica": "prometheus-postgres-exporter",
        "pgpool": "prometheus-postgres-exporter",
        "redis/shard0-a": "prometheus-redis-exporter",
        "redis/shard1-b": "prometheus-redis-exporter",
    }
    templates = REPO / "libs/hn-datatier/src/hn_datatier/templates"
    for name, exporter in expected.items():
        doc = cloud_config(docs[name])
        files = written(doc)
        assert exporter in doc["packages"], name
        assert doc["runcmd"][:2] == ["/usr/local/lib/highnoon/datatier-init.sh", "/usr/local/lib/highnoon/exporter-init.sh"]
        assert f"fill_secrets /etc/highnoon/exporter/{exporter} /etc/default/{exporter}" in files[
            "/usr/local/lib/highnoon/exporter-init.sh"
        ]
        if exporter == "prometheus-postgres-exporter":
            queries = "postgres-exporter-pgpool.yml" if name == "pgpool" else "postgres-exporter-node.yml"
            assert files["/etc/highnoon/exporter/queries.yml"] == (templates / queries).read_text(), name
    for name in ("sentinel", "twemproxy"):
        assert "exporter" not in " ".join(cloud_config(docs[name])["packages"]), name

    defaults = datatier["exporter_defaults"]
    marker = "@@ssm:/highnoon/staging/datatier/"
    assert f"password={marker}postgres/pgpool_password@@" in defaults["postgres"]
    assert "port=5432 user=hn_pgpool" in defaults["postgres"] and "port=9999 user=hn_pgpool" in defaults["pgpool"]
    assert "--disable-default-metrics" in defaults["pgpool"] and "--disable-default-metrics" not in defaults["postgres"]
    assert f'REDIS_PASSWORD="{marker}redis/monitor_user_password@@"' in defaults["redis"]
    assert 'REDIS_USER="monitor"' in defaults["redis"] and "-config-command=-" in defaults["redis"]
    for name in ("postgres-exporter-init.sh", "redis-exporter-init.sh"):
        script = tmp_path / name
        script.write_text(datatier["scripts"][name])
        syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert syntax.returncode == 0, syntax.stderr
    # The monitor user exists on every Redis node, with its password from SSM.
    for name, conf in datatier["files"].items():
        if name.startswith("redis-"):
            assert f"user monitor on >{marker}redis/monitor_user_password@@ " in conf, name
