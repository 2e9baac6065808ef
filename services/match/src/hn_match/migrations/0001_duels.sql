-- Ratings: one row per player who has dueled; a player without one has the initial rating.
CREATE TABLE match_ratings (
    account_id  bigint      PRIMARY KEY,
    rating      integer     NOT NULL,
    duels       integer     NOT NULL DEFAULT 0,
    wins        integer     NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Results: the match id is the key, so a result reported twice is stored (and rated) once.
CREATE TABLE match_results (
    match_id        text        PRIMARY KEY,
    mode            text        NOT NULL,
    player_a        bigint      NOT NULL,
    player_b        bigint      NOT NULL,
    winner          bigint,
    verdict         text        NOT NULL,
    rating_a_after  integer     NOT NULL,
    rating_b_after  integer     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (player_a <> player_b)
);
CREATE INDEX match_results_player_a ON match_results (player_a, created_at);
CREATE INDEX match_results_player_b ON match_results (player_b, created_at);
