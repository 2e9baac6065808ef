/** What a call can fail with besides the exceptions its IDL declares (which arrive as themselves,
 * e.g. `sso.SsoError`, `match.MatchError`). */
import { ClientError } from "./gen/client_types";

/** The name of a `ClientError` code, or the number when this SDK does not know it. */
export function clientErrorName(code: number): string {
  return (ClientError as unknown as Record<number, string | undefined>)[code] ?? String(code);
}

/** The broker connection closed with the request in flight: it may or may not have run. */
export class ConnectionLost extends Error {
  override name = "ConnectionLost";
}

/** The connection was gone before the request was written: it never ran (safe to send again). */
export class NotSent extends ConnectionLost {
  override name = "NotSent";
}

/** No answer within the call's timeout: the request may or may not have run. */
export class CallTimeout extends Error {
  override name = "CallTimeout";
  constructor(
    readonly type: string,
    readonly timeoutMs: number,
  ) {
    super(`${type}: no answer within ${timeoutMs} ms`);
  }
}

/** The broker answered a request with an error packet; `code` is a `ClientError`, `traceId`
 * finds the request in the platform's logs. */
export class BrokerRejected extends Error {
  override name = "BrokerRejected";
  constructor(
    readonly code: number,
    readonly reason: string,
    readonly traceId: string | null,
    readonly type: string,
  ) {
    super(`${type}: ${clientErrorName(code)}: ${reason} (trace ${traceId ?? "-"})`);
  }

  get codeName(): string {
    return clientErrorName(this.code);
  }
}

/** The session is over and will not be resumed: the account logged in elsewhere
 * (LOGGED_IN_ELSEWHERE), logged out or changed its password elsewhere (SESSION_ENDED), or its
 * token no longer resumes (UNAUTHENTICATED: expired). Calls other than logins fail with it until
 * the client logs in again. */
export class SessionEnded extends Error {
  override name = "SessionEnded";
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(`${clientErrorName(code)}: ${reason}`);
  }

  get codeName(): string {
    return clientErrorName(this.code);
  }
}
