"""The match service's configuration: HN_PG_DSN, HN_REDIS_URL and HN_MATCH_* tuning."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from hn_match._judge import Rules
from hn_match._pairing import Tolerance
from hn_match._room import Timing

__all__ = ["MatchConfig"]

_MODE = re.compile(r"^[a-z0-9_]{1,16}$")


def _pair(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return float(low), float(high or low)


@dataclass(frozen=True)
class MatchConfig:
    pg_dsn: str
    redis_url: str
    #: queues this deployment runs; the first is the default
    modes: tuple[str, ...] = ("duel",)
    tick_s: float = 0.25
    #: rooms one instance holds at most (its load is rooms / capacity)
    capacity: int = 5000
    timing: Timing = field(default_factory=Timing)
    rules: Rules = field(default_factory=Rules)
    tolerance: Tolerance = field(default_factory=Tolerance)
    #: enqueue reads a rating and every duel writes a result: more than sso's share of Pgpool
    pg_pool_size: int = 12

    def __post_init__(self) -> None:
        bad = [m for m in self.modes if not _MODE.match(m)]
        if not self.modes or bad:
            raise RuntimeError(f"HN_MATCH_MODES: modes are 1-16 of [a-z0-9_], got {list(self.modes)}")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> MatchConfig:
        env = dict(os.environ if env is None else env)
        if "HN_PG_DSN" not in env or "HN_REDIS_URL" not in env:
            raise RuntimeError("match needs HN_PG_DSN (Pgpool) and HN_REDIS_URL (Twemproxy)")
        timing = Timing(
            ready_timeout_s=float(env.get("HN_MATCH_READY_TIMEOUT_S", Timing.ready_timeout_s)),
            signal_delay_s=_pair(env.get("HN_MATCH_SIGNAL_DELAY_S", "1.0,3.0")),
            shot_window_s=float(env.get("HN_MATCH_SHOT_WINDOW_S", Timing.shot_window_s)),
        )
        return cls(
            pg_dsn=env["HN_PG_DSN"],
            redis_url=env["HN_REDIS_URL"],
            modes=tuple(m.strip() for m in env.get("HN_MATCH_MODES", "duel").split(",") if m.strip()),
            tick_s=float(env.get("HN_MATCH_TICK_S", 0.25)),
            capacity=int(env.get("HN_MATCH_CAPACITY", 5000)),
            pg_pool_size=int(env.get("HN_MATCH_PG_POOL_SIZE", 12)),
            timing=timing,
        )

    def valid_mode(self, mode: str | None) -> str | None:
        """The mode asked for (the default when "" or absent), or None if this deployment has no such queue."""
        chosen = mode or self.modes[0]
        return chosen if chosen in self.modes else None
