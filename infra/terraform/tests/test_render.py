"""The provider-free modules rendered by Terraform 1.0.3 itself (fixtures/render), then checked:
the cloud-init document, the systemd unit a host runs the PEX with, the boot scripts, and the data
tier's configuration rendered from libs/hn-datatier's templates."""

from __future__ import annotations

import gzip
import json
import re
import socket
import string
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import (
    DATATIER_TEMPLATES,
    FIXTURES,
    REPO,
    require_tool,
    template_placeholders,
    template_probe_values,
    terraform,
    written,
)

SHA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def cloud_config(text: str) -> dict[str, Any]:
    first, _, rest = text.partition("\n")
    assert first == "#cloud-config", "cloud-init reads user data as cloud-config only after this line"
    doc = yaml.safe_load(rest)
    assert isinstance(doc, dict)
    return doc


def unit_directives(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every directive of a systemd unit, in order."""
    section, out = "", []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key, value))
    return out


def values(directives: list[tuple[str, str, str]], key: str) -> list[str]:
    return [v for _, k, v in directives if k == key]


def unit_environment(directives: list[tuple[str, str, str]]) -> dict[str, str]:
    env = {}
    for raw in values(directives, "Environment"):
        assert raw.startswith('"') and raw.endswith('"'), raw
        name, _, value = raw[1:-1].partition("=")
        env[name] = value.replace('\\"', '"').replace("\\\\", "\\").replace("%%", "%")
    return env


def bash_syntax_ok(script: str, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(script)
    proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, f"{name}: {proc.stderr}"


# -- the service host: cloud-init, unit, scripts ---------------------------------------------------


def test_cloud_config_installs_python_and_starts_the_unit(rendered: dict[str, Any]) -> None:
    sso = rendered["sso"]
    doc = cloud_config(sso["cloud_config"])
    assert {"python3.11", "awscli", "curl"} <= set(doc["packages"])
    files = written(doc)
    unit = files["/etc/systemd/system/hn-sso.service"]
    assert unit["content"] == sso["unit"]
    assert files["/usr/local/lib/highnoon/prepare-sso"]["content"] == sso["prepare_script"]
    assert files["/usr/local/lib/highnoon/prepare-sso"]["permissions"] == "0755"
    assert doc["runcmd"][-2:] == [
        "systemctl enable --now hn-sso.service",
        "systemctl enable --now --no-block hn-sso-ready.service",
    ]
    users = [u for u in doc["users"] if isinstance(u, dict)]
    assert users and users[0]["name"] == "highnoon" and users[0]["system"] is True
    # Autoscaled services complete their launch hook once they serve.
    assert "/etc/systemd/system/hn-sso-ready.service" in files
    assert files["/usr/local/lib/highnoon/ready-sso"]["content"] == sso["ready_script"]


def test_unit_runs_the_pex_with_its_environment_and_drains_on_stop(rendered: dict[str, Any]) -> None:
    d = unit_directives(rendered["sso"]["unit"])
    assert values(d, "ExecStart") == ["/usr/bin/python3.11 /var/lib/highnoon/sso/sso-0.1.0+g1234abc.pex"]
    assert values(d, "ExecStartPre") == ["+/usr/local/lib/highnoon/prepare-sso"]
    env = unit_environment(d)
    assert env["HN_YELLOW"] == "tcp://10.0.16.10:7100,tcp://10.0.17.11:7100"
    assert env["HN_PG_DSN"].startswith("postgresql://highnoon@pgpool.internal:9999/highnoon")
    assert env["HN_REDIS_URL"] == "redis://twemproxy.internal:22121/0"
    assert env["HN_READY_FILE"] == "/run/highnoon/sso/ready.json"
    assert env["PEX_ROOT"] == "/var/lib/highnoon/sso/pex_root"
    assert env["HN_SSO_TOKEN_TTL_S"] == "86400"
    assert "PEX_MODULE" not in env
    # Host facts, then SSM (secrets): optional at ExecStartPre time, written by it before ExecStart.
    assert values(d, "EnvironmentFile") == [
        "-/run/highnoon-env/sso.host.env",
        "-/run/highnoon-env/sso.ssm.env",
    ]
    assert values(d, "User") == ["highnoon"]
    assert values(d, "Restart") == ["always"]
    assert values(d, "KillSignal") == ["SIGTERM"]
    assert values(d, "KillMode") == ["mixed"]
    # The runtime drains for HN_DRAIN_SECONDS (10 here) after SIGTERM; systemd must wait longer.
    assert int(values(d, "TimeoutStopSec")[0]) > 10
    assert values(d, "After") == ["network-online.target"]
    assert ("Install", "WantedBy", "multi-user.target") in d


def test_unit_holds_no_secret(rendered: dict[str, Any]) -> None:
    for name in ("sso", "broker", "yellow"):
        for key in unit_environment(unit_directives(rendered[name]["unit"])):
            assert not re.search("(PASSWORD|PASSWD|SECRET|TOKEN)$", key), key


def test_broker_advertises_its_public_address(rendered: dict[str, Any]) -> None:
    broker = rendered["broker"]
    env = unit_environment(unit_directives(broker["unit"]))
    assert env["HN_BROKER_PORT"] == "7000"
    assert 'echo "HN_BROKER_PUBLIC_HOST=$(imds public-ipv4)"' in broker["prepare_script"]
    # No autoscaling group given: no lifecycle hook to complete.
    assert broker["ready_script"] == ""
    files = written(cloud_config(broker["cloud_config"]))
    assert "/etc/systemd/system/hn-broker-ready.service" not in files


def test_broker_fetches_its_tls_certificate_into_owner_only_files(rendered: dict[str, Any], tmp_path: Path) -> None:
    broker = rendered["broker"]
    script = broker["prepare_script"]
    bash_syntax_ok(script, tmp_path, "prepare-broker")
    for name, parameter in (("tls-cert.pem", "cert"), ("tls-key.pem", "key")):
        assert f'fetch_file "/highnoon/staging/broker/tls/{parameter}" "$state_dir/{name}"' in script
    assert "chmod 0400" in script and "chown highnoon:highnoon" in script
    env = unit_environment(unit_directives(broker["unit"]))
    assert env["HN_BROKER_WS_PORT"] == "7001"
    assert env["HN_BROKER_TLS_CERT"] == "/var/lib/highnoon/broker/tls-cert.pem"
    assert "fetch_file" not in rendered["match"]["prepare_script"], "no files asked for, no fetch"


PROBE = REPO / "libs" / "hn-datatier" / "src" / "hn_datatier" / "_probe.py"


def test_yellow_status_page_is_given_the_data_tier_probe(rendered: dict[str, Any], tmp_path: Path) -> None:
    """Issue 19: yellow's unit carries what hn_datatier.ProbeConfig.from_env reads (the Sentinels,
    Pgpool, the role), and its prepare script fetches both passwords from SSM into files of the
    service user that the *_FILE variables name; no password value anywhere, only names."""
    yellow = rendered["yellow"]
    env = unit_environment(unit_directives(yellow["unit"]))
    assert env["HN_SENTINELS"] == "10.20.200.60:26379,10.20.201.61:26379,10.20.202.62:26379"
    assert env["HN_PGPOOL"] == "hn-staging-pgpool-0123456789abcdef.elb.eu-west-1.amazonaws.com:9999"
    # hn_pgpool: pg_monitor, and in Pgpool's pool_passwd (pgpool-init.sh), as `hn up` uses it.
    assert env["HN_PGPOOL_MONITOR_USER"] == "hn_pgpool"
    files = {
        "HN_SENTINEL_PASSWORD_FILE": (
            "sentinel.password",
            "/highnoon/staging/datatier/sentinel-client/env/HN_SENTINEL_PASSWORD",
        ),
        "HN_PGPOOL_MONITOR_PASSWORD_FILE": (
            "pgpool-monitor.password",
            "/highnoon/staging/datatier/postgres/pgpool_password",
        ),
    }
    script = yellow["prepare_script"]
    bash_syntax_ok(script, tmp_path, "prepare-yellow")
    assert "state_dir=/var/lib/highnoon/yellow\n" in script
    for variable, (name, parameter) in files.items():
        assert env[variable] == f"/var/lib/highnoon/yellow/{name}"
        assert f'fetch_file "{parameter}" "$state_dir/{name}"' in script
    assert not any(re.search("(PASSWORD|PASSWD|SECRET|TOKEN)$", key) for key in env)
    # The names are the ones the probe reads (a rename there would silently unconfigure the page).
    probe = PROBE.read_text()
    for name in ("HN_SENTINELS", "HN_PGPOOL", "HN_PGPOOL_MONITOR_USER"):
        assert f'env.get("{name}"' in probe, name
    for name in ("HN_SENTINEL_PASSWORD", "HN_PGPOOL_MONITOR_PASSWORD"):
        assert f'_secret(env, "{name}")' in probe, name
    assert 'env.get(f"{name}_FILE"' in probe


def test_prepare_script_checks_the_release_and_loads_ssm(rendered: dict[str, Any], tmp_path: Path) -> None:
    script = rendered["sso"]["prepare_script"]
    bash_syntax_ok(script, tmp_path, "prepare-sso")
    assert f'echo "{SHA}  $pex.part" | sha256sum --check --status' in script
    assert (
        'aws s3 cp --only-show-errors "s3://highnoon-staging-artifacts/services/sso/0.1.0+g1234abc/sso.pex"' in script
    )
    assert '--path "/highnoon/staging/sso/env" --recursive --with-decryption' in script
    assert "http://169.254.169.254/latest/api/token" in script  # IMDSv2


def test_ssm_parameters_become_a_systemd_environment_file(rendered: dict[str, Any], tmp_path: Path) -> None:
    """Runs the prepare script's converter on what `aws ssm get-parameters-by-path` returns."""
    script = rendered["sso"]["prepare_script"]
    converter = script.split("<<'PY'", 1)[1].split("\n", 1)[1].split("\nPY\n", 1)[0]
    shared = {"Parameters": [{"Name": "/highnoon/staging/datatier/client/env/PGPASSWORD", "Value": "old"}]}
    own = {
        "Parameters": [
            {"Name": "/highnoon/staging/sso/env/PGPASSWORD", "Value": 'p"w\\$`x y'},
            {"Name": "/highnoon/staging/sso/env/lowercase", "Value": "ignored"},
            {"Name": "/highnoon/staging/sso/env/HN_MULTI", "Value": "a\nb"},
        ]
    }
    files = []
    for i, doc in enumerate((shared, own)):
        path = tmp_path / f"{i:03d}.json"
        path.write_text(json.dumps(doc))
        files.append(str(path))
    proc = subprocess.run(["python3", "-", *files], input=converter, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == 'PGPASSWORD="p\\"w\\\\\\$\\`x y"\n'
    assert "lowercase" in proc.stderr and "HN_MULTI" in proc.stderr


def test_ssm_files_are_kept_for_the_service_user_only(rendered: dict[str, Any], tmp_path: Path) -> None:
    """Runs the prepare script's fetch_file with a stand-in `aws`: the parameter becomes a 0400 file
    of the service user; SSM unreachable keeps the copy fetched before, and with none fails the start."""
    script = rendered["sso"]["prepare_script"]
    assert 'fetch_file "/highnoon/staging/sso/curve/secret_key" "$state_dir/curve.key"' in script
    assert 'fetch_file "/highnoon/staging/platform/curve_authority" "$state_dir/curve-authority.json"' in script
    start = script.index("fetch_file() {")
    function = script[start : script.index("\n}\n", start) + 3]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text('#!/bin/sh\n[ -n "$SSM_VALUE" ] || exit 255\necho "$SSM_VALUE $4"\n')
    (bin_dir / "chown").write_text('#!/bin/sh\necho "$@" >>"$CHOWNED"\n')
    for tool in ("aws", "chown"):
        (bin_dir / tool).chmod(0o755)
    target = tmp_path / "curve.key"

    def fetch(value: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SSM_VALUE": value, "CHOWNED": str(tmp_path / "chowned")}
        command = f"set -euo pipefail\n{function}\nfetch_file /highnoon/staging/sso/curve/secret_key {target}\n"
        return subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True)

    assert fetch("").returncode == 1 and not target.exists(), "no parameter and no copy: the start fails"
    proc = fetch("Z85SECRET")
    assert proc.returncode == 0, proc.stderr
    assert target.read_text() == "Z85SECRET /highnoon/staging/sso/curve/secret_key\n"
    assert target.stat().st_mode & 0o777 == 0o400
    assert (tmp_path / "chowned").read_text().startswith("highnoon:highnoon ")
    proc = fetch("")
    assert proc.returncode == 0 and "as fetched before" in proc.stderr
    assert target.read_text().startswith("Z85SECRET"), "the last good copy stays"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("curve.key.")] == [], "no temporary left"


def test_ready_script_completes_the_lifecycle_hook(rendered: dict[str, Any], tmp_path: Path) -> None:
    script = rendered["sso"]["ready_script"]
    bash_syntax_ok(script, tmp_path, "ready-sso")
    assert '--auto-scaling-group-name "hn-staging-sso"' in script
    assert '--lifecycle-hook-name "hn-serving"' in script
    assert 'until [ -s "/run/highnoon/sso/ready.json" ]' in script


def test_units_pass_systemd_analyze(rendered: dict[str, Any], tmp_path: Path) -> None:
    """systemd's own parser: an unknown or malformed directive is an error. (Missing executables
    and targets are expected outside the host.)"""
    systemd_analyze = require_tool("systemd-analyze", "systemd")
    units = {
        "hn-sso.service": rendered["sso"]["unit"],
        "hn-broker.service": rendered["broker"]["unit"],
        "hn-yellow.service": rendered["yellow"]["unit"],
        "hn-brokerlist.service": rendered["brokerlist"]["unit"],
        "hn-twemproxy-agent.service": rendered["datatier"]["twemproxy_unit"],
    }
    ready = written(cloud_config(rendered["sso"]["cloud_config"]))["/etc/systemd/system/hn-sso-ready.service"]
    units["hn-sso-ready.service"] = ready["content"]
    for name, text in units.items():
        (tmp_path / name).write_text(text)
        proc = subprocess.run(
            [systemd_analyze, "verify", str(tmp_path / name)], capture_output=True, text=True, timeout=60
        )
        problems = [
            line
            for line in (proc.stdout + proc.stderr).splitlines()
            if line.strip()
            and "is not executable" not in line
            and "not found" not in line
            and "No such file" not in line
        ]
        assert not problems, f"{name}:\n" + "\n".join(problems)


def plan(var_file: Path, tmp_path: Path, fixture: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """`terraform plan` of `fixture` with `var_file`, not checked: the tests read what it refused."""
    return terraform(
        "plan",
        "-input=false",
        "-no-color",
        f"-var-file={var_file}",
        f"-state={tmp_path / 's'}",
        cwd=fixture,
        data_dir=data_dir,
        check=False,
    )


def test_secret_looking_environment_is_refused(tmp_path: Path) -> None:
    fixture = FIXTURES / "secret-env"
    data_dir = tmp_path / "tf-data"
    terraform("init", "-backend=false", "-input=false", "-no-color", cwd=fixture, data_dir=data_dir)
    var_file = tmp_path / "leak.tfvars.json"
    for name in ("HN_SSO_DB_PASSWORD", "PGPASSWORD", "HN_GAME_API_TOKEN"):
        var_file.write_text(json.dumps({"env": {name: "x"}}))
        proc = plan(var_file, tmp_path, fixture, data_dir)
        assert proc.returncode != 0, name
        assert "must come from SSM Parameter Store" in " ".join(proc.stderr.split()), name
    var_file.write_text(json.dumps({"env": {"HN_PG_DSN": "postgresql://highnoon:pw@pgpool:9999/highnoon"}}))
    proc = plan(var_file, tmp_path, fixture, data_dir)
    assert proc.returncode != 0
    assert "must not carry a password" in " ".join(proc.stderr.split())


# -- the data tier -----------------------------------------------------------------------------


def test_templatefile_and_string_template_render_hn_datatier_templates_alike(rendered: dict[str, Any]) -> None:
    """The claim in hn_datatier/local/_templates.py that production (templatefile) and the local tier
    (string.Template) read the same files the same way, checked on every template."""
    probe = template_probe_values()
    by_terraform = rendered["template_equivalence"]
    assert set(by_terraform) == set(template_placeholders())
    for name, text in by_terraform.items():
        python = string.Template((DATATIER_TEMPLATES / name).read_text()).substitute(probe)
        assert text == python, name


def test_postgres_and_pgpool_wiring(rendered: dict[str, Any]) -> None:
    files = rendered["datatier"]["files"]
    pgpool = files["pgpool.conf"]
    assert "backend_clustering_mode = 'streaming_replication'" in pgpool
    assert "backend_hostname0 = '10.20.200.10'" in pgpool
    assert "backend_application_name0 = 'pg0'" in pgpool
    assert "backend_hostname1 = '10.20.201.10'" in pgpool
    assert "backend_application_name1 = 'pg1'" in pgpool
    assert "enable_pool_hba = on" in pgpool
    assert "port = 9999" in pgpool
    children = int(re.search(r"^num_init_children = (\d+)$", pgpool, re.M).group(1))
    max_pool = int(re.search(r"^max_pool = (\d+)$", pgpool, re.M).group(1))
    max_connections = int(re.search(r"^max_connections = (\d+)$", files["postgresql.conf"], re.M).group(1))
    assert max_connections == rendered["datatier"]["pg_max_connections"]
    # pgpool.conf.tmpl's rule, for both Pgpool hosts, with PostgreSQL's 3 superuser connections.
    assert 2 * children * max_pool <= max_connections - 3
    assert "fsync = on" in files["postgresql.conf"] and "synchronous_commit = on" in files["postgresql.conf"]
    hba = [line for line in files["pg_hba.conf"].splitlines() if line and not line.startswith("#")]
    assert hba[0].split() == ["local", "all", "postgres", "peer"]
    assert all(line.split()[-1] == "scram-sha-256" for line in hba[1:])
    assert ["host", "replication", "replicator", "10.20.0.0/16", "scram-sha-256"] in [line.split() for line in hba]
    pool_hba = [line.split() for line in files["pool_hba.conf"].splitlines() if line and not line.startswith("#")]
    assert ["host", "all", "all", "10.20.0.0/16", "scram-sha-256"] in pool_hba
    assert all(line[-1] == "scram-sha-256" for line in pool_hba)
    assert "sr_check_user = 'hn_pgpool'" in pgpool and "health_check_user = 'hn_pgpool'" in pgpool


def test_redis_sentinel_and_twemproxy_wiring(rendered: dict[str, Any]) -> None:
    files = rendered["datatier"]["files"]
    assert "replicaof" not in files["redis-shard0-a.conf"].split("replica-priority")[1]
    assert re.search(r"(?m)^replicaof 10\.20\.200\.30 6379$", files["redis-shard0-b.conf"])
    assert re.search(r"(?m)^replicaof 10\.20\.201\.32 6379$", files["redis-shard1-b.conf"])
    assert not re.search(r"(?m)^replicaof ", files["redis-shard0-a.conf"])
    assert "appendonly yes" in files["redis-shard0-a.conf"]
    sentinel = files["sentinel.conf"]
    assert "sentinel monitor shard0 10.20.200.30 6379 2" in sentinel
    assert "sentinel monitor shard1 10.20.201.32 6379 2" in sentinel
    servers = re.findall(r"^\s+- (\S+):(\d+):(\d+) (\S+)$", files["nutcracker.yml"], re.M)
    assert servers == [("10.20.200.30", "6379", "1", "shard0"), ("10.20.201.32", "6379", "1", "shard1")]
    assert "listen: 0.0.0.0:22121" in files["nutcracker.yml"]


def redis_directives(conf: str) -> dict[str, str]:
    """The value each directive ends up with (redis-server reads the file top down; the last wins)."""
    out = {}
    for line in conf.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            out[key.lower()] = value.strip()
    return out


def test_redis_masters_stop_writing_without_an_acknowledging_replica(rendered: dict[str, Any]) -> None:
    """Production bounds the writes a master cut from its Sentinels acknowledges and then loses:
    min-replicas-to-write 1, min-replicas-max-lag 10 on every node (any may be promoted); every
    shard has its replica (the variable refuses a shard without one, which could never write)."""
    files = rendered["datatier"]["files"]
    nodes = sorted(name for name in files if re.fullmatch(r"redis-shard\d+-[ab]\.conf", name))
    assert nodes == ["redis-shard0-a.conf", "redis-shard0-b.conf", "redis-shard1-a.conf", "redis-shard1-b.conf"]
    for name in nodes:
        directives = redis_directives(files[name])
        assert directives["min-replicas-to-write"] == "1", name
        assert directives["min-replicas-max-lag"] == "10", name
        assert len(re.findall(r"(?m)^min-replicas-to-write ", files[name])) == 1, name
    for shard in ("shard0", "shard1"):
        assert "replicaof" in redis_directives(files[f"redis-{shard}-b.conf"]), f"{shard} has a replica"


MARKER = re.compile(r"@@ssm:([A-Za-z0-9/_.-]+)@@")


def test_every_listener_wants_a_password_which_terraform_never_sees(rendered: dict[str, Any]) -> None:
    """Each file that listens on 0.0.0.0 asks for a password, and holds only a marker naming the
    SSM parameter it comes from (the host fills it in at boot, the agent for nutcracker)."""
    data = rendered["datatier"]
    files, params = data["files"], data["secret_parameters"]
    marker = {key: f"@@ssm:{name}@@" for key, name in params.items()}
    redis = files["redis-shard0-a.conf"]
    assert "protected-mode yes" in redis.splitlines()
    assert f"user default on >{marker['redis_default']} ~* resetchannels +@all -@admin -@dangerous" in redis
    assert f"user sentinel on >{marker['redis_sentinel']} " in redis
    assert f"user replica on >{marker['redis_replica']} " in redis
    assert f"user admin on >{marker['redis_admin']} " in redis
    assert f"masterauth {marker['redis_replica']}" in redis.splitlines()
    sentinel = files["sentinel.conf"]
    assert "protected-mode yes" in sentinel.splitlines()
    assert f"requirepass {marker['sentinel']}" in sentinel.splitlines()
    for shard in ("shard0", "shard1"):
        assert f"sentinel auth-user {shard} sentinel" in sentinel.splitlines()
        assert f"sentinel auth-pass {shard} {marker['redis_sentinel']}" in sentinel.splitlines()
    assert f'  redis_auth: "{marker["redis_default"]}"' in files["nutcracker.yml"].splitlines()
    for name, text in {**files, **data["scripts"]}.items():
        assert "protected-mode no" not in text, name
        assert set(MARKER.findall(text)) <= set(params.values()), name
    assert params["redis_default"] == "/highnoon/staging/datatier/redis-client/env/HN_REDIS_PASSWORD"
    assert params["sentinel"] == "/highnoon/staging/datatier/sentinel-client/env/HN_SENTINEL_PASSWORD"
    assert params["app"] == "/highnoon/staging/datatier/client/env/PGPASSWORD"


def _fake_aws(tmp_path: Path, values: dict[str, str]) -> tuple[dict[str, str], Path]:
    """An `aws` on PATH answering `ssm get-parameter/put-parameter` from a JSON file, logging argv."""
    store = tmp_path / "ssm.json"
    store.write_text(json.dumps(values))
    log = tmp_path / "aws.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "aws"
    fake.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"store, log = {str(store)!r}, {str(log)!r}\n"
        "args = sys.argv[1:]\n"
        "open(log, 'a').write(json.dumps(args) + '\\n')\n"
        "values = json.load(open(store))\n"
        "name = args[args.index('--name') + 1]\n"
        "if args[:2] == ['ssm', 'get-parameter']:\n"
        "    if name not in values:\n"
        "        sys.exit('ParameterNotFound')\n"
        "    print(values[name] if 'Parameter.Value' in args else name)\n"
        "elif args[:2] == ['ssm', 'put-parameter']:\n"
        "    assert args[args.index('--type') + 1] == 'SecureString'\n"
        "    value = args[args.index('--value') + 1]\n"
        "    values[name] = open(value[len('file://'):]).read() if value.startswith('file://') else value\n"
        "    json.dump(values, open(store, 'w'))\n"
    )
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "AWS_DEFAULT_REGION": "eu-west-1", "HOME": str(tmp_path)}
    return env, store


def test_a_host_fills_the_passwords_in_at_boot(rendered: dict[str, Any], tmp_path: Path) -> None:
    """fill_secrets (templates/ssm-secrets.sh, in every data host's boot script) on the rendered
    redis.conf, with an `aws` that answers from a file: every marker replaced, the result private;
    a value that is not letters and digits is refused."""
    params = rendered["datatier"]["secret_parameters"]
    values = {name: f"Pw{i}abcdefghijklmnop" for i, name in enumerate(params.values())}
    env, store = _fake_aws(tmp_path, values)
    prelude = REPO / "infra/terraform/modules/data-tier-config/templates/ssm-secrets.sh"
    source = tmp_path / "redis.conf.in"
    source.write_text(rendered["datatier"]["files"]["redis-shard0-a.conf"])
    target = tmp_path / "redis.conf"
    script = f'set -euo pipefail; source "{prelude}"; fill_secrets "{source}" "{target}"'
    proc = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    filled = target.read_text()
    assert "@@" not in filled
    assert f"user default on >{values[params['redis_default']]} " in filled
    assert f"masterauth {values[params['redis_replica']]}" in filled.splitlines()
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    store.write_text(json.dumps({**values, params["redis_admin"]: "has space and $"}))
    proc = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "letters and digits" in proc.stderr
    assert "has space" not in target.read_text()


def test_the_secrets_script_creates_every_parameter_the_tier_reads(rendered: dict[str, Any], tmp_path: Path) -> None:
    """bin/create-datatier-secrets.sh makes exactly the SecureStrings data-tier-config names, random,
    letters and digits, never passing a value on a command line, and never overwrites one."""
    params = set(rendered["datatier"]["secret_parameters"].values())
    kept = "/highnoon/staging/datatier/postgres/replication_password"
    env, store = _fake_aws(tmp_path, {kept: "KeepMe0123456789"})
    script = REPO / "infra/terraform/bin/create-datatier-secrets.sh"
    proc = subprocess.run(["bash", str(script), "staging"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    values = json.loads(store.read_text())
    assert set(values) == params
    assert values[kept] == "KeepMe0123456789"
    made = [v for k, v in values.items() if k != kept]
    assert all(re.fullmatch(r"[A-Za-z0-9]{32}", v) for v in made) and len(set(made)) == len(made)
    calls = (tmp_path / "aws.log").read_text()
    assert not [v for v in made if v in calls], "a password on a command line"


def test_nutcracker_accepts_the_rendered_pool(rendered: dict[str, Any], tmp_path: Path) -> None:
    nutcracker = require_tool("nutcracker", "nutcracker")
    conf = tmp_path / "nutcracker.yml"
    conf.write_text(rendered["datatier"]["files"]["nutcracker.yml"])
    proc = subprocess.run([nutcracker, "-t", "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def resp(*args: str) -> bytes:
    """A Redis command in RESP (the protocol's array of bulk strings)."""
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def test_redis_accepts_the_rendered_configuration(rendered: dict[str, Any], tmp_path: Path) -> None:
    """redis-server refuses to start on an unknown or malformed directive. Started on a unix
    socket only, in a scratch directory (command-line options win over the file), then stopped."""
    redis_server = require_tool("redis-server", "redis-server")
    for name in ("redis-shard0-a.conf", "redis-shard0-b.conf"):
        conf = tmp_path / name
        conf.write_text(rendered["datatier"]["files"][name])
        proc = subprocess.Popen(
            [
                redis_server,
                str(conf),
                "--port",
                "0",
                "--unixsocket",
                str(tmp_path / "redis.sock"),
                "--dir",
                str(tmp_path),
                "--replicaof",
                "no",
                "one",
                "--appendonly",
                "no",
                "--save",
                "",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            time.sleep(0.5)
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else name
            # It answers nothing before AUTH (the password is the unfilled marker here).
            with socket.socket(socket.AF_UNIX) as client:
                client.settimeout(5)
                client.connect(str(tmp_path / "redis.sock"))
                client.sendall(b"PING\r\n")
                assert client.recv(100).startswith(b"-NOAUTH"), name
                # The server took the production write bound (the admin password is the marker).
                admin = MARKER.search(rendered["datatier"]["files"][name].split("user admin on >", 1)[1])
                assert admin is not None
                client.sendall(resp("AUTH", "admin", admin.group(0)))
                assert client.recv(100) == b"+OK\r\n", name
                client.sendall(resp("CONFIG", "GET", "min-replicas-*"))
                reply = client.recv(1000)
                assert b"min-replicas-to-write\r\n$1\r\n1\r\n" in reply, reply
                assert b"min-replicas-max-lag\r\n$2\r\n10\r\n" in reply, reply
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_user_data_fits_ec2s_limit(rendered: dict[str, Any]) -> None:
    """EC2 refuses user data over 16 KiB (before base64)."""
    docs = {name: rendered[name]["cloud_config"] for name in ("sso", "broker", "brokerlist")}
    for name, text in docs.items():
        assert len(text.encode()) < 16 * 1024, f"{name}: {len(text.encode())} bytes"
    # The data hosts' documents go gzipped whole (modules/data-tier: user_data_base64).
    data_docs = {**rendered["datatier"]["cloud_config"], **rendered["datatier"]["redis_cloud_config"]}
    for name, text in data_docs.items():
        size = len(gzip.compress(text.encode()))
        assert size < 16 * 1024, f"{name}: {size} bytes gzipped"


def test_datatier_cloud_configs_and_scripts(rendered: dict[str, Any], tmp_path: Path) -> None:
    data = rendered["datatier"]
    for name, script in data["scripts"].items():
        bash_syntax_ok(script, tmp_path, name)
    roles = data["cloud_config"]
    assert set(roles) == {"postgres_primary", "postgres_replica", "pgpool", "sentinel", "twemproxy"}
    for role, text in {**roles, **data["redis_cloud_config"]}.items():
        doc = cloud_config(text)
        assert doc["write_files"], role
    primary = written(cloud_config(roles["postgres_primary"]))
    init = primary["/usr/local/lib/highnoon/datatier-init.sh"]["content"]
    assert "pg_createcluster 15 main --" in init and "pg_basebackup" not in init
    replica = written(cloud_config(roles["postgres_replica"]))["/usr/local/lib/highnoon/datatier-init.sh"]["content"]
    assert "application_name=pg1" in replica and "nvme-Amazon_Elastic_Block_Store_vol0fedcba9876543210" in replica
    assert primary["/etc/highnoon/postgres/highnoon.conf"]["content"] == data["files"]["postgresql.conf"]
    assert "pgpool2" in cloud_config(roles["pgpool"])["packages"]


def test_twemproxy_hosts_run_the_sentinel_agent(rendered: dict[str, Any]) -> None:
    data = rendered["datatier"]
    d = unit_directives(data["twemproxy_unit"])
    env = unit_environment(d)
    assert env["PEX_MODULE"] == "hn_datatier.agent"
    assert env["HN_SENTINELS"] == "10.20.200.60:26379,10.20.201.61:26379,10.20.202.62:26379"
    assert env["HN_TWEMPROXY_SUPERVISE"] == "1"
    assert env["HN_TWEMPROXY_CONFIG"] == "/var/lib/highnoon/twemproxy-agent/nutcracker.yml"
    assert not [k for k in env if "PASSWORD" in k]  # from SSM at every start, never in the unit
    prepare = data["scripts"]["twemproxy-agent-prepare"]
    assert '--path "/highnoon/staging/datatier/redis-client/env" --recursive --with-decryption' in prepare
    assert '--path "/highnoon/staging/datatier/sentinel-client/env" --recursive --with-decryption' in prepare
    assert values(d, "ExecStart") == [
        "/usr/bin/python3.11 /var/lib/highnoon/twemproxy-agent/twemproxy-agent-0.1.0+g1234abc.pex"
    ]
    doc = cloud_config(data["cloud_config"]["twemproxy"])
    assert "nutcracker" in doc["packages"]
    seeded = written(doc)["/etc/highnoon/twemproxy-agent/seed/nutcracker.yml"]["content"]
    assert seeded == data["files"]["nutcracker.yml"]
    # Debian's own nutcracker would hold the port: it is stopped before the agent starts.
    assert doc["runcmd"].index("systemctl disable --now nutcracker.service") < doc["runcmd"].index(
        "systemctl enable --now hn-twemproxy-agent.service"
    )


# -- PostgreSQL failover and backups --------------------------------------------------------------


def test_pgpool_fails_over_with_hn_datatiers_script(rendered: dict[str, Any]) -> None:
    data = rendered["datatier"]
    pgpool = data["files"]["pgpool.conf"]
    args = "%d %h %p %P %m %H %r %N %S"
    script, env = "/usr/local/lib/highnoon/pg-failover.sh", "/etc/highnoon/pgpool/pg-failover.env"
    assert f"failover_command = '{script} {env} failover {args}'" in pgpool
    assert f"failback_command = '{script} {env} failback {args}'" in pgpool
    assert "detach_false_primary = on" in pgpool and "auto_failback = on" in pgpool
    files = written(cloud_config(data["cloud_config"]["pgpool"]))
    # The very script the local tier runs, byte for byte.
    assert files[script]["content"] == (DATATIER_TEMPLATES / "pg-failover.sh").read_text()
    assert files[script]["permissions"] == "0755"
    settings = dict(line.split("=", 1) for line in files[env]["content"].splitlines())
    assert settings == {
        "HN_PSQL": "/usr/bin/psql",
        "HN_PG_USER": "hn_pgpool",
        "HN_SYNC_MODE": "available",
        "PGPASSFILE": "/var/lib/postgresql/.pgpass-failover",
        "HN_FENCE": "/usr/local/lib/highnoon/pg-fence.sh",
    }
    fence = files["/usr/local/lib/highnoon/pg-fence.sh"]["content"]
    assert "aws ec2 stop-instances --force" in fence and "AWS_DEFAULT_REGION=eu-west-1" in fence
    assert "Values=postgres_primary,postgres_replica" in fence
    assert "/var/lib/postgresql/.pgpass-failover" in data["scripts"]["pgpool-init.sh"]


def test_postgres_replicates_synchronously_and_archives_to_s3(rendered: dict[str, Any]) -> None:
    data = rendered["datatier"]
    conf = data["files"]["postgresql.conf"]
    assert "synchronous_standby_names = 'ANY 1 (pg0, pg1)'" in conf
    assert "synchronous_commit = on" in conf and "wal_log_hints = on" in conf
    assert "archive_mode = on" in conf
    assert "archive_command = 'pgbackrest --stanza=highnoon archive-push %p'" in conf
    assert "restore_command = 'pgbackrest --stanza=highnoon archive-get %f \"%p\"'" in conf
    backrest = data["files"]["pgbackrest.conf"]
    for line in (
        "repo1-type = s3",
        "repo1-s3-bucket = hn-staging-pg-backups-123456789012",
        "repo1-s3-region = eu-west-1",
        "repo1-s3-endpoint = s3.eu-west-1.amazonaws.com",
        "repo1-s3-key-type = auto",
        "repo1-retention-full = 4",
        "archive-async = y",
        "[highnoon]",
        "pg1-path = /var/lib/postgresql/15/main",
    ):
        assert line in backrest.splitlines(), line
    assert "secret" not in backrest.lower() and "key = " not in backrest  # the instance role, no keys


def test_postgres_hosts_run_the_keeper_and_the_backups(rendered: dict[str, Any], tmp_path: Path) -> None:
    data = rendered["datatier"]
    for role, peer in (("primary", "10.20.201.10"), ("replica", "10.20.200.10")):
        doc = cloud_config(data["cloud_config"][f"postgres_{role}"])
        assert "pgbackrest" in doc["packages"]
        files = written(doc)
        assert files["/etc/pgbackrest/pgbackrest.conf"]["content"] == data["files"]["pgbackrest.conf"]
        keeper = files["/usr/local/lib/highnoon/pg-keeper.sh"]["content"]
        assert keeper == data["scripts"][f"pg-keeper-{role}.sh"]
        assert f"host={peer} port=5432 user=replicator" in keeper
        assert "pg_rewind" in keeper and "--write-recovery-conf" in keeper
        drop_in = unit_directives(files["/etc/systemd/system/postgresql@.service.d/highnoon.conf"]["content"])
        assert values(drop_in, "ExecStartPre") == ["/usr/local/lib/highnoon/pg-keeper.sh before-start"]
        assert values(drop_in, "Restart") == ["on-failure"]
        timers = {p: f for p, f in files.items() if p.endswith(".timer")}
        assert set(timers) == {
            f"/etc/systemd/system/{name}.timer" for name in ("hn-pg-keeper", "hn-pg-backup-full", "hn-pg-backup-diff")
        }
        init = files["/usr/local/lib/highnoon/datatier-init.sh"]["content"]
        assert "systemctl enable --now hn-pg-keeper.timer hn-pg-backup-full.timer hn-pg-backup-diff.timer" in init
        for name in ("hn-pg-keeper.service", "hn-pg-backup@.service"):
            unit = tmp_path / role / name
            unit.parent.mkdir(exist_ok=True)
            unit.write_text(files[f"/etc/systemd/system/{name}"]["content"])
    primary_init = data["scripts"]["postgres-primary-init.sh"]
    assert "pgbackrest --stanza=highnoon stanza-create" in primary_init
    assert "GRANT EXECUTE ON FUNCTION pg_catalog.pg_promote(boolean, integer) TO hn_pgpool;" in primary_init
    assert "GRANT ALTER SYSTEM ON PARAMETER synchronous_standby_names TO hn_pgpool;" in primary_init
    assert "stanza-create" not in data["scripts"]["postgres-replica-init.sh"]
    backup = data["scripts"]["pg-backup.sh"]
    assert "pg_is_in_recovery()" in backup and 'pgbackrest --stanza=highnoon --type="$1" backup' in backup


def test_the_failover_script_promotes_fences_and_sets_what_the_primary_waits_for(tmp_path: Path) -> None:
    """pg-failover.sh as Pgpool runs it, with a stand-in psql that records each statement and
    answers like a standby: the lost primary is fenced first, then the replica is promoted and
    stops waiting for the lost node; a failback makes the primary wait for its replica again."""
    log = tmp_path / "log"
    psql = tmp_path / "psql"
    psql.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do echo "$a" >>{log}; done\n'
        'case "$*" in *pg_is_in_recovery*) echo t ;; *pg_promote*) echo t ;; esac\n'
    )
    fence = tmp_path / "fence"
    fence.write_text(f'#!/bin/sh\necho "fence $1 $2" >>{log}\n')
    for tool in (psql, fence):
        tool.chmod(0o755)
    settings = tmp_path / "settings"
    settings.write_text(f"HN_PSQL={psql}\nHN_PG_USER=hn_pgpool\nHN_SYNC_MODE=available\nPGPASSFILE=/dev/null\nHN_FENCE={fence}\n")
    script = DATATIER_TEMPLATES / "pg-failover.sh"

    def run(*args: str) -> list[str]:
        log.write_text("")
        subprocess.run(["sh", str(script), str(settings), *args], check=True, capture_output=True, timeout=30)
        return log.read_text().splitlines()

    # Primary node 0 (10.0.0.10) lost: node 1 (10.0.0.11) is the new main.
    seen = run("failover", "0", "10.0.0.10", "5432", "0", "1", "10.0.0.11", "5432", "10.0.0.10", "5432")
    assert seen[0] == "fence 10.0.0.10 5432", seen
    statements = [line for line in seen if line.startswith(("SELECT", "ALTER"))]
    assert statements == [
        "SELECT pg_is_in_recovery()",
        "SELECT pg_promote(true, 60)",
        "ALTER SYSTEM SET synchronous_standby_names = ''",
        "SELECT pg_reload_conf()",
    ]
    assert "10.0.0.11" in seen and "10.0.0.10" not in seen[1:]
    # The replica (node 1) streams again and Pgpool attaches it: the primary (node 0) waits for it.
    seen = run("failback", "1", "10.0.0.11", "5432", "0", "0", "10.0.0.10", "5432", "10.0.0.10", "5432")
    assert "ALTER SYSTEM RESET synchronous_standby_names" in seen and "fence" not in " ".join(seen)


# -- brokerlist's web page (/play/) ------------------------------------------------------------------

PAGE_SHA = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
PAGE_URI = "s3://highnoon-staging-artifacts/services/brokerlist/0.1.0+g1234abc/page.tar.gz"
PAGE_ROOT = "/usr/local/share/highnoon/brokerlist"
PAGE_DIR = f"{PAGE_ROOT}/page-0.1.0+g1234abc"
PACK_PAGE = REPO / "infra/terraform/bin/pack-page.sh"
PAGE_PY = REPO / "services/brokerlist/src/hn_brokerlist/_page.py"
# A built page as clients/web's `npm run build` leaves it (scripts/build.mjs), in small.
BUILT_PAGE = {
    "index.html": "<!doctype html><title>High Noon</title><script src=play.js></script>\n",
    "play.js": "(()=>{document.body.dataset.phase='out'})();\n",
    "play.css": "body{font-family:serif}\n",
    "icon.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>\n",
}


def test_brokerlist_fetches_checks_and_unpacks_its_page(rendered: dict[str, Any], tmp_path: Path) -> None:
    """With a page, the prepare script fetches the archive beside the PEX, checks its sha256 and
    unpacks it into a root-owned folder outside the state directory (the service user owns that
    one), and the unit names the folder in HN_BROKERLIST_PAGE_DIR, which hn_brokerlist reads."""
    brokerlist = rendered["brokerlist"]
    script = brokerlist["prepare_script"]
    bash_syntax_ok(script, tmp_path, "prepare-brokerlist")
    assert brokerlist["page_dir"] == PAGE_DIR
    assert f"page_root={PAGE_ROOT}\n" in script
    call = f'install_page "{PAGE_URI}" "{PAGE_SHA}" "{PAGE_DIR}.tar.gz" "{PAGE_DIR}"'
    assert call in script.splitlines()
    # After the PEX is in place, before the process can start.
    assert script.index("mv -f \"$pex.part\" \"$pex\"") < script.index(call)
    assert 'echo "$2  $3.part" | sha256sum --check --status' in script
    assert "exit 1" in script.split("install_page() {", 1)[1].split("\n}\n", 1)[0]
    env = unit_environment(unit_directives(brokerlist["unit"]))
    assert env["HN_BROKERLIST_PAGE_DIR"] == PAGE_DIR
    assert not PAGE_DIR.startswith("/var/lib/highnoon/"), "the service user owns its state directory"
    assert 'cls(page_dir=env.get("HN_BROKERLIST_PAGE_DIR", ""))' in (PAGE_PY.parent / "_config.py").read_text()
    # ProtectSystem=strict: /usr, the page's folder included, is read-only to the process anyway.
    assert values(unit_directives(brokerlist["unit"]), "ProtectSystem") == ["strict"]
    files = written(cloud_config(brokerlist["cloud_config"]))
    assert files["/usr/local/lib/highnoon/prepare-brokerlist"]["content"] == script
    assert len(brokerlist["cloud_config"].encode()) < 16 * 1024


def test_services_without_a_page_get_none_of_it(rendered: dict[str, Any]) -> None:
    for name in ("sso", "broker", "yellow", "match"):
        script = rendered[name]["prepare_script"]
        assert "install_page" not in script and "page_root" not in script and ".tar.gz" not in script, name
        if "unit" in rendered[name]:
            env = unit_environment(unit_directives(rendered[name]["unit"]))
            assert not [k for k in env if k.endswith("PAGE_DIR")], name


def test_a_malformed_page_is_refused_at_plan(tmp_path: Path) -> None:
    fixture = FIXTURES / "secret-env"
    data_dir = tmp_path / "tf-data"
    terraform("init", "-backend=false", "-input=false", "-no-color", cwd=fixture, data_dir=data_dir)
    good = {"s3_uri": PAGE_URI, "sha256": PAGE_SHA, "version": "0.1.0+g1234abc", "env": "HN_BROKERLIST_PAGE_DIR"}
    cases = {
        "sha256": ({"sha256": PAGE_SHA.upper()}, "sha256 must be 64 lowercase hex digits"),
        "s3_uri": ({"s3_uri": PAGE_URI.replace(".tar.gz", ".zip")}, "must be s3://<bucket>/<key>.tar.gz"),
        "version": ({"version": "../x"}, "version may only hold"),
        "env": ({"env": "page dir"}, "environment variable name must be upper case"),
    }
    var_file = tmp_path / "page.tfvars.json"
    for name, (change, message) in {"none": ({}, ""), **cases}.items():
        var_file.write_text(json.dumps({"env": {}, "page": {**good, **change}}))
        proc = plan(var_file, tmp_path, fixture, data_dir)
        if not change:
            assert proc.returncode == 0, proc.stderr
            continue
        assert proc.returncode != 0 and message in " ".join(proc.stderr.split()), name


def _pack(page: dict[str, str], folder: Path, archive: Path) -> subprocess.CompletedProcess[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in page.items():
        (folder / name).write_text(text)
    command = ["bash", str(PACK_PAGE), str(folder), str(archive)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def _page_module() -> Any:
    """hn_brokerlist's _page.py (standard library only), loaded by its path: brokerlist's own check."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("hn_brokerlist_page_for_tests", PAGE_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_pack_page_makes_a_reproducible_archive_of_a_page_brokerlist_accepts(tmp_path: Path) -> None:
    """bin/pack-page.sh (publish-pex.sh's packing of clients/web/dist): the same build packs to the
    same bytes whatever its files' times (a release published again finds its object), holds the
    page files only, and a folder brokerlist would refuse at its start is refused here."""
    first = _pack(BUILT_PAGE, tmp_path / "a", tmp_path / "a.tar.gz")
    assert first.returncode == 0, first.stderr
    second = _pack(BUILT_PAGE, tmp_path / "b", tmp_path / "b.tar.gz")
    assert second.returncode == 0, second.stderr
    sha = first.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", sha) and second.stdout.strip() == sha
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()
    listing = subprocess.run(["tar", "-tzvf", str(tmp_path / "a.tar.gz")], capture_output=True, text=True, check=True)
    names = sorted(line.split()[-1] for line in listing.stdout.splitlines())
    assert names == sorted(["./", *(f"./{n}" for n in BUILT_PAGE)])
    assert all(" 0/0 " in line for line in listing.stdout.splitlines()), "no builder's user in the archive"
    for extra in ({".env": "HN_SECRET=1"}, {"play.js.map": "{}"}):
        proc = _pack({**BUILT_PAGE, **extra}, tmp_path / f"bad{len(extra)}{next(iter(extra))}", tmp_path / "bad.tar.gz")
        assert proc.returncode != 0 and "brokerlist would refuse this page" in proc.stderr, extra
        assert not (tmp_path / "bad.tar.gz").exists()
    no_index = {k: v for k, v in BUILT_PAGE.items() if k != "index.html"}
    proc = _pack(no_index, tmp_path / "noindex", tmp_path / "bad.tar.gz")
    assert proc.returncode != 0 and "index.html" in proc.stderr


def test_the_page_is_served_only_from_an_archive_with_its_sha256(rendered: dict[str, Any], tmp_path: Path) -> None:
    """Runs the rendered install_page with a stand-in `aws` serving a packed page: the right archive
    is kept and unpacked into a folder others can read and not write (brokerlist's Page.load takes
    it), a restart with S3 unreachable unpacks the kept archive again, and an archive with another
    sha256 fails the start (exit 1) leaving nothing behind to serve."""
    script = rendered["brokerlist"]["prepare_script"]
    start = script.index("install_page() {")
    function = script[start : script.index("\n}\n", start) + 3]
    archive_source = tmp_path / "published.tar.gz"
    packed = _pack(BUILT_PAGE, tmp_path / "dist", archive_source)
    assert packed.returncode == 0, packed.stderr
    sha = packed.stdout.strip()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # `aws s3 cp --only-show-errors <uri> <file>`: the published archive, or S3 unreachable.
    (bin_dir / "aws").write_text(
        '#!/bin/sh\n[ "$1 $2" = "s3 cp" ] || exit 2\n[ -n "$S3_OBJECT" ] || exit 1\ncp "$S3_OBJECT" "$5"\n'
    )
    (bin_dir / "aws").chmod(0o755)
    root = tmp_path / "share" / "brokerlist"
    root.mkdir(parents=True)
    archive, folder = root / "page-1.tar.gz", root / "page-1"

    def install(want: str, s3_object: Path | None) -> subprocess.CompletedProcess[str]:
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "S3_OBJECT": str(s3_object or "")}
        command = f"set -euo pipefail\numask 077\n{function}\ninstall_page {PAGE_URI} {want} {archive} {folder}\n"
        return subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60)

    proc = install(sha, archive_source)
    assert proc.returncode == 0, proc.stderr
    assert archive.read_bytes() == archive_source.read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == sorted(BUILT_PAGE)
    assert {p.name: p.read_text() for p in folder.iterdir()} == BUILT_PAGE
    assert folder.stat().st_mode & 0o777 == 0o755, "the service user reads the folder, cannot add to it"
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in folder.iterdir())
    page = _page_module().Page.load(str(folder))
    assert page.file("/play/").body == BUILT_PAGE["index.html"].encode()
    assert page.file("/play/play.js").content_type.startswith("text/javascript")

    # A file changed or added in the folder is gone at the next start: it is unpacked afresh.
    (folder / "play.js").write_text("tampered")
    (folder / "extra.js").write_text("added")
    proc = install(sha, None)  # S3 unreachable: the kept archive, checked again, is enough
    assert proc.returncode == 0, proc.stderr
    assert {p.name: p.read_text() for p in folder.iterdir()} == BUILT_PAGE

    # Another archive under the expected sha256 (a replaced S3 object): refused, nothing unpacked.
    other = tmp_path / "other.tar.gz"
    assert _pack({**BUILT_PAGE, "play.js": "evil()\n"}, tmp_path / "other", other).returncode == 0
    archive.unlink()
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    proc = install(sha, other)
    assert proc.returncode == 1
    assert f"{PAGE_URI} does not have sha256 {sha}: not serving it" in proc.stderr
    assert not archive.exists() and not folder.exists()
    assert sorted(p.name for p in root.iterdir()) == [], "no partial download or unpacking left behind"
    # A kept archive that no longer matches is fetched again, and refused the same way.
    archive.write_bytes(other.read_bytes())
    proc = install(sha, other)
    assert proc.returncode == 1 and "not serving it" in proc.stderr and not folder.exists()
