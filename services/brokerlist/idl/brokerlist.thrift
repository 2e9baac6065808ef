/** The one address a game client knows: the live brokers and their load, as JSON. */
include "hn_runtime.thrift"

namespace py hn_idl.brokerlist

service Brokerlist extends hn_runtime.Runtime {
}
