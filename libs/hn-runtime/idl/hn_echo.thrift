/**
 * A small service used by the runtime's own tests and benchmarks, shipped with hn_runtime.testing
 * so other packages can test against a real service too.
 */
include "hn_runtime.thrift"

namespace py hn_idl.echo

exception Refused {
  1: string reason
}

struct Tick {
  1: i64 n
  2: string note
}

const set<string> IDEMPOTENT = ["echo", "slow", "whoami"]

/**
 * What game clients may send through a broker (hn-edge route kinds), for the broker's tests and
 * benchmarks: all need a logged-in session.
 */
const map<string, string> CLIENT_ROUTES = {"echo": "session", "slow": "session", "whoami": "session"}

service Echo extends hn_runtime.Runtime {
  binary echo(1: required binary payload)
  /** Sleeps (cooperatively) for `ms`, then answers `ms`. */
  i32 slow(1: i32 ms)
  /** Raises the declared exception. */
  void refuse(1: string reason) throws (1: Refused refused)
  /** Raises an undeclared one: the caller sees an INTERNAL error. */
  void crash()
  /** Answers what the server saw of the caller's context: "session|trace". */
  string whoami()
  /** Calls `echo` on `target`'s instances: proves trace and deadline propagation. */
  string relay(1: string target)
  /** Not idempotent: counts how often it ran. */
  i64 bump()
  /** Publishes `count` Tick events on `topic`. */
  void emit(1: string topic, 2: i32 count)
  /** Pushed work: appends `n` to the list `seen` answers. */
  oneway void record(1: i64 n)
  list<i64> seen()
}
