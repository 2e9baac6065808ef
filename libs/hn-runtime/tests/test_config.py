"""RuntimeConfig: one typed object read from HN_* environment variables."""

from __future__ import annotations

import socket

import pytest

from hn_runtime import RuntimeConfig


def test_defaults():
    config = RuntimeConfig.from_env("svc", {})
    assert config.service == "svc"
    assert config.instance.startswith(f"svc-{socket.gethostname()}-")
    assert config.bind_host == config.advertise_host == "127.0.0.1"
    assert (config.rep_port, config.pull_port, config.pub_port, config.metrics_port) == (0, 0, 0, 0)
    assert config.pool_size == 1000
    assert config.drain_seconds == 10.0
    assert config.call_timeout == 5.0
    assert config.max_message_bytes == 4 * 1024 * 1024
    assert config.log_level == "info"
    assert config.ready_file == ""
    assert config.extra == {}


def test_every_variable_is_read():
    env = {
        "HN_INSTANCE": "svc-7",
        "HN_BIND_HOST": "0.0.0.0",
        "HN_ADVERTISE_HOST": "svc7.internal",
        "HN_REP_PORT": "5001",
        "HN_PULL_PORT": "5002",
        "HN_PUB_PORT": "5003",
        "HN_METRICS_PORT": "-1",
        "HN_POOL_SIZE": "64",
        "HN_DRAIN_SECONDS": "2.5",
        "HN_CALL_TIMEOUT": "0.75",
        "HN_MAX_MESSAGE_BYTES": "1024",
        "HN_LOG_LEVEL": "debug",
        "HN_READY_FILE": "/run/svc/ready.json",
        "HN_SOMETHING_ELSE": "kept",
        "PATH": "/usr/bin",
    }
    config = RuntimeConfig.from_env("svc", env)
    assert config.instance == "svc-7"
    assert config.bind_host == "0.0.0.0"
    assert config.advertise_host == "svc7.internal"
    assert (config.rep_port, config.pull_port, config.pub_port) == (5001, 5002, 5003)
    assert config.metrics_port == -1
    assert config.pool_size == 64
    assert config.drain_seconds == 2.5
    assert config.call_timeout == 0.75
    assert config.max_message_bytes == 1024
    assert config.log_level == "debug"
    assert config.ready_file == "/run/svc/ready.json"
    # Service-specific settings ride along; nothing that is not HN_* does.
    assert config.extra["HN_SOMETHING_ELSE"] == "kept"
    assert "PATH" not in config.extra


def test_wildcard_bind_advertises_the_host_name():
    config = RuntimeConfig.from_env("svc", {"HN_BIND_HOST": "0.0.0.0"})
    assert config.advertise_host == socket.gethostname()


def test_reads_the_process_environment_by_default(monkeypatch):
    monkeypatch.setenv("HN_POOL_SIZE", "3")
    monkeypatch.setenv("HN_INSTANCE", "from-env")
    config = RuntimeConfig.from_env("svc")
    assert config.pool_size == 3
    assert config.instance == "from-env"


def test_instance_ids_are_unique_per_config():
    assert RuntimeConfig("svc").instance != RuntimeConfig("svc").instance


@pytest.mark.parametrize("name, value", [("HN_POOL_SIZE", "many"), ("HN_DRAIN_SECONDS", "soon"), ("HN_REP_PORT", "")])
def test_malformed_values_fail_loudly(name, value):
    with pytest.raises(ValueError):
        RuntimeConfig.from_env("svc", {name: value})


def test_config_is_immutable():
    config = RuntimeConfig("svc")
    with pytest.raises(AttributeError):
        config.pool_size = 1  # type: ignore[misc]
