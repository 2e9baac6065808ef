"""Configuration pieces without processes: templates, Twemproxy YAML surgery, agent options, ports."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from hn_datatier.agent import (
    Agent,
    AgentConfig,
    TwemproxyServer,
    listen_addresses,
    parse_servers,
    replace_addresses,
    set_redis_auth,
)
from hn_datatier.local import TEMPLATES, PortPool, Secrets, render, render_config, template_text


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_are_terraform_compatible(name: str) -> None:
    """Only `${identifier}` placeholders: Terraform's templatefile() reads them the same way
    (no `%{` directives, no bare `$`)."""
    text = template_text(name)
    assert "%{" not in text
    assert re.findall(r"\$(?!\{[a-z_]+\})", text) == []
    matches = string.Template.pattern.finditer(text)
    placeholders = {m.group("braced") or m.group("named") for m in matches} - {None}
    assert placeholders, f"{name} has no placeholder"
    with pytest.raises(KeyError):
        render(name)  # every placeholder is required: nothing renders half-filled
    rendered = render(name, **{p: f"<{p}>" for p in placeholders})
    assert "${" not in rendered


def test_twemproxy_config_round_trip() -> None:
    servers = [TwemproxyServer("shard0", "10.0.0.1", 6379), TwemproxyServer("shard1", "10.0.0.2", 6380)]
    text = render_config(pool="highnoon", listen="127.0.0.1:22121", servers=servers, timeout_ms=700, redis_auth="pw1")
    assert parse_servers(text) == servers
    assert listen_addresses(text) == [("127.0.0.1", 22121)]
    for line in ("distribution: ketama", "auto_eject_hosts: false", "timeout: 700", 'hash_tag: "{}"'):
        assert line in text
    assert '  redis_auth: "pw1"' in text.splitlines()


def test_the_agent_sets_twemproxys_password_and_touches_nothing_else() -> None:
    """Production renders a placeholder as redis_auth; the agent writes the real one at start."""
    servers = [TwemproxyServer("shard0", "10.0.0.1", 6379)]
    text = render_config(pool="p", listen="0.0.0.0:22121", servers=servers, redis_auth="@@HN_REDIS_PASSWORD@@")
    new = set_redis_auth(text, "Abc123")
    assert [line for line in new.splitlines() if "redis_auth" in line and not line.startswith("#")] == [
        '  redis_auth: "Abc123"'
    ]
    assert [line for line in new.splitlines() if "redis_auth:" not in line] == [
        line for line in text.splitlines() if "redis_auth:" not in line
    ]
    assert set_redis_auth(new, "Abc123") == new
    for bad in ("", 'a"b', "a b", "pässword"):
        with pytest.raises(ValueError):
            set_redis_auth(text, bad)
    with pytest.raises(ValueError):  # a file without the line would let anyone in: refused
        set_redis_auth(text.replace("redis_auth:", "# no auth:"), "Abc123")


def test_the_agent_writes_redis_auth_before_nutcracker_starts_or_refuses_to_start(tmp_path: Path) -> None:
    servers = [TwemproxyServer("shard0", "10.0.0.1", 6379)]
    path = tmp_path / "nutcracker.yml"
    marked = render_config(pool="p", listen="127.0.0.1:1", servers=servers, redis_auth="@@ssm:/x/HN_REDIS_PASSWORD@@")
    path.write_text(marked)

    def agent(redis_password: str = "") -> Agent:
        config = AgentConfig(
            sentinels=[("127.0.0.1", 1)], config=str(path), restart_command="true", redis_password=redis_password
        )
        return Agent(config, nutcracker=_NoNutcracker())

    with pytest.raises(ValueError, match="HN_REDIS_PASSWORD"):  # no password for the placeholder
        agent().set_redis_auth()
    assert agent(redis_password="Secret123").set_redis_auth() is True
    assert '  redis_auth: "Secret123"' in path.read_text().splitlines()
    assert agent(redis_password="Secret123").set_redis_auth() is False  # already there
    assert agent().set_redis_auth() is False  # a filled file without a password given: left alone


class _NoNutcracker:
    def start(self) -> None:
        pass

    def restart(self) -> None:
        pass

    def stop(self) -> None:
        pass


#: What each production template must say about who may connect: (required lines, forbidden).
AUTH_LINES = {
    "redis.conf.tmpl": (
        ["protected-mode yes", "user default on >", "masteruser replica", "masterauth "],
        ["protected-mode no", "nopass", "requirepass"],
    ),
    "sentinel.conf.tmpl": (["protected-mode yes", "requirepass "], ["protected-mode no"]),
    "sentinel-monitor.conf.tmpl": (["sentinel auth-user ", "sentinel auth-pass "], []),
    "nutcracker.yml.tmpl": (["  redis_auth: "], []),
    "pg_hba.conf.tmpl": (["local ", "host ", "host    replication"], ["trust", "peer", " md5", "password"]),
    "pool_hba.conf.tmpl": (["host "], ["trust", " md5", "password"]),
    "pgpool.conf.tmpl": (["enable_pool_hba = on", "pool_passwd = "], []),
}


@pytest.mark.parametrize("name", sorted(AUTH_LINES))
def test_every_template_wants_a_password(name: str) -> None:
    required, forbidden = AUTH_LINES[name]
    lines = [line for line in template_text(name).splitlines() if line.strip() and not line.startswith("#")]
    for text in required:
        assert any(line.startswith(text) for line in lines), f"{name}: no line starting {text!r}"
    for text in forbidden:
        assert not any(text in line for line in lines), f"{name}: {text!r}"
    if name.endswith("hba.conf.tmpl"):
        assert all(line.split()[-1] == "scram-sha-256" for line in lines), name


def test_redis_users_each_have_a_password_and_no_more_than_their_role_needs() -> None:
    users = {
        line.split()[1]: line
        for line in render(
            "redis.conf.tmpl",
            **{p: f"<{p}>" for p in _placeholders("redis.conf.tmpl")},
        ).splitlines()
        if line.startswith("user ")
    }
    assert set(users) == {"default", "sentinel", "replica", "admin", "monitor"}
    assert all(" on >" in line for line in users.values())
    assert users["default"].endswith("+@all -@admin -@dangerous")
    assert "resetchannels" in users["default"] and "-@all" in users["replica"] and "-@all" in users["sentinel"]
    # The exporter's user reads INFO and the slow and latency logs: no CONFIG (masterauth), no keys.
    monitor = users["monitor"].split()
    assert "-@all" in monitor and "~*" not in monitor
    assert {w for w in monitor if w.startswith("+")} == {
        "+ping", "+info", "+client|setname", "+slowlog|get", "+slowlog|len", "+latency|latest"
    }  # fmt: skip


def test_secrets_are_random_per_tier_and_private(tmp_path: Path) -> None:
    first, second = Secrets(str(tmp_path / "a")), Secrets(str(tmp_path / "b"))
    assert first["redis-default"] != second["redis-default"]
    assert first["redis-default"] == first["redis-default"] == Secrets(str(tmp_path / "a"))["redis-default"]
    assert first["redis-default"] != first["sentinel"]
    assert re.fullmatch(r"[A-Za-z0-9]{32}", first["pg-app"])
    assert oct(Path(first.path("pg-app")).stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "a").stat().st_mode & 0o777) == "0o700"
    assert first["redis-default"] not in repr(first)


def _placeholders(name: str) -> set[str]:
    matches = string.Template.pattern.finditer(template_text(name))
    return {m.group("braced") or m.group("named") for m in matches} - {None}


def test_replacing_an_address_keeps_names_order_and_every_other_line() -> None:
    text = (
        "# production file, with comments\n"
        "sessions:\n"
        "  listen: 0.0.0.0:22121\n"
        "  distribution: ketama\n"
        "  servers:\n"
        "   - 10.0.0.1:6379:1 shard0\n"
        '   - "10.0.0.2:6379:2 shard1"   # quoted, with a comment\n'
        "   - 10.0.0.3:6379:1 shard2\n"
        "cache:\n"
        "  listen: 0.0.0.0:22122\n"
        "  servers:\n"
        "   - 10.0.1.1:6379:1 cache0\n"
    )
    new = replace_addresses(text, {"shard1": ("10.0.0.9", 6390), "unknown": ("1.1.1.1", 1)})
    assert new.splitlines()[6] == '   - "10.0.0.9:6390:2 shard1"   # quoted, with a comment'
    assert [line for i, line in enumerate(new.splitlines()) if i != 6] == [
        line for i, line in enumerate(text.splitlines()) if i != 6
    ]
    assert [s.name for s in parse_servers(new)] == ["shard0", "shard1", "shard2", "cache0"]
    assert replace_addresses(new, {"shard1": ("10.0.0.9", 6390)}) == new  # idempotent


def test_duplicate_server_names_are_refused() -> None:
    with pytest.raises(ValueError):
        render_config(
            pool="p",
            listen="127.0.0.1:1",
            servers=[TwemproxyServer("a", "h", 1), TwemproxyServer("a", "h", 2)],
            redis_auth="pw",
        )


def test_agent_config_from_environment_and_arguments() -> None:
    env = {
        "HN_SENTINELS": "10.0.0.1:26379, 10.0.0.2:26379",
        "HN_TWEMPROXY_CONFIG": "/etc/nutcracker/nutcracker.yml",
        "HN_TWEMPROXY_RESTART_COMMAND": "systemctl restart nutcracker",
        "HN_AGENT_RECONCILE_INTERVAL": "5",
    }
    config = AgentConfig.from_args([], env)
    assert config.sentinels == [("10.0.0.1", 26379), ("10.0.0.2", 26379)]
    assert (config.supervise, config.restart_command, config.reconcile_interval) == (
        False,
        "systemctl restart nutcracker",
        5.0,
    )
    config = AgentConfig.from_args(["--supervise", "--stats-port", "1234", "--masters", "shard0,shard1"], env)
    assert (config.supervise, config.stats_port, tuple(config.masters)) == (True, 1234, ("shard0", "shard1"))
    with pytest.raises(SystemExit):
        AgentConfig.from_args([], {})  # no sentinels


def test_agent_passwords_come_from_files_or_the_environment_never_the_command_line(tmp_path: Path) -> None:
    env = {"HN_SENTINELS": "10.0.0.1:26379", "HN_TWEMPROXY_CONFIG": "/x.yml", "HN_TWEMPROXY_SUPERVISE": "1"}
    config = AgentConfig.from_args([], {**env, "HN_SENTINEL_PASSWORD": "s1", "HN_REDIS_PASSWORD": "r1"})
    assert (config.sentinel_password, config.redis_password) == ("s1", "r1")
    assert "s1" not in repr(config) and "r1" not in repr(config)
    (tmp_path / "sentinel").write_text("s2\n")
    (tmp_path / "redis").write_text("r2\n")
    args = ["--sentinel-password-file", str(tmp_path / "sentinel"), "--redis-password-file", str(tmp_path / "redis")]
    config = AgentConfig.from_args(args, {**env, "HN_SENTINEL_PASSWORD": "s1"})
    assert (config.sentinel_password, config.redis_password) == ("s2", "r2")
    with pytest.raises(SystemExit):
        AgentConfig.from_args(["--sentinel-password-file", str(tmp_path / "missing")], env)
    assert AgentConfig.from_args([], env).sentinel_password == ""


def test_ports_are_reserved_across_pools() -> None:
    first, second = PortPool(), PortPool()
    try:
        mine = {first.allocate() for _ in range(20)}
        assert len(mine) == 20
        # Another pool (another launcher, another process) never gets a reserved port.
        theirs = {second.allocate() for _ in range(200)}
        assert not mine & theirs
    finally:
        first.release()
        second.release()
