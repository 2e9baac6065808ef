/**
 * The runtime's own wire types: the envelope that precedes every message body, the error codes
 * a server answers with when no handler result exists, and the base service every HighNoon
 * service extends (so every service answers `health`).
 */
namespace py hn_idl.runtime

/** What a message is. Requests carry a `<method>_args` body; replies a `<method>_result` body. */
enum Kind {
  REQUEST = 1,
  REPLY = 2,
  ERROR = 3,
  EVENT = 4,
}

/** Why a server answered with an error instead of a result. Declared IDL exceptions are results. */
enum ErrorCode {
  UNKNOWN_METHOD = 1,     // the service's IDL has no such method
  BAD_REQUEST = 2,        // envelope or body undecodable, required field missing
  OVERLOADED = 3,         // every slot of the handler pool is busy; not executed, safe to retry
  DEADLINE_EXCEEDED = 4,  // the caller's deadline had passed on arrival; not executed
  INTERNAL = 5,           // the handler crashed; the trace id finds the log line
  UNIMPLEMENTED = 6,      // the IDL declares it, the service has no handler
  DRAINING = 7,           // the instance is shutting down; not executed, safe to retry
  UNAUTHENTICATED = 8,    // a method that needs a session was called without one
}

/**
 * What a reply tells the edge about the game client's session: a login opened it (the broker
 * that forwarded the call binds the client's connection to it), a logout ended it. Brokers act on
 * it only in replies to the client routes that may open ("login", "resume") or end ("logout") one.
 */
struct SessionChange {
  /** The account the session is for; the session id is its decimal form. */
  1: i64 account_id
  2: string display_name
  /** True: the session ended (account_id and display_name are then unused). */
  3: bool ended
}

/**
 * Precedes every body on the wire. `deadline_ms` is absolute (Unix epoch milliseconds): hosts run
 * NTP, and an absolute deadline lets a server refuse work whose caller has already given up.
 */
struct Envelope {
  1: i32 kind
  2: string method
  3: i64 request_id
  4: optional string session_id
  5: optional string trace_id
  6: optional i64 deadline_ms
  7: optional string sender
  8: optional i32 error_code
  9: optional string error_message
  /** The game client's address ("ip:port"), stamped by the broker: rate limits, audit logs. */
  10: optional string client
  /** On a reply: the handler opened or ended the game client's session (see SessionChange). */
  11: optional SessionChange session_change
  /**
   * A bound on the game client's network round trip (microseconds), stamped by the broker from
   * its kernel's view of the client's TCP connection: smoothed RTT plus two mean deviations.
   * Absent when the broker could not measure it. Match's judge uses it (docs/security.md).
   */
  12: optional i64 client_rtt_us
}

struct Health {
  1: string service_name
  2: string instance
  3: string version
  /** "up" or "draining" */
  4: string state
  5: i32 in_flight
  6: i32 pool_size
  7: double load
  8: i64 uptime_ms
}

/** Methods that may be retried on another instance after a lost connection or a timeout. */
const set<string> IDEMPOTENT = ["health"]

service Runtime {
  Health health()
}
