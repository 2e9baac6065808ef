"""What a bot does once logged in: queue for a match and duel (filled in with the match service)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import gevent
from hn_client import GameClient

if TYPE_CHECKING:
    from hn_cli._bots import BotStats


def duel_forever(client: GameClient, number: int, stats: BotStats, until: Callable[[], bool]) -> None:
    while not until():
        gevent.sleep(0.5)
