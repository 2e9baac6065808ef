/** Accounts, login and session tokens. */
include "hn_runtime.thrift"

namespace py hn_idl.sso

service Sso extends hn_runtime.Runtime {
}
