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
#: seconds a room may take after its duel is decided to store the result and tell the players:
#: a Sentinel or Pgpool failover met on the way (2-3 s here) and the pushes
RESULT_MARGIN_S = 10.0


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

    @property
    def longest_duel_s(self) -> float:
        """The longest a room lives: the ready timeout, the latest signal, the shot window with
        the network's allowance, and the margin to store the result. A draining instance waits
        this long at most for its rooms (its drain window is at least this)."""
        timing = self.timing
        shot_window_s = timing.shot_window_s + self.rules.latency_allowance_ms / 1000
        return timing.ready_timeout_s + timing.signal_delay_s[1] + shot_window_s + RESULT_MARGIN_S

    def valid_mode(self, mode: str | None) -> str | None:
        """The mode asked for (the default when "" or absent), or None if this deployment has no such queue."""
        chosen = mode or self.modes[0]
        return chosen if chosen in self.modes else None
