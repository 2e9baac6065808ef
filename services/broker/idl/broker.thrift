/**
 * The broker's own methods: `resume` for game clients, `deliver`, `bound` and `end_session` for
 * services and other brokers (through libs/hn-edge). The game-client protocol itself is client.thrift.
 */
include "hn_runtime.thrift"

namespace py hn_idl.broker

/** The version of the game-client protocol brokers speak; brokerlist publishes it. */
const string PROTOCOL_VERSION = "0.1.0"

struct Resumed {
  1: i64 account_id
  2: string display_name
  /** Pushes sent while the client was away: delivered on this connection just before this reply. */
  3: i32 pushes_waiting
}

exception BrokerError {
  /** a client.ClientError */
  1: i32 code
  2: string message
}

/** What game clients may send, by method: see hn-edge's route kinds. */
const map<string, string> CLIENT_ROUTES = {"resume": "resume"}

service Broker extends hn_runtime.Runtime {
  /**
   * Reattach this connection to the session of `token` after a reconnect (to any broker): send
   * it first on the new connection. The pushes kept meanwhile (the mailbox) arrive just before
   * the reply. BrokerError codes (client.ClientError values):
   * UNAUTHENTICATED: the token is unknown, expired or logged out: log in again;
   * UNAVAILABLE: the token could not be checked now: try again (with a backoff).
   * Errors: UNAUTHENTICATED, UNAVAILABLE.
   */
  Resumed resume(1: required string token) throws (1: BrokerError error)
  /** A push for a session connected to this broker (or kept for it, if it just left). */
  oneway void deliver(1: required string session_id, 2: required binary packet)
  /**
   * The session's state for `family` now lives on `instance_id` ("" when it no longer does);
   * `fate` names that state for settling its end if the instance is lost (hn-edge `settle`).
   */
  oneway void bound(1: required string session_id, 2: required string family, 3: string instance_id, 4: string fate)
  /**
   * End the connection holding `session_id` here (hn-edge `Edge.end_session`): the client is told
   * `code` (a client.ClientError: SESSION_ENDED or LOGGED_IN_ELSEWHERE) with `reason`, is served
   * nothing more, and is closed once its requests in flight are answered. The connection whose
   * address ("ip:port") is `spare_peer` is left alone: the one whose own request ended the session.
   * With `unless_holder`, only if the shared session record no longer names this broker (a
   * newer login elsewhere took the session; a newer one here keeps it). A broker that does not
   * hold the session passes the message on to the one that does while `hops` is 0.
   */
  oneway void end_session(
    1: required string session_id,
    2: i32 code,
    3: string reason,
    4: string spare_peer,
    5: bool unless_holder,
    6: i32 hops,
  )
}
