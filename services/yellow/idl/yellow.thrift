/**
 * Yellow: discovery and presence. Providers heartbeat their registration; consumers take a
 * snapshot and follow the published changes (the ZeroMQ guide's Clone pattern).
 */
include "hn_runtime.thrift"

namespace py hn_idl.yellow

/**
 * A message game clients may send to a service through a broker: "<service>.<method>". Each
 * service publishes its IDL's CLIENT_ROUTES with its registration, so brokers learn routes at run
 * time and never compile a service's IDL.
 */
struct ClientRoute {
  1: required string method
  /** "login", "logout", "session", "bound:<family>" or "resume" (hn-edge's route kinds) */
  2: required string kind
  /** May be sent again to another instance after a connection was lost with it in flight. */
  3: bool idempotent
}

/** One service instance as discovery knows it. */
struct InstanceInfo {
  1: required string service_name
  2: required string instance_id
  /** "rep", "pull", "pub" (ZeroMQ endpoints); "metrics", "http" (host:port); a broker's game-client
      listeners: "client" and "tcp" (framed TCP), "tls", "ws", "wss" (host:port) */
  3: map<string, string> endpoints
  4: string version
  /** 0 idle .. 1 full; brokers report connections / capacity */
  5: double load
  /** "up" | "draining" | "down" */
  6: string state
  /**
   * The provider's heartbeat counter, increasing across restarts of the same instance id (wall-clock
   * microseconds): with several yellows, or a restarted process, the higher beat is the newer news.
   */
  7: i64 beat
  /** Set by the yellow server: when it last heard from the instance (Unix ms). */
  8: i64 last_seen_ms
  /** Set by the yellow server: when it first heard from the instance (Unix ms). */
  9: i64 registered_ms
  /** The Z85 CURVE public key of the instance's ZeroMQ endpoints; absent: they speak plaintext.
      Optional, so yellows and clients from before CURVE skip it. */
  10: optional string curve_public_key
  /** What game clients may send to this service through brokers. Optional: yellows and
      consumers from before it skip it. */
  11: optional list<ClientRoute> client_routes
}

/** Published on topic "yellow": one instance changed (new, moved, new version, state, load). */
struct Change {
  1: string server_id
  2: i64 sequence
  3: InstanceInfo instance
  /** The instance was forgotten (down for longer than the server keeps the dead). */
  4: bool removed
}

/** Published on topic "yellow" every second: lets subscribers notice updates they missed. */
struct Tick {
  1: string server_id
  2: i64 sequence
}

struct Snapshot {
  /** A yellow server starts with an empty memory and a new id; sequences restart with it. */
  1: string server_id
  2: i64 sequence
  3: list<InstanceInfo> instances
  /** Where this yellow publishes its changes. */
  4: string pub_endpoint
  5: i32 heartbeat_ms
  /** How long this yellow has been up: younger than a few heartbeats, its memory is still filling. */
  6: i64 uptime_ms
}

exception InvalidRegistration {
  1: string reason
}

const set<string> IDEMPOTENT = ["heartbeat", "snapshot", "find"]

service Yellow extends hn_runtime.Runtime {
  /** Register, refresh or change state (a heartbeat carries the whole registration, so a
      restarted yellow relearns everything within one interval). Returns the interval in ms. */
  i32 heartbeat(1: required InstanceInfo instance) throws (1: InvalidRegistration invalid)
  Snapshot snapshot()
  /** Every known instance of `service` (all services when empty), with state and last heartbeat. */
  list<InstanceInfo> find(1: string service_name)
}
