"""Duel results and ratings in PostgreSQL: each result stored once, ratings moved with it."""

from __future__ import annotations

from dataclasses import dataclass

from hn_datatier import PgPool
from hn_match._rating import INITIAL_RATING, updated

__all__ = ["Outcome", "Results"]


@dataclass(frozen=True)
class Outcome:
    match_id: str
    mode: str
    player_a: int
    player_b: int
    #: None for a draw
    winner: int | None
    verdict: str


class Results:
    def __init__(self, pool: PgPool) -> None:
        self.pool = pool

    def rating(self, account_id: int) -> int:
        # A replica may lag a just-finished duel by a moment: good enough to pick an opponent.
        row = self.pool.fetchone("SELECT rating FROM match_ratings WHERE account_id = %s", (account_id,))
        return INITIAL_RATING if row is None else int(row[0])

    def record(self, outcome: Outcome) -> dict[int, int]:
        """Store the result and rate it in one transaction; a repeat changes nothing.

        Returns both players' ratings after this duel (as first stored, for a repeat).
        """
        a, b = outcome.player_a, outcome.player_b
        with self.pool.transaction() as cur:
            # Lock both players' rows, in one order: a repeat of this result, or another duel of
            # either player, waits here until this one commits, then sees what it stored.
            for player in sorted((a, b)):
                cur.execute(
                    "INSERT INTO match_ratings (account_id, rating) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (player, INITIAL_RATING),
                )
            cur.execute(
                "SELECT account_id, rating FROM match_ratings WHERE account_id IN (%s, %s) ORDER BY account_id"
                " FOR UPDATE",
                (a, b),
            )
            before = {int(k): int(v) for k, v in cur.fetchall()}
            cur.execute(
                "SELECT rating_a_after, rating_b_after FROM match_results WHERE match_id = %s", (outcome.match_id,)
            )
            stored = cur.fetchone()
            if stored is not None:
                return {a: int(stored[0]), b: int(stored[1])}
            score_a = 0.5 if outcome.winner is None else (1.0 if outcome.winner == a else 0.0)
            after_a, after_b = updated(before[a], before[b], score_a)
            cur.execute(
                "INSERT INTO match_results (match_id, mode, player_a, player_b, winner, verdict,"
                " rating_a_after, rating_b_after) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (outcome.match_id, outcome.mode, a, b, outcome.winner, outcome.verdict, after_a, after_b),
            )
            for player, rating in ((a, after_a), (b, after_b)):
                cur.execute(
                    "UPDATE match_ratings SET rating = %s, duels = duels + 1, wins = wins + %s, updated_at = now()"
                    " WHERE account_id = %s",
                    (rating, 1 if outcome.winner == player else 0, player),
                )
        return {a: after_a, b: after_b}
