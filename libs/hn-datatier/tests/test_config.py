"""Configuration pieces without processes: templates, Twemproxy YAML surgery, agent options, ports."""

from __future__ import annotations

import re
import string

import pytest

from hn_datatier.agent import AgentConfig, TwemproxyServer, listen_addresses, parse_servers, replace_addresses
from hn_datatier.local import TEMPLATES, PortPool, render, render_config, template_text


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
    text = render_config(pool="highnoon", listen="127.0.0.1:22121", servers=servers, timeout_ms=700)
    assert parse_servers(text) == servers
    assert listen_addresses(text) == [("127.0.0.1", 22121)]
    for line in ("distribution: ketama", "auto_eject_hosts: false", "timeout: 700", 'hash_tag: "{}"'):
        assert line in text


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
            pool="p", listen="127.0.0.1:1", servers=[TwemproxyServer("a", "h", 1), TwemproxyServer("a", "h", 2)]
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
