"""The agent's configuration: command-line arguments, each defaulting to an environment variable."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["AgentConfig"]


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"not a host:port address: {text!r}")
    return host.strip("[]"), int(port)


def _addresses(text: str) -> list[tuple[str, int]]:
    return [_address(part) for part in text.split(",") if part.strip()]


def _secret(path: str, value: str, what: str) -> str:
    """A password from its file when one is named (the local launcher's way), else the value
    (production's: systemd's environment file, from SSM). Never from the command line, which
    every user of the host can read."""
    if not path:
        return value
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError as exc:
        raise ValueError(f"cannot read the {what} password file {path}: {exc}") from exc


@dataclass(frozen=True)
class AgentConfig:
    """Everything the Sentinel -> Twemproxy agent needs.

    sentinels: the Sentinels to follow (all of them: any one may publish a switch first).
    config: the nutcracker YAML whose server lines the agent rewrites.
    masters: the Sentinel master names to follow; empty = every named server in `config`.
    supervise: run nutcracker as the agent's child (restarted on a switch, respawned if it dies);
        otherwise `restart_command` (e.g. `systemctl restart nutcracker`) is run on a switch.
    sentinel_password: what the Sentinels want (their `requirepass`); empty: none.
    redis_password: Twemproxy's `redis_auth`, written into `config` before nutcracker starts
        (production renders a placeholder there, so the password never passes through
        Terraform); empty: the file is left as it is.
    """

    sentinels: Sequence[tuple[str, int]]
    config: str
    masters: Sequence[str] = ()
    supervise: bool = False
    nutcracker: str = "nutcracker"
    stats_host: str = "127.0.0.1"
    stats_port: int = 22222
    restart_command: str = ""
    reconcile_interval: float = 10.0
    sentinel_timeout: float = 1.0
    restart_timeout: float = 10.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int = -1
    ready_file: str = ""
    log_level: str = "info"
    instance: str = field(default_factory=lambda: f"{os.uname().nodename}:{os.getpid()}")
    sentinel_password: str = field(default="", repr=False)
    redis_password: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not self.sentinels:
            raise ValueError("at least one sentinel address is needed (--sentinels / HN_SENTINELS)")
        if not self.config:
            raise ValueError("the nutcracker config path is needed (--config / HN_TWEMPROXY_CONFIG)")
        if not self.supervise and not self.restart_command:
            raise ValueError("either --supervise or --restart-command is needed to apply a switch")

    @classmethod
    def from_args(cls, argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> AgentConfig:
        env = os.environ if env is None else env
        p = argparse.ArgumentParser(
            prog="python -m hn_datatier.agent",
            description="Follow Redis Sentinel's +switch-master and repoint Twemproxy (nutcracker).",
        )
        p.add_argument("--sentinels", default=env.get("HN_SENTINELS", ""), help="host:port,... [HN_SENTINELS]")
        p.add_argument("--config", default=env.get("HN_TWEMPROXY_CONFIG", ""), help="nutcracker YAML path")
        p.add_argument(
            "--masters", default=env.get("HN_SENTINEL_MASTERS", ""), help="master names (default: all named servers)"
        )
        p.add_argument(
            "--supervise",
            action="store_true",
            default=env.get("HN_TWEMPROXY_SUPERVISE", "") in ("1", "true", "yes"),
            help="run nutcracker as a child [HN_TWEMPROXY_SUPERVISE=1]",
        )
        p.add_argument("--nutcracker", default=env.get("HN_NUTCRACKER_BIN", "nutcracker"))
        p.add_argument("--stats-host", default=env.get("HN_TWEMPROXY_STATS_HOST", "127.0.0.1"))
        p.add_argument("--stats-port", type=int, default=int(env.get("HN_TWEMPROXY_STATS_PORT", "22222")))
        p.add_argument(
            "--restart-command",
            default=env.get("HN_TWEMPROXY_RESTART_COMMAND", ""),
            help="shell command restarting nutcracker when not supervised [HN_TWEMPROXY_RESTART_COMMAND]",
        )
        p.add_argument("--reconcile-interval", type=float, default=float(env.get("HN_AGENT_RECONCILE_INTERVAL", "10")))
        p.add_argument("--sentinel-timeout", type=float, default=float(env.get("HN_AGENT_SENTINEL_TIMEOUT", "1")))
        p.add_argument("--metrics-host", default=env.get("HN_METRICS_HOST", "127.0.0.1"))
        p.add_argument("--metrics-port", type=int, default=int(env.get("HN_METRICS_PORT", "-1")), help="-1: off")
        p.add_argument("--ready-file", default=env.get("HN_READY_FILE", ""))
        p.add_argument("--log-level", default=env.get("HN_LOG_LEVEL", "info"))
        p.add_argument(
            "--sentinel-password-file",
            default=env.get("HN_SENTINEL_PASSWORD_FILE", ""),
            help="file holding the Sentinels' password [HN_SENTINEL_PASSWORD_FILE; or HN_SENTINEL_PASSWORD itself]",
        )
        p.add_argument(
            "--redis-password-file",
            default=env.get("HN_REDIS_PASSWORD_FILE", ""),
            help="file holding Twemproxy's redis_auth [HN_REDIS_PASSWORD_FILE; or HN_REDIS_PASSWORD itself]",
        )
        a = p.parse_args(argv)
        try:
            return cls(
                sentinels=_addresses(a.sentinels),
                config=a.config,
                masters=tuple(m.strip() for m in a.masters.split(",") if m.strip()),
                supervise=a.supervise,
                nutcracker=a.nutcracker,
                stats_host=a.stats_host,
                stats_port=a.stats_port,
                restart_command=a.restart_command,
                reconcile_interval=a.reconcile_interval,
                sentinel_timeout=a.sentinel_timeout,
                metrics_host=a.metrics_host,
                metrics_port=a.metrics_port,
                ready_file=a.ready_file,
                log_level=a.log_level,
                sentinel_password=_secret(a.sentinel_password_file, env.get("HN_SENTINEL_PASSWORD", ""), "Sentinel"),
                redis_password=_secret(a.redis_password_file, env.get("HN_REDIS_PASSWORD", ""), "Redis"),
            )
        except ValueError as exc:
            p.error(str(exc))
            raise  # unreachable: error() exits
