/**
 * sso: accounts, login and session tokens. The broker calls `validate` on every new session;
 * everything else comes from game clients through the broker.
 */
include "hn_runtime.thrift"

namespace py hn_idl.sso

enum SsoErrorCode {
  /** Wrong name or password: the same answer whether the account exists or not. */
  WRONG_CREDENTIALS = 1,
  NAME_TAKEN = 2,
  /** Length or characters of a name, password, device id or token are not acceptable. */
  INVALID_INPUT = 3,
  /** Too many failed logins for this account or from this address: try again later. */
  RATE_LIMITED = 4,
  /** The token is unknown, expired or logged out. */
  INVALID_TOKEN = 5,
  NO_SUCH_ACCOUNT = 6,
  /** A dependency (database, cache) failed: retry later; the trace id finds the log. */
  INTERNAL = 7,
}

exception SsoError {
  1: SsoErrorCode code
  2: string message
  /** For RATE_LIMITED: seconds until the next attempt may succeed. */
  3: optional i32 retry_after_s
}

struct Account {
  1: i64 account_id
  2: string display_name
  /** A device-only account that `register` with the same device id can upgrade. */
  3: bool guest
  4: i64 created_ms
}

struct Login {
  /** "<account id>.<256 random bits, hex>": the session token the client presents (and the broker validates); opaque to clients. */
  1: string token
  2: Account account
  3: i32 expires_in_s
}

const set<string> IDEMPOTENT = ["validate", "get_account", "logout", "resume"]

/**
 * What game clients may send through a broker (hn-edge route kinds): "login" methods are open
 * before login and a successful one opens the session; "logout" closes it; "resume" checks the
 * token of a broker's `broker.resume`. validate and get_account are for services only.
 */
const map<string, string> CLIENT_ROUTES = {
  "register": "login",
  "login": "login",
  "guest_login": "login",
  "logout": "logout",
  "resume": "resume",
}

service Sso extends hn_runtime.Runtime {
  /** Create an account, or upgrade the guest account of `device_id`; logs it in. */
  Login register(1: required string user, 2: required string passwd, 3: optional string device_id)
    throws (1: SsoError error)
  Login login(1: required string user, 2: required string passwd) throws (1: SsoError error)
  /** Log in by device id alone, creating a guest account on its first use. */
  Login guest_login(1: required string device_id) throws (1: SsoError error)
  /** End the session everywhere at once (any sso instance, any broker). */
  void logout(1: required string token) throws (1: SsoError error)
  Account validate(1: required string token) throws (1: SsoError error)
  /**
   * A broker's `broker.resume` (the broker passes its body on as it is): the session of `token`
   * for the client's connection, opened through the reply's envelope. An unknown, expired or
   * logged-out token is refused UNAUTHENTICATED; one that could not be checked is INTERNAL, and
   * the client retries. Declares no exception: a broker reads only the envelope.
   */
  Account resume(1: required string token)
  Account get_account(1: required i64 account_id) throws (1: SsoError error)
}
