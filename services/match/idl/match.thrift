/**
 * match: matchmaking by rating, and one-on-one duel rooms.
 *
 * A player enqueues; when the matchmaker pairs them, the instance that hosts the room binds both
 * sessions to itself for the "duel" family (so every broker routes `match.duel_*` there) and
 * pushes `match.MatchFound`. Both send `duel_ready`; after a random delay the server pushes
 * `match.DuelSignal`; each sends one `duel_shoot` with the reaction time the client measured. The
 * server judges with its own clock and pushes `match.DuelResult`, or `match.MatchAborted`. If the
 * room's instance dies, the broker pushes `broker.SessionLost` (family "duel") instead.
 *
 * Each method's doc ends with the MatchErrorCode values it can answer ("Errors: ..."), checked
 * against the handlers by build-support/tests/test_idl_contract.py.
 */
include "hn_runtime.thrift"

namespace py hn_idl.match

enum MatchErrorCode {
  /**
   * A mode this deployment does not run, a malformed argument, a second shot; or a player's
   * call made without a session (only services can: a broker always stamps one).
   */
  INVALID_INPUT = 1,
  /** The player is in a duel: finish it (or let it time out) before queueing again. */
  IN_DUEL = 2,
  /**
   * No such duel: the match id is not a duel of this player in progress (there is none, it is
   * over, or it is another's). Its end, if it just ended, is pushed (or see `last_result`).
   */
  NOT_IN_MATCH = 3,
  /** A dependency (database, cache) failed: retry later; the trace id finds the log. */
  INTERNAL = 4,
}

exception MatchError {
  1: MatchErrorCode code
  2: string message
}

enum QueueState {
  IDLE = 0,
  QUEUED = 1,
  IN_DUEL = 2,
}

struct QueueStatus {
  1: QueueState state
  2: string mode
  3: i32 rating
  /** Milliseconds in the queue so far (QUEUED). */
  4: i64 waited_ms
  /** Players waiting in this mode, this player included. */
  5: i32 queued
  /** The duel in progress (IN_DUEL). */
  6: optional string match_id
}

/** Pushed as "match.MatchFound" to both players: send `duel_ready(match_id)`. */
struct MatchFound {
  1: string match_id
  2: i64 opponent_id
  3: i32 opponent_rating
  4: i32 rating
  5: string mode
  /** Seconds to send duel_ready before the duel is called off. */
  6: i32 ready_timeout_s
}

/** Pushed as "match.DuelSignal": draw! Shoot, with the reaction time measured from this push. */
struct DuelSignal {
  1: string match_id
  /** Seconds to shoot before losing by timeout. */
  2: i32 shot_window_s
}

enum Verdict {
  /** Both shot cleanly; the faster one won. */
  FASTER = 1,
  /**
   * The loser fouled (the first to foul, if both did): shot before the signal, or claimed an
   * inhuman or impossible reaction time.
   */
  FOUL = 2,
  /** The loser did not shoot within the window. */
  TIMEOUT = 3,
  /** Nobody won: neither shot, or both in exactly the same time. */
  DRAW = 4,
}

/** Pushed as "match.DuelResult" to both players once the result is stored. */
struct DuelResult {
  1: string match_id
  /** Absent for a draw. */
  2: optional i64 winner_id
  3: Verdict verdict
  /** Per player: reaction time the server credited (ms), absent when there was no clean shot. */
  4: map<i64, i32> reaction_ms
  /** Per player: the foul, if any ("early", "inhuman", "impossible"). */
  5: map<i64, string> fouls
  /** Per player: rating after the duel. */
  6: map<i64, i32> ratings
}

/** Pushed as "match.MatchAborted": the duel is off, no rating changes; queue again at will. */
struct MatchAborted {
  1: string match_id
  2: string reason
}

const set<string> IDEMPOTENT = ["status", "cancel", "enqueue", "duel_ready", "last_result"]

/** What match pushes to players: push name -> the struct it carries (above). */
const map<string, string> PUSHES = {
  "match.MatchFound": "MatchFound",
  "match.DuelSignal": "DuelSignal",
  "match.DuelResult": "DuelResult",
  "match.MatchAborted": "MatchAborted",
}

/** What game clients may send through a broker (hn-edge route kinds). */
const map<string, string> CLIENT_ROUTES = {
  "enqueue": "session",
  "cancel": "session",
  "status": "session",
  "last_result": "session",
  "duel_ready": "bound:duel",
  "duel_shoot": "bound:duel",
  "duel_leave": "bound:duel",
}

service Match extends hn_runtime.Runtime {
  /**
   * Join the queue of `mode` ("", the default: the deployment's first mode, "duel"); enqueueing
   * again keeps the place.
   * Errors: INVALID_INPUT (no such mode), IN_DUEL, INTERNAL.
   */
  QueueStatus enqueue(1: string mode) throws (1: MatchError error)
  /**
   * Leave the queue (no error when not queued).
   * Errors: INVALID_INPUT, INTERNAL.
   */
  QueueStatus cancel() throws (1: MatchError error)
  /**
   * Where the player stands: idle, queued, or in a duel (its match id).
   * Errors: INVALID_INPUT, INTERNAL.
   */
  QueueStatus status() throws (1: MatchError error)
  /**
   * The newest stored result of the player's duels, as its DuelResult push said it: for a
   * client that missed the push (away longer than the broker keeps pushes for it, see
   * docs/client-protocol.md). `match_id` "" (the other fields empty or unset) when the player has
   * no stored result. Duels called off (MatchAborted, SessionLost) store none.
   * Errors: INVALID_INPUT, INTERNAL.
   */
  DuelResult last_result() throws (1: MatchError error)

  /**
   * Ready for the duel of MatchFound `match_id`.
   * Errors: INVALID_INPUT, NOT_IN_MATCH.
   */
  void duel_ready(1: required string match_id) throws (1: MatchError error)
  /**
   * One shot per duel (a second: INVALID_INPUT); `reaction_ms` is measured by the client from
   * the DuelSignal push.
   * Errors: INVALID_INPUT, NOT_IN_MATCH.
   */
  void duel_shoot(1: required string match_id, 2: required i32 reaction_ms) throws (1: MatchError error)
  /**
   * Walk away: before the signal the duel is aborted, after it the leaver loses by timeout.
   * Errors: INVALID_INPUT, NOT_IN_MATCH.
   */
  void duel_leave(1: required string match_id) throws (1: MatchError error)

  /**
   * Service-only (the matchmaker calls it on the instance it picks): open a room for two
   * players who were just taken off the queue.
   * Errors: INVALID_INPUT, INTERNAL.
   */
  void host_duel(1: required string match_id, 2: required string mode,
                 3: required i64 player_a, 4: required i32 rating_a,
                 5: required i64 player_b, 6: required i32 rating_b) throws (1: MatchError error)
}
