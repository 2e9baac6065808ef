-- What a DuelResult push said beyond the winner and the ratings, so that match.last_result can
-- say it again to a player who missed the push: per player (account id as a JSON key), the
-- reaction time credited (ms) and the foul. Results stored before this have neither: empty.
ALTER TABLE match_results
    ADD COLUMN reaction_ms jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN fouls       jsonb NOT NULL DEFAULT '{}'::jsonb;
