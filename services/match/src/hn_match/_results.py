"""Duel results and ratings in PostgreSQL: each result stored once, ratings moved with it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from hn_datatier import PgPool
from hn_idl.match.ttypes import DuelResult, Verdict
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
    #: per player: the reaction credited (ms), and the foul (as in the DuelResult push)
    reaction_ms: dict[int, int] = field(default_factory=dict)
    fouls: dict[int, str] = field(default_factory=dict)


def _keyed(stored: dict[str, object]) -> dict[int, object]:
    """A JSON object's keys (account ids, strings in JSON) back to ints."""
    return {int(k): v for k, v in stored.items()}


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
        low, high = sorted((a, b))
        # Two round trips in all: BEGIN rides with the first statements, COMMIT with the last.
        with self.pool.folded_transaction() as cur:
            # One round trip: create the players' missing rows and lock both, in one order (a
            # repeat of this result, or another duel of either player, waits here until this one
            # commits, then sees what it stored), and find this result if it was stored before.
            cur.execute(
                "BEGIN; INSERT INTO match_ratings (account_id, rating) VALUES (%s, %s), (%s, %s) ON CONFLICT DO NOTHING;"
                " SELECT r.account_id, r.rating, s.rating_a_after, s.rating_b_after FROM match_ratings r"
                " LEFT JOIN match_results s ON s.match_id = %s"
                " WHERE r.account_id IN (%s, %s) ORDER BY r.account_id FOR UPDATE OF r",
                (low, INITIAL_RATING, high, INITIAL_RATING, outcome.match_id, a, b),
            )
            rows = cur.fetchall()
            if rows[0][2] is not None:
                return {a: int(rows[0][2]), b: int(rows[0][3])}  # rolled back on the way out
            before = {int(row[0]): int(row[1]) for row in rows}
            score_a = 0.5 if outcome.winner is None else (1.0 if outcome.winner == a else 0.0)
            after_a, after_b = updated(before[a], before[b], score_a)
            # One round trip: the result, both ratings and the commit.
            cur.execute(
                "INSERT INTO match_results (match_id, mode, player_a, player_b, winner, verdict,"
                " rating_a_after, rating_b_after, reaction_ms, fouls)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s);"
                " UPDATE match_ratings SET rating = %s, duels = duels + 1, wins = wins + %s, updated_at = now()"
                " WHERE account_id = %s;"
                " UPDATE match_ratings SET rating = %s, duels = duels + 1, wins = wins + %s, updated_at = now()"
                " WHERE account_id = %s; COMMIT",
                (
                    outcome.match_id,
                    outcome.mode,
                    a,
                    b,
                    outcome.winner,
                    outcome.verdict,
                    after_a,
                    after_b,
                    json.dumps(outcome.reaction_ms),
                    json.dumps(outcome.fouls),
                    after_a,
                    1 if outcome.winner == a else 0,
                    a,
                    after_b,
                    1 if outcome.winner == b else 0,
                    b,
                ),
            )
        return {a: after_a, b: after_b}

    def last(self, account_id: int) -> DuelResult | None:
        """The newest stored result of the player's duels, as its DuelResult push said it (None:
        the player has none). Read from the primary: a player asks right after missing a result,
        which a replica may not have yet."""
        # One index scan per side (the player was a or b), the newer of the two kept.
        row = self.pool.fetchone(
            "SELECT match_id, player_a, player_b, winner, verdict, rating_a_after, rating_b_after,"
            " reaction_ms, fouls FROM ("
            " (SELECT *, created_at AS at FROM match_results WHERE player_a = %s ORDER BY created_at DESC LIMIT 1)"
            " UNION ALL"
            " (SELECT *, created_at AS at FROM match_results WHERE player_b = %s ORDER BY created_at DESC LIMIT 1)"
            ") newest ORDER BY at DESC, match_id LIMIT 1",
            (account_id, account_id),
            primary=True,
        )
        if row is None:
            return None
        match_id, a, b, winner, verdict, rating_a, rating_b, reaction_ms, fouls = row
        return DuelResult(
            match_id=match_id,
            winner_id=winner,
            verdict=Verdict._NAMES_TO_VALUES[verdict],
            reaction_ms=_keyed(reaction_ms),
            fouls=_keyed(fouls),
            ratings={int(a): int(rating_a), int(b): int(rating_b)},
        )
