"""A broker in front of the echo worker, and its players, for the broker benchmarks (broker.py,
broker_abuse.py).

    python _broker_rig.py serve-broker <ready file> <worker> <sso> <redis url> <capacity> [off|production] [<cert> <key>]

`backends()` starts what a broker under benchmark fronts: the data tier (the broker's session
state, sso's accounts), sso (the players log in as guests) and the hn-runtime echo worker
(`_echo.py`); `broker()` then runs a broker process routing `echo` to that worker and `sso` to
that sso, with a WebSocket listener beside its TCP one (both speak TLS when given a certificate).
`logged_in()` opens players' connections to it, on any of its schemes, each logged in.
"""

from __future__ import annotations

import dataclasses
import os
import ssl
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import _echo
from _harness import child, run_role, service

__all__ = ["Backends", "backends", "broker", "logged_in", "serve_broker"]


def serve_broker(
    ready: str, worker: str, sso: str, redis_url: str, capacity: str, limits: str = "off", cert: str = "", key: str = ""
) -> None:
    """`limits`: "off" raises the per-connection packet rate (a benchmark sends far more than a
    game client) and lifts the per-address cap (all its clients are on this host);
    "production" keeps every default limit (the abuse figures). `cert`, `key`: TLS (and wss)."""
    from gevent import monkey

    monkey.patch_all()
    from hn_broker import BrokerConfig, BrokerService
    from hn_runtime import run
    from hn_runtime.discovery import Instance, StaticDirectory, declared_client_routes

    directory = StaticDirectory(
        {
            name: [Instance(name, f"{name}-bench", {"rep": endpoint}, client_routes=declared_client_routes(name))]
            for name, endpoint in (("echo", worker), ("sso", sso))
        }
    )
    config = BrokerConfig(redis_url=redis_url, capacity=int(capacity), ws_port=0, tls_cert=cert, tls_key=key)
    if limits == "off":
        unlimited = dataclasses.replace(config.limits, rate=1e9, burst=1e9)
        config = dataclasses.replace(config, limits=unlimited, idle_timeout_s=3600.0, max_connections_per_address=0)
    os.environ["HN_READY_FILE"] = ready
    run(BrokerService(config, directory=directory))


@dataclasses.dataclass(frozen=True)
class Backends:
    """Where a broker under benchmark finds its services and its session state."""

    worker: str
    sso: str
    redis_url: str


#: the load generator's players all come from one address
_MANY_ACCOUNTS = {"HN_SSO_ACCOUNT_CREATIONS_PER_ADDRESS": "1000000000"}


@contextmanager
def backends() -> Iterator[Backends]:
    """The data tier, sso and the echo worker, each a process of its own, until the block ends."""
    from hn_datatier.local import DataTier, DataTierConfig

    with (
        DataTier(DataTierConfig()) as tier,
        service("hn_sso", {**tier.env, "HN_SSO_HASH_PROFILE": "test", **_MANY_ACCOUNTS}) as (_, sso_ready),
        child(_echo.__file__, "serve-hn") as worker,
    ):
        yield Backends(worker["rep"], sso_ready["endpoints"]["rep"], tier.env["HN_REDIS_URL"])


def broker(
    to: Backends, capacity: int, limits: str, tls: tuple[str, str] | None = None
) -> AbstractContextManager[dict[str, Any]]:
    """A broker process in front of `to` (see `serve_broker` for `limits`; `tls`: its certificate
    and key files) until the block ends: its ready info, with its "pid"; players connect to
    `["endpoints"]["client"]` (or the endpoint of their scheme: "tcp", "ws", "tls", "wss")."""
    return child(__file__, "serve-broker", to.worker, to.sso, to.redis_url, str(capacity), limits, *(tls or ()))


def logged_in(address: str, count: int, name: str, tls: ssl.SSLContext | None = None) -> list[Any]:
    """`count` connections to the broker at `address` (host:port, or a WebSocket URL; `tls`:
    through TLS with this client context), each logged in as a guest of its own."""
    from hn_client.testing import RawClient

    tag = f"{name}-{os.getpid()}-{time.time_ns() % 10**9}"
    players = []
    for i in range(count):
        player = RawClient(address, tls=tls)
        player.guest_login(f"bench-{tag}-{i}")
        players.append(player)
    return players


if __name__ == "__main__":
    run_role({"serve-broker": serve_broker})
