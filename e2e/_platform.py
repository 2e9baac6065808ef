"""The platform in one test process: yellow, sso, brokers and brokerlist wired by yellow, on a data tier."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from hn_broker import BrokerConfig, BrokerService
from hn_brokerlist import BrokerlistService
from hn_datatier.local import DataTier
from hn_match import MatchConfig, MatchService, Timing
from hn_runtime.testing import RunningService, running, wait_for
from hn_sso import SsoConfig, SsoService
from hn_yellow import YellowService
from hn_yellow_client import YellowDiscovery


@dataclass
class Platform:
    tier: DataTier
    yellow: RunningService
    discovery: YellowDiscovery
    brokerlist_url: str
    brokers: list[RunningService] = field(default_factory=list)
    matches: list[RunningService] = field(default_factory=list)

    def live(self, service: str) -> int:
        return len([i for i in self.discovery.directory.instances(service) if i.state == "up"])


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
def platform_on(
    tier: DataTier, *, brokers: int = 1, matches: int = 0, trace_sample: float = 0.0, **broker_options: object
) -> Iterator[Platform]:
    with contextlib.ExitStack() as stack:
        yellow = stack.enter_context(running(YellowService()))
        discovery = YellowDiscovery([yellow.endpoints["rep"]])
        stack.callback(discovery.directory.close)
        sso_config = SsoConfig(
            pg_dsn=tier.env["HN_PG_DSN"],
            redis_url=tier.env["HN_REDIS_URL"],
            hash_profile="test",
            # Every test's players come from 127.0.0.1: one address making hundreds of accounts.
            account_creations_per_address=10**9,
        )
        stack.enter_context(running(SsoService(sso_config), discovery=discovery, trace_sample=trace_sample))
        broker_config = BrokerConfig(redis_url=tier.env["HN_REDIS_URL"], **broker_options)  # type: ignore[arg-type]
        started = [
            stack.enter_context(running(BrokerService(broker_config), discovery=discovery, trace_sample=trace_sample))
            for _ in range(brokers)
        ]
        platform_matches = [
            stack.enter_context(running(MatchService(match_config(tier)), discovery=discovery)) for _ in range(matches)
        ]
        brokerlist = stack.enter_context(running(BrokerlistService(), discovery=discovery))
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
