/**
 * The broker's control interface (its client protocol is idl/client.thrift, with the Edge issue).
 */
include "hn_runtime.thrift"

namespace py hn_idl.broker

/** The version of the game-client protocol brokers speak; brokerlist publishes it. */
const string PROTOCOL_VERSION = "0.1.0"

service Broker extends hn_runtime.Runtime {
}
