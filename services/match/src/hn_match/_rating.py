"""Elo ratings: the expected score and the update after one duel."""

from __future__ import annotations

__all__ = ["INITIAL_RATING", "expected", "updated"]

INITIAL_RATING = 1200
#: How far one duel moves a rating; 32 is the usual choice for players with few games.
K_FACTOR = 32


def expected(rating: int, opponent: int) -> float:
    """The score `rating` is expected to make against `opponent` (0..1)."""
    return 1.0 / (1.0 + 10 ** ((opponent - rating) / 400))


def updated(rating_a: int, rating_b: int, score_a: float, *, k: int = K_FACTOR) -> tuple[int, int]:
    """Both ratings after a duel where A scored `score_a` (1 win, 0.5 draw, 0 loss).

    The change is computed once and applied with opposite signs, so the two ratings' sum is kept:
    rounding each side on its own would let points appear or vanish over many duels.
    """
    change = round(k * (score_a - expected(rating_a, rating_b)))
    return rating_a + change, rating_b - change
