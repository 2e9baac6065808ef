"""What a bot does once logged in: queue, duel, and again, counting everything."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import gevent
from hn_client import Duelist, GameClient

if TYPE_CHECKING:
    from hn_cli._bots import BotStats


def duel_forever(client: GameClient, number: int, stats: BotStats, until: Callable[[], bool]) -> None:
    """Duel until `until()`; a failed duel is counted and the bot plays on."""
    duelist = Duelist(client)
    while not until():
        try:
            outcome = duelist.duel(timed=stats.timed, stop=until, timeout=90)
        except Exception as exc:  # noqa: BLE001 - a failed duel is a figure; the bot plays on
            stats.errors[f"duel: {type(exc).__name__}: {exc}"[:160]] += 1
            gevent.sleep(1.0)
            continue
        if outcome is None:
            return  # stopped while queued
        stats.matches += 1
        stats.latency_ms.setdefault("matchmaking (queue -> found)", []).append(outcome.waited_s * 1000)
        if outcome.result is None:
            stats.aborted += 1
            stats.aborted_why[str(outcome.aborted)[:80]] += 1
            continue
        stats.duels += 1
        stats.dueled[number] += 1
