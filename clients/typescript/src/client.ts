/** The game client: find a broker through brokerlist, log in, call services, get pushes, resume. */
import { type Broker, fetchBrokers, spread } from "./brokers";
import { decodeStruct, type StructClass } from "./codec";
import { BrokerConnection } from "./connection";
import { BrokerRejected, ConnectionLost, NotSent, SessionEnded } from "./errors";
import { BrokerError, type Resumed } from "./gen/broker_types";
import { ClientError, type Packet, PacketKind } from "./gen/client_types";
import type { Client as MatchClient } from "./gen/Match";
import type { Client as SsoClient } from "./gen/Sso";
import type { Account, Login } from "./gen/sso_types";
import { BROKER, MATCH, type Pushes, SSO, type ServiceIdl } from "./idl";
import { type Service, serviceProxy } from "./service";
import { connectTcp, tlsConnector } from "./tcp";
import type { Connector, Endpoint } from "./transport";
import { Signal, sleep } from "./waiting";
import { webSocketConnector } from "./websocket";

/** What the client itself tells push handlers, beside the pushes services send. */
export interface ClientEvents {
  /** The session ended elsewhere (or its token no longer resumes): log in again. */
  "broker.SessionEnded": SessionEnded;
  /** The session was resumed on a new connection; the pushes kept meanwhile came before this. */
  "broker.Resumed": Resumed;
}

export type Events = Pushes & ClientEvents;
/** A push handler; a Promise it returns is awaited only for its failure, which is logged. */
export type Handler<T> = (event: T, type: string) => unknown;

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export interface GameClientOptions {
  /** How long a call may take, waiting for a broker included (default 10 s). */
  readonly timeoutMs?: number;
  /** Reconnect and resume the session after losing the broker (default true). */
  readonly reconnect?: boolean;
  /** Which of a broker's endpoints to use: "tcp" (the default) or "tls" in Node; "ws" or "wss"
   * in browsers (and in Node with a WebSocket). */
  readonly transport?: string;
  /** Opens the transport (default: by `transport`, TLS with the system's CAs, the global
   * WebSocket). */
  readonly connector?: Connector;
  readonly connectTimeoutMs?: number;
  /** Ping the broker this often, keeping an idle connection open (default 15 s; 0: never). */
  readonly pingIntervalMs?: number;
  /** A ping unanswered this long closes the connection as dead (default: `timeoutMs`). */
  readonly pingTimeoutMs?: number;
  /** Where the broker list comes from (default: `fetchBrokers` of the brokerlist URL). */
  readonly brokers?: (brokerlistUrl: string) => Promise<Broker[]>;
  /** Draws the order brokers are tried in (default Math.random). */
  readonly random?: () => number;
  readonly logger?: Logger;
}

/** What a broker says on the connection itself when it ends the session there. */
const ENDED = new Set<number>([ClientError.SESSION_ENDED, ClientError.LOGGED_IN_ELSEWHERE]);
/** Calls that open a session: they may follow the end of one. */
const LOGINS = new Set(["sso.login", "sso.create_account", "sso.register", "sso.guest_login"]);
/**
 * Calls that may be sent again after a broker was lost with them in flight: logging in again
 * (the new session replaces one whose reply never came) and resuming. Beyond these, a method in
 * its service's IDEMPOTENT set.
 */
const RESENDABLE = new Set(["sso.login", "sso.guest_login", "broker.resume"]);

const quiet: Logger = {
  info: () => undefined,
  warn: (message, fields) => console.warn(`hn client: ${message}`, fields ?? {}),
};

/**
 * A player's connection to the platform.
 *
 *     const client = new GameClient("http://brokerlist:8080/");
 *     await client.login("harry", "my_dirty_secret");
 *     client.on("match.MatchFound", (found) => ...);
 *     await client.match.enqueue("");
 *
 * After losing its broker (a crash, a drain by a deploy or the autoscaler, a dropped network),
 * a logged-in client reconnects through brokerlist (to any broker) and resumes its session with
 * its token; the pushes sent meanwhile arrive first. Calls made meanwhile wait for the resume
 * (within their timeout). A call the broker refused as BROKER_UNAVAILABLE, or that could not be
 * sent, never ran: it is sent again once resumed. A call in flight when the connection dropped
 * may or may not have run: it is sent again only if that is safe (logins, and the methods an IDL
 * declares IDEMPOTENT); any other fails with ConnectionLost.
 *
 * A session ended elsewhere (this account logged in on another connection, logged out or changed
 * its password there) is not resumed: `ended` says why, calls other than logins fail with it, and
 * "broker.SessionEnded" handlers get it, until the next login.
 */
export class GameClient {
  readonly timeoutMs: number;
  token: string | null = null;
  account: Account | null = null;
  connection: BrokerConnection | null = null;
  /** Sessions resumed on a new connection so far. */
  resumes = 0;
  /** Calls sent again after losing a broker. */
  resent = 0;
  /** Why the session ended elsewhere (null while it lives, or before any login). */
  ended: SessionEnded | null = null;
  /** The typed methods of sso and match (generated from their IDL). */
  readonly sso: Service<SsoClient>;
  readonly match: Service<MatchClient>;

  private readonly reconnect: boolean;
  private readonly transport: string;
  private readonly connector: Connector;
  private readonly connectTimeoutMs: number;
  private readonly pingIntervalMs: number;
  private readonly pingTimeoutMs: number;
  private readonly brokers: (url: string) => Promise<Broker[]>;
  private readonly random: () => number;
  private readonly log: Logger;
  /** Connected, and (when logged in) the session resumed: calls may go out. */
  private readonly ready = new Signal();
  private readonly handlers = new Map<string, Set<Handler<never>>>();
  private readonly services = new Map<string, { idl: ServiceIdl<unknown>; proxy: unknown }>();
  private connecting: Promise<BrokerConnection> | null = null;
  private reconnecting = false;
  private closed = false;

  constructor(
    readonly brokerlistUrl: string,
    options: GameClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.reconnect = options.reconnect ?? true;
    this.transport = options.transport ?? "tcp";
    this.connector = options.connector ?? defaultConnector(this.transport);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.pingIntervalMs = options.pingIntervalMs ?? 15_000;
    this.pingTimeoutMs = options.pingTimeoutMs ?? this.timeoutMs;
    this.brokers = options.brokers ?? ((url) => fetchBrokers(url, this.timeoutMs));
    this.random = options.random ?? Math.random;
    this.log = options.logger ?? quiet;
    this.sso = this.service(SSO);
    this.match = this.service(MATCH);
  }

  // -- connecting ------------------------------------------------------------------------------

  /** Connect to a broker brokerlist lists (spread by their spare capacity). */
  async connect(): Promise<BrokerConnection> {
    if (this.connecting === null) {
      this.connecting = this.openConnection().finally(() => {
        this.connecting = null;
      });
    }
    return this.connecting;
  }

  private async openConnection(): Promise<BrokerConnection> {
    const errors: string[] = [];
    for (const broker of spread(await this.brokers(this.brokerlistUrl), this.random)) {
      if (this.closed) {
        throw new ConnectionLost("the client is closed");
      }
      const endpoint = broker.endpoints.find((candidate) => candidate.kind === this.transport);
      if (endpoint === undefined) {
        errors.push(`${broker.address}: no ${this.transport} endpoint`);
        continue;
      }
      try {
        return this.connected(await this.open(endpoint));
      } catch (error) {
        errors.push(`${endpoint.address}: ${String(error)}`);
      }
    }
    throw new ConnectionLost(`no broker reachable: ${errors.join("; ") || "brokerlist lists none"}`);
  }

  private open(endpoint: Endpoint): Promise<BrokerConnection> {
    return BrokerConnection.open(endpoint, {
      connector: this.connector,
      connectTimeoutMs: this.connectTimeoutMs,
      pingIntervalMs: this.pingIntervalMs,
      pingTimeoutMs: this.pingTimeoutMs,
      onPush: (_connection, packet) => this.pushed(packet),
      onError: (connection, packet) => this.errorSaid(connection, packet),
      onClose: (connection) => this.lost(connection),
    });
  }

  private connected(connection: BrokerConnection): BrokerConnection {
    if (this.closed) {
      connection.close();
      throw new ConnectionLost("the client is closed");
    }
    // One this replaces was closed or is leaving: its broker closes it once it has answered
    // the requests still in flight there.
    this.connection = connection;
    if (this.token === null) {
      this.ready.set();
    }
    return connection;
  }

  private lost(connection: BrokerConnection): void {
    if (connection !== this.connection) {
      return;
    }
    this.ready.clear();
    this.startReconnect();
  }

  private startReconnect(): void {
    if (this.reconnect && !this.closed && this.token !== null && !this.reconnecting) {
      this.reconnecting = true;
      this.ready.clear(); // until the session is resumed on the next broker
      void this.reconnectLoop().finally(() => {
        this.reconnecting = false;
      });
    }
  }

  private async reconnectLoop(): Promise<void> {
    let delay = 50;
    while (!this.closed && this.token !== null) {
      try {
        const connection = await this.connect();
        const broker = this.onConnection(BROKER, connection);
        const resumed = await broker.resume(this.token);
        this.resumes += 1;
        this.ready.set();
        this.log.info("session resumed", { broker: connection.address, pushes: resumed.pushes_waiting });
        this.emit("broker.Resumed", resumed);
        return;
      } catch (error) {
        if (error instanceof BrokerError && error.code === ClientError.UNAUTHENTICATED) {
          // Logged out elsewhere, or expired: this token resumes nothing, log in again.
          this.sessionEnded(new SessionEnded(error.code, error.message));
          this.ready.set(); // the connection serves logins
          return;
        }
        this.log.info("reconnect failed, retrying", { error: String(error) });
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 2_000);
    }
  }

  /** Close the connection; the client does not reconnect. */
  close(): void {
    this.closed = true;
    this.ready.set(); // wakes calls waiting for a broker: they fail at once
    this.connection?.close();
  }

  // -- calling ---------------------------------------------------------------------------------

  /** The typed methods of a service (`defineService` describes one from its generated code). */
  service<C>(idl: ServiceIdl<C>): Service<C> {
    let entry = this.services.get(idl.name);
    if (entry === undefined || entry.idl !== idl) {
      const proxy = serviceProxy(idl, (type, body) => this.request(type, body, this.resendable(idl, type)));
      entry = { idl: idl as ServiceIdl<unknown>, proxy };
      this.services.set(idl.name, entry);
    }
    return entry.proxy as Service<C>;
  }

  /** `idl`'s methods sent on `connection` alone, once (the resume of a session on it). */
  private onConnection<C>(idl: ServiceIdl<C>, connection: BrokerConnection): Service<C> {
    return serviceProxy(idl, async (type, body) => answer(type, await connection.request(type, body, this.timeoutMs)));
  }

  /** May `type` be sent again when it was in flight on a lost connection? */
  private resendable(idl: ServiceIdl<unknown>, type: string): boolean {
    return RESENDABLE.has(type) || idl.idempotent.has(type.slice(idl.name.length + 1));
  }

  /** Send one request ("service.method" and its `<method>_args`), through lost brokers and
   * resumes, within the client's timeout; resolve with its REPLY. */
  private async request(type: string, body: Buffer, resendable: boolean): Promise<Packet> {
    if (this.ended !== null && !LOGINS.has(type)) {
      throw this.ended;
    }
    const deadline = performance.now() + this.timeoutMs;
    let backoff = 20;
    for (;;) {
      const connection = await this.usableBy(deadline);
      try {
        const remaining = Math.max(1, deadline - performance.now());
        return answer(type, await connection.request(type, body, remaining));
      } catch (error) {
        if (error instanceof BrokerRejected && error.code === ClientError.BROKER_UNAVAILABLE) {
          // The broker turned it away unread (it is shutting down, or full): it never ran.
          connection.leaving = true;
          this.startReconnect();
        } else if (error instanceof NotSent) {
          // It never ran: send it again once connected.
        } else if (!(error instanceof ConnectionLost && resendable)) {
          throw error;
        }
      }
      if (performance.now() >= deadline) {
        throw new ConnectionLost(`${type}: no broker to send it to within ${this.timeoutMs} ms`);
      }
      this.resent += 1;
      this.log.info("sending again after losing the broker", { type });
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 1_000);
    }
  }

  private usable(): BrokerConnection | null {
    const connection = this.connection;
    if (connection === null || connection.closed || connection.leaving || !this.ready.isSet) {
      return null;
    }
    return connection;
  }

  private async usableBy(deadline: number): Promise<BrokerConnection> {
    for (;;) {
      if (this.closed) {
        throw new ConnectionLost("the client is closed");
      }
      const connection = this.usable();
      if (connection !== null) {
        return connection;
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        throw new ConnectionLost("not connected to a broker");
      }
      if (this.token === null && !this.reconnecting) {
        // Not logged in: nothing to resume, a fresh connection will do.
        try {
          await this.connect();
        } catch (error) {
          this.log.info("connect failed, retrying", { error: String(error) });
          await sleep(Math.min(200, remaining));
        }
        continue;
      }
      await this.ready.wait(Math.min(remaining, 500));
    }
  }

  /** A round trip to the broker (PING, PONG) in milliseconds. */
  async ping(): Promise<number> {
    const connection = await this.usableBy(performance.now() + this.timeoutMs);
    return connection.ping(this.timeoutMs);
  }

  // -- logging in ------------------------------------------------------------------------------

  private loggedIn(login: Login): Login {
    this.token = login.token;
    this.account = login.account;
    this.ended = null;
    return login;
  }

  async login(user: string, passwd: string): Promise<Login> {
    return this.loggedIn(await this.sso.login(user, passwd));
  }

  /** sso.create_account: a new account, logged in. */
  async register(user: string, passwd: string, deviceId = ""): Promise<Login> {
    return this.loggedIn(await this.sso.create_account(user, passwd, deviceId));
  }

  async guestLogin(deviceId: string): Promise<Login> {
    return this.loggedIn(await this.sso.guest_login(deviceId));
  }

  async logout(): Promise<void> {
    if (this.token !== null) {
      await this.sso.logout(this.token);
      this.token = null;
    }
  }

  /** A new password for this account; the session goes on under the new token returned. */
  async changePassword(old: string, replacement: string): Promise<Login> {
    return this.loggedIn(await this.sso.change_password(old, replacement));
  }

  // -- pushes ----------------------------------------------------------------------------------

  /**
   * Call `handler(event, type)` for every push of `type` ("service.StructName", decoded to its
   * struct), or of every type with "*". Returns a function that removes the handler.
   */
  on<K extends keyof Events>(type: K, handler: Handler<Events[K]>): () => void;
  on(type: string, handler: Handler<unknown>): () => void;
  on(type: string, handler: Handler<never>): () => void {
    let handlers = this.handlers.get(type);
    if (handlers === undefined) {
      handlers = new Set();
      this.handlers.set(type, handlers);
    }
    handlers.add(handler);
    return () => {
      handlers.delete(handler);
    };
  }

  private emit(type: string, event: unknown): void {
    for (const handler of [...(this.handlers.get(type) ?? []), ...(this.handlers.get("*") ?? [])]) {
      try {
        const done = (handler as Handler<unknown>)(event, type);
        if (done instanceof Promise) {
          done.catch((error: unknown) => this.log.warn("push handler failed", { type, error: String(error) }));
        }
      } catch (error) {
        this.log.warn("push handler failed", { type, error: String(error) });
      }
    }
  }

  private errorSaid(connection: BrokerConnection, packet: Packet): void {
    const code = packet.error_code ?? 0;
    if (ENDED.has(code)) {
      // Said on an older connection this client left for another (its own resume there ended
      // the session here): nothing to do with the current one.
      if (connection === this.connection) {
        this.sessionEnded(new SessionEnded(code, packet.error_message ?? ""));
      }
      return;
    }
    this.log.info("broker says", { code, message: packet.error_message });
    if (connection === this.connection && connection.leaving) {
      // Going away (shutting down, idle cut-off): new calls wait for the next broker.
      this.startReconnect();
    }
  }

  private sessionEnded(ended: SessionEnded): void {
    this.log.info("session ended", { code: ended.codeName, error: ended.reason });
    this.ended = ended;
    this.token = null; // its token no longer resumes: no reconnect
    this.emit("broker.SessionEnded", ended);
  }

  private pushed(packet: Packet): void {
    if (packet.kind !== PacketKind.PUSH) {
      return;
    }
    const cls = this.pushStruct(packet.type);
    let event: unknown = packet.body;
    if (cls !== undefined) {
      try {
        event = decodeStruct(cls, packet.body);
      } catch (error) {
        this.log.warn("undecodable push", { type: packet.type, error: String(error) });
        return;
      }
    }
    this.emit(packet.type, event);
  }

  /** The struct a push of `type` carries, from its service's PUSHES (services this client has
   * `service()`d, and the broker's). */
  private pushStruct(type: string): StructClass<object> | undefined {
    const service = type.slice(0, type.indexOf("."));
    const idl = service === BROKER.name ? BROKER : this.services.get(service)?.idl;
    return idl?.pushes.get(type);
  }
}

function defaultConnector(transport: string): Connector {
  switch (transport) {
    case "tcp":
      return connectTcp;
    case "tls":
      return tlsConnector();
    default:
      return webSocketConnector();
  }
}

/** A request's answer: its REPLY, or the error packet as BrokerRejected. */
function answer(type: string, packet: Packet): Packet {
  if (packet.kind === PacketKind.ERROR) {
    throw new BrokerRejected(packet.error_code ?? 0, packet.error_message ?? "", packet.trace_id ?? null, type);
  }
  return packet;
}
