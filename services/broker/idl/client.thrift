/**
 * The game-client protocol: what travels between a game client and a broker over TCP.
 *
 * On the wire every packet is a 4-byte big-endian length followed by a `Packet` in Thrift's
 * binary encoding. The broker reads the header fields and passes `body` through untouched: it
 * is the `<method>_args` struct of the target service's IDL in a request, its `<method>_result`
 * in a reply, the event struct in a push. docs/client-protocol.md tells a client team the rest:
 * limits, timings, what to do on each error.
 */
namespace py hn_idl.client

/** The `version` every packet carries; a broker refuses packets of another version. */
const i16 PACKET_VERSION = 1

enum PacketKind {
  /** client -> broker: call `type` ("service.method"); `seq` chosen by the client */
  REQUEST = 1,
  /**
   * broker -> client: the `<method>_result` of the request with the same `seq` (in any order).
   * A declared exception (SsoError, MatchError...) arrives here, inside the result: not as ERROR.
   */
  REPLY = 2,
  /**
   * broker -> client: the request with the same `seq` failed before any method answered it, see
   * error_code; seq 0: about the connection itself (no request)
   */
  ERROR = 3,
  /** broker -> client: an event a service sent to this session; `type` names it */
  PUSH = 4,
  /** client -> broker: keep-alive; answered by PONG with the same seq */
  PING = 5,
  PONG = 6,
}

enum ClientError {
  /** The packet could not be decoded; repeated, the broker disconnects. */
  MALFORMED = 1,
  UNSUPPORTED_VERSION = 2,
  /** No such message type for clients. */
  UNKNOWN_MESSAGE = 3,
  /** Log in first: before that only the login messages and broker.resume are accepted. */
  UNAUTHENTICATED = 4,
  /** Too many packets, or too many requests in flight, on this connection. */
  RATE_LIMITED = 5,
  /** The packet exceeds the broker's size limit; the broker disconnects. */
  TOO_LARGE = 6,
  /** No live instance of the service could take the request. */
  UNAVAILABLE = 7,
  /** No answer within the deadline; the request may or may not have run. */
  TIMEOUT = 8,
  /**
   * The instance holding this session's state for the message family (a duel room) is gone, and
   * the state with it (a `broker.SessionLost` push says so too). Only ever that: a request for
   * state the session does not have (no duel) reaches the service, which answers in its own
   * terms (match: MatchError NOT_IN_MATCH).
   */
  SESSION_LOST = 9,
  /** The service could not decode the body. */
  BAD_REQUEST = 10,
  INTERNAL = 11,
  /** The service is overloaded: retry later. */
  OVERLOADED = 12,
  /**
   * The broker is full (sent on connecting, then it closes), shutting down (a drain: each new
   * request is refused with its seq, and it never ran; then seq 0, and the broker closes), or
   * cut off from the platform (fenced: seq 0 at once, each new request refused with its seq, and
   * the broker closes a moment later): reconnect through brokerlist to another broker, resume,
   * and send the refused requests again.
   */
  BROKER_UNAVAILABLE = 13,
  /**
   * This IP address already holds as many connections as the broker allows one address (sent
   * on connecting, then the broker closes): close another, or pick another broker.
   */
  TOO_MANY_CONNECTIONS = 14,
  /**
   * Sent with seq 0 when the session was ended elsewhere (logged out with its token from
   * another connection or by a service, or its password changed on another connection): the
   * connection serves nothing more and closes once the requests in flight are answered. The
   * token no longer resumes: do not reconnect with it, log in again.
   */
  SESSION_ENDED = 15,
  /**
   * Sent with seq 0 when the account logged in (or resumed its session) on another connection,
   * on this broker or another: one session per account. As for SESSION_ENDED, the connection
   * serves nothing more and closes once the requests in flight are answered; do not reconnect
   * with this token.
   */
  LOGGED_IN_ELSEWHERE = 16,
  /**
   * Sent with seq 0 before the broker closes a connection that sent no whole packet for its idle
   * timeout (about a minute): send a PING every 15 s or so while there is nothing else to send.
   * The session is kept: reconnect and resume. (Brokers before this code sent BROKER_UNAVAILABLE.)
   */
  IDLE_TIMEOUT = 17,
}

/**
 * Pushed as "broker.SessionLost" when the instance holding a session's state is gone: the state
 * is lost (a duel: no result, no rating change; queue again).
 */
struct SessionLost {
  /** the message family, e.g. "duel" */
  1: string family
  2: string reason
}

/** The pushes the broker itself sends: push name ("broker.<Struct>") -> the struct it carries. */
const map<string, string> PUSHES = {"broker.SessionLost": "SessionLost"}

struct Packet {
  /** PACKET_VERSION; a packet of another version is refused UNSUPPORTED_VERSION */
  1: i16 version
  /** a PacketKind */
  2: i32 kind
  /**
   * "service.method" for requests and replies (an error echoes at most 64 characters of it);
   * the push's name ("service.Struct", see each IDL's PUSHES) for pushes; "" for pings
   */
  3: string type
  /**
   * Chosen by the client for a request (1 and up, not reused while the request is unanswered),
   * echoed by its reply or error and by a ping's pong. 0 in pushes and in errors about the
   * connection rather than a request.
   */
  4: i32 seq
  /** Reserved: brokers neither read nor set it. Leave it unset. */
  5: optional i32 flags
  /** In ERROR packets: a ClientError */
  6: optional i32 error_code
  /** In ERROR packets: for people (logs), not for code to parse */
  7: optional string error_message
  /**
   * Follows the request through every service, and comes back in its reply or error (a push
   * may carry the trace id of the request that caused it). Optional: the broker makes one when
   * it is absent or longer than 64 characters. Quote it when reporting a problem.
   */
  8: optional string trace_id
  /** `<method>_args` in a request, `<method>_result` in a reply, the push's struct in a push */
  9: binary body
}
