/** Discovery and presence: service instances register, heartbeat and are found here. */
include "hn_runtime.thrift"

namespace py hn_idl.yellow

service Yellow extends hn_runtime.Runtime {
}
