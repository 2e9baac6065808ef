/** Matchmaking by rating and stateful one-on-one duel rooms. */
include "hn_runtime.thrift"

namespace py hn_idl.match

service Match extends hn_runtime.Runtime {
}
