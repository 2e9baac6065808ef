"""hn-match: matchmaking by rating and stateful one-on-one duel rooms."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["MatchConfig", "MatchService", "__version__"]

if TYPE_CHECKING:
    from hn_match._config import MatchConfig
    from hn_match._service import MatchService


def __getattr__(name: str) -> object:
    # Lazy, so that `python -m hn_match` patches gevent before anything imports the runtime.
    if name == "MatchService":
        from hn_match._service import MatchService

        return MatchService
    if name == "MatchConfig":
        from hn_match._config import MatchConfig

        return MatchConfig
    raise AttributeError(name)
