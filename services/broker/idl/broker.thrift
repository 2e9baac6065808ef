/** Edge: keeps game-client connections and routes framed Thrift packets to services. */
include "hn_runtime.thrift"

namespace py hn_idl.broker

service Broker extends hn_runtime.Runtime {
}
