"""hn-match: matchmaking by rating and stateful one-on-one duel rooms."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hn_process import lazy_exports

__version__ = "0.1.0"
__all__ = ["MatchConfig", "MatchQueue", "MatchService", "Matchmaker", "Timing", "Waiting", "pair", "__version__"]

if TYPE_CHECKING:
    from hn_match._config import MatchConfig
    from hn_match._matchmaker import Matchmaker
    from hn_match._pairing import Waiting, pair
    from hn_match._queue import MatchQueue
    from hn_match._room import Timing
    from hn_match._service import MatchService

# Loaded on first use, so that the entry point patches gevent before anything imports the runtime.
__getattr__ = lazy_exports(
    __name__,
    {
        "MatchConfig": "hn_match._config",
        "MatchService": "hn_match._service",
        "Timing": "hn_match._room",
        "MatchQueue": "hn_match._queue",
        "Matchmaker": "hn_match._matchmaker",
        "Waiting": "hn_match._pairing",
        "pair": "hn_match._pairing",
    },
)
