"""The platform in one test process: yellow, sso, brokers and brokerlist wired by yellow, on a data tier.

CURVE is on, as in `hn up`: every service has a key pair of its own, named in a CURVE authority
with hn's grants, and registers in yellow with it. A process presents one client key pair for
all its outgoing calls, though: here the services share the test process's, which is the broker's
(a broker's grants cover what the others do: speak for players, push to them). The identity rules
between separate processes are what `hn up`, the chaos tier and the tests of each rule check.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hn_broker import BrokerConfig, BrokerService
from hn_brokerlist import BrokerlistService
from hn_cli import GRANTS
from hn_datatier.local import DataTier
from hn_match import MatchConfig, MatchService, Timing
from hn_runtime import Service
from hn_runtime.curve import LocalIdentities, client_keys, set_client_keys
from hn_runtime.discovery import Directory, Instance, Registration
from hn_runtime.testing import RunningService, running, wait_for
from hn_sso import SsoConfig, SsoService
from hn_yellow import YellowService
from hn_yellow_client import YellowDiscovery, YellowRegistration

#: the platform's identities; a service a test adds gets one of its own when it registers
IDENTITIES = ("yellow", "sso", "match", "broker", "brokerlist")


class PlatformDiscovery:
    """Discovery through the platform's yellow, registering each service with its own key pair."""

    def __init__(self, yellow: str, identities: LocalIdentities) -> None:
        self.identities = identities
        self._yellow = [yellow]
        self._yellow_key = identities.keys("yellow").public
        self._finding = YellowDiscovery(self._yellow, curve_server_key=self._yellow_key)

    @property
    def directory(self) -> Directory:
        return self._finding.directory

    def register(self, describe: Callable[[], Instance]) -> Registration:
        keys = self.identities.add(describe().service)
        return YellowRegistration(self._yellow, describe, curve_server_key=self._yellow_key, curve_keys=keys)


@dataclass
class Platform:
    tier: DataTier
    yellow: RunningService
    discovery: PlatformDiscovery
    brokerlist_url: str
    brokers: list[RunningService] = field(default_factory=list)
    matches: list[RunningService] = field(default_factory=list)

    @property
    def identities(self) -> LocalIdentities:
        """The platform's key pairs and CURVE authority."""
        return self.discovery.identities

    def live(self, service: str) -> int:
        return len([i for i in self.discovery.directory.instances(service) if i.state == "up"])

    def env(self, service: str) -> dict[str, str]:
        """The environment of a `service` process joining this platform (its identity included)."""
        self.identities.add(service)
        return {**self.tier.env, "HN_YELLOW": self.yellow.endpoints["rep"], **self.identities.env(service)}


def match_config(tier: DataTier, **overrides: object) -> MatchConfig:
    """match on `tier`, with a duel short enough for tests (the rules are production's)."""
    fields: dict[str, object] = dict(
        pg_dsn=tier.env["HN_PG_DSN"],
        redis_url=tier.env["HN_REDIS_URL"],
        tick_s=0.05,
        timing=Timing(ready_timeout_s=10.0, signal_delay_s=(0.2, 0.5), shot_window_s=3.0),
    )
    fields.update(overrides)
    return MatchConfig(**fields)  # type: ignore[arg-type]


@contextlib.contextmanager
def _identities() -> Iterator[LocalIdentities]:
    directory = tempfile.mkdtemp(prefix="hn-e2e-curve-")
    before = client_keys()
    try:
        # The services here call with the broker's key (above), so it also holds match's grant.
        identities = LocalIdentities(directory, IDENTITIES, grants={**GRANTS, "host": [*GRANTS["host"], "broker"]})
        set_client_keys(identities.keys("broker"))
        yield identities
    finally:
        set_client_keys(before)
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def platform_on(
    tier: DataTier,
    *,
    brokers: int = 1,
    matches: int = 0,
    trace_sample: float = 0.0,
    sso_options: dict[str, Any] | None = None,
    **broker_options: object,
) -> Iterator[Platform]:
    """`sso_options`: SsoConfig fields over the platform's (the security tier's production limits)."""
    with contextlib.ExitStack() as stack:
        ids = stack.enter_context(_identities())
        yellow = stack.enter_context(running(YellowService(), curve=ids.curve_config("yellow")))
        discovery = PlatformDiscovery(yellow.endpoints["rep"], ids)
        stack.callback(discovery.directory.close)

        def serve(service: Service, **config: Any) -> RunningService:
            return stack.enter_context(
                running(service, discovery=discovery, curve=ids.curve_config(service.name), **config)
            )

        sso_config = SsoConfig(
            pg_dsn=tier.env["HN_PG_DSN"],
            redis_url=tier.env["HN_REDIS_URL"],
            hash_profile="test",
            # Every test's players come from 127.0.0.1: one address making hundreds of accounts.
            account_creations_per_address=10**9,
        )
        sso_config = dataclasses.replace(sso_config, **(sso_options or {}))
        serve(SsoService(sso_config), trace_sample=trace_sample)
        broker_config = BrokerConfig(redis_url=tier.env["HN_REDIS_URL"], **broker_options)  # type: ignore[arg-type]
        started = [serve(BrokerService(broker_config), trace_sample=trace_sample) for _ in range(brokers)]
        platform_matches = [serve(MatchService(match_config(tier))) for _ in range(matches)]
        brokerlist = serve(BrokerlistService())
        platform = Platform(
            tier, yellow, discovery, f"http://{brokerlist.endpoints['http']}/", started, platform_matches
        )
        wait_for(
            lambda: platform.live("sso") == 1
            and platform.live("broker") == brokers
            and platform.live("match") == matches,
            message="the platform up",
        )
        yield platform
