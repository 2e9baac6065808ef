"""Who plays whom: pair waiting players by rating, with a tolerance that widens as they wait.

`pair` sorts once (O(n log n)) and then walks neighbours in rating order (O(n)): the closest
opponent of a player is always a neighbour in that order, so nothing better is missed by looking
only there. A neighbour pair is taken when their gap is within the tolerance of the longer-waiting
of the two, which starts at `base` and widens by `widen_per_s` up to `ceiling`: a new or a top
player, with no one near their rating, is still matched after a while.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Waiting", "Tolerance", "pair"]


@dataclass(frozen=True)
class Waiting:
    account_id: int
    rating: int
    #: when the player joined the queue (ms, any clock shared by the queue's writers)
    since_ms: int


@dataclass(frozen=True)
class Tolerance:
    base: int = 50
    widen_per_s: float = 25.0
    ceiling: int = 600

    def gap(self, waited_ms: int) -> int:
        """The rating gap a player who waited `waited_ms` accepts."""
        return int(min(self.ceiling, self.base + self.widen_per_s * max(0, waited_ms) / 1000))


DEFAULT_TOLERANCE = Tolerance()


def pair(
    waiting: Iterable[Waiting], now_ms: int, tolerance: Tolerance = DEFAULT_TOLERANCE
) -> list[tuple[Waiting, Waiting]]:
    """Disjoint pairs of distinct players, each within the tolerance of its longer waiter."""
    by_rating = sorted(waiting, key=lambda w: (w.rating, w.since_ms, w.account_id))
    pairs: list[tuple[Waiting, Waiting]] = []
    i = 0
    while i + 1 < len(by_rating):
        a, b = by_rating[i], by_rating[i + 1]
        longest_wait = now_ms - min(a.since_ms, b.since_ms)
        if a.account_id != b.account_id and b.rating - a.rating <= tolerance.gap(longest_wait):
            pairs.append((a, b))
            i += 2
        else:
            i += 1
    return pairs
