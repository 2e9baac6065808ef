/**
 * sso: accounts, login and session tokens. Game clients call it through a broker; `validate`
 * and `get_account` are for services, `resume` for brokers.
 *
 * Each method's doc ends with the SsoErrorCode values it can answer ("Errors: ..."), checked
 * against the handlers by build-support/tests/test_idl_contract.py.
 */
include "hn_runtime.thrift"

namespace py hn_idl.sso

enum SsoErrorCode {
  /** Wrong name or password: the same answer whether the account exists or not. */
  WRONG_CREDENTIALS = 1,
  NAME_TAKEN = 2,
  /**
   * Length or characters of a name, password, device id or token are not acceptable (control
   * characters, NUL included, never are).
   */
  INVALID_INPUT = 3,
  /**
   * Slow down: failed logins for this account or from this address (each failure beyond a few
   * doubles the wait, up to a cap), or too many accounts created from this address. Wait
   * `retry_after_s`, then try again; an account's owner logging in from their usual address is
   * not held back by guesses from elsewhere.
   */
  RATE_LIMITED = 4,
  /** The token is unknown, expired or logged out; or a session-only call came without a session. */
  INVALID_TOKEN = 5,
  NO_SUCH_ACCOUNT = 6,
  /** A dependency (database, cache) failed: retry later; the trace id finds the log. */
  INTERNAL = 7,
  /**
   * `create_account` with a `device_id` that already belongs to an account, from a call that is
   * not that device's guest session: a guest account is upgraded only by its own session (call
   * `guest_login` with the device id first, then `create_account` on the same connection).
   * Create the account without `device_id` to make a new one instead.
   */
  NOT_YOUR_DEVICE = 8,
}

exception SsoError {
  1: SsoErrorCode code
  2: string message
  /** For RATE_LIMITED: seconds to wait before the next attempt. */
  3: optional i32 retry_after_s
}

struct Account {
  1: i64 account_id
  2: string display_name
  /** A device-only account that its own session can upgrade (`create_account` with its device id). */
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
  "create_account": "login",
  "login": "login",
  "guest_login": "login",
  "logout": "logout",
  "resume": "resume",
  "change_password": "session",
}

/**
 * Old method name -> its method now: callers of the old name (Python proxies, game clients
 * sending "sso.register") are still served. `register` is a reserved word in C++, Java, Go, C#
 * and JavaScript, so no client generated in those languages could call it.
 */
const map<string, string> RENAMED = {"register": "create_account"}

service Sso extends hn_runtime.Runtime {
  /**
   * Create an account and log it in (formerly `register`). `device_id` "" (the default): none.
   * With a `device_id`: a device no account has yet is bound to
   * the new account; the device of a guest account is upgraded in place (same account id, now
   * with this name and password) only when this call comes from that guest's own session,
   * otherwise NOT_YOUR_DEVICE. RATE_LIMITED when this address made too many accounts lately.
   * Errors: INVALID_INPUT, NAME_TAKEN, NOT_YOUR_DEVICE, RATE_LIMITED, INTERNAL.
   */
  Login create_account(1: required string user, 2: required string passwd, 3: string device_id)
    throws (1: SsoError error)
  /**
   * Log in with a name and password (RATE_LIMITED after repeated failures: wait
   * `retry_after_s`).
   * Errors: WRONG_CREDENTIALS, INVALID_INPUT, RATE_LIMITED, INTERNAL.
   */
  Login login(1: required string user, 2: required string passwd) throws (1: SsoError error)
  /**
   * Log in by device id alone, creating a guest account on its first use (RATE_LIMITED when this
   * address made too many accounts lately). The device id is the guest's only credential: make
   * it random (128 bits or more) and keep it private to the device.
   * Errors: INVALID_INPUT, RATE_LIMITED, INTERNAL.
   */
  Login guest_login(1: required string device_id) throws (1: SsoError error)
  /**
   * End the session everywhere at once (any sso instance, any broker): the token stops
   * validating, and a connection holding the session elsewhere is told SESSION_ENDED and closed.
   * Errors: INVALID_TOKEN (a malformed token; an unknown one is no error), INTERNAL.
   */
  void logout(1: required string token) throws (1: SsoError error)
  /**
   * The session's account gets a new password (a session-only call: the caller's own account).
   * The current session goes on under a new token, returned here (the old one no longer
   * validates or resumes); any other connection of the account is told SESSION_ENDED and
   * closed. WRONG_CREDENTIALS for a wrong `old_passwd` (throttled as logins are, RATE_LIMITED)
   * or a guest account (no password: create_account instead); INVALID_INPUT for a `new_passwd` that
   * `create_account` would refuse; INVALID_TOKEN without a session.
   * Errors: WRONG_CREDENTIALS, INVALID_INPUT, INVALID_TOKEN, RATE_LIMITED, INTERNAL.
   */
  Login change_password(1: required string old_passwd, 2: required string new_passwd) throws (1: SsoError error)
  /**
   * Service-only: the account of a session token.
   * Errors: INVALID_TOKEN, INTERNAL.
   */
  Account validate(1: required string token) throws (1: SsoError error)
  /**
   * A broker's `broker.resume` (the broker passes its body on as it is): the session of `token`
   * for the client's connection, opened through the reply's envelope. An unknown, expired or
   * logged-out token is refused UNAUTHENTICATED; one that could not be checked is INTERNAL, and
   * the client retries. Declares no exception: a broker reads only the envelope.
   */
  Account resume(1: required string token)
  /**
   * Service-only: an account by id.
   * Errors: NO_SUCH_ACCOUNT, INTERNAL.
   */
  Account get_account(1: required i64 account_id) throws (1: SsoError error)
}
