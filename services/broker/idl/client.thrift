/**
 * The game-client protocol: what travels between a game client and a broker over TCP.
 *
 * On the wire every packet is a 4-byte big-endian length followed by a `Packet` in Thrift's
 * binary encoding. The broker reads the header fields and passes `body` through untouched: it
 * is the `<method>_args` struct of the target service's IDL in a request, its `<method>_result`
 * in a reply, the event struct in a push.
 */
namespace py hn_idl.client

/** The `version` every packet carries; a broker refuses packets of another version. */
const i16 PACKET_VERSION = 1

enum PacketKind {
  /** client -> broker: call `type` ("service.method"); `seq` chosen by the client */
  REQUEST = 1,
  /** broker -> client: the result of the request with the same `seq` (in any order) */
  REPLY = 2,
  /** broker -> client: the request with the same `seq` (0: no request) failed, see error_code */
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
  /** The instance holding this session's state for the message family is gone. */
  SESSION_LOST = 9,
  /** The service could not decode the body. */
  BAD_REQUEST = 10,
  INTERNAL = 11,
  /** The service is overloaded: retry later. */
  OVERLOADED = 12,
  /** The broker is full or shutting down: reconnect through brokerlist. */
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
}

/** Pushed as "broker.SessionLost" when the instance holding a session's state is gone. */
struct SessionLost {
  /** the message family, e.g. "duel" */
  1: string family
  2: string reason
}

struct Packet {
  1: i16 version
  2: i32 kind
  /** "service.method" for requests and replies; the event's name for pushes */
  3: string type
  4: i32 seq
  5: optional i32 flags
  6: optional i32 error_code
  7: optional string error_message
  /** Follows the request through every service; sent back in replies and errors. */
  8: optional string trace_id
  9: binary body
}
