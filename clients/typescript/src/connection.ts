/** A connection to one broker: packets out, replies matched by seq, pushes and errors to callbacks. */
import { decodePacket, encodePacket } from "./codec";
import { PACKET_VERSION } from "./gen/client_types";
import { ClientError, Packet, PacketKind } from "./gen/client_types";
import { CallTimeout, ConnectionLost, NotSent } from "./errors";
import type { Connector, Endpoint, Transport } from "./transport";

/** Connection-level errors after which the broker closes the connection. */
const GOING = new Set<number>([
  ClientError.BROKER_UNAVAILABLE,
  ClientError.IDLE_TIMEOUT,
  ClientError.SESSION_ENDED,
  ClientError.LOGGED_IN_ELSEWHERE,
]);

export interface ConnectionOptions {
  readonly connector: Connector;
  readonly connectTimeoutMs: number;
  /** Ping the broker this often (0: never). Keeps the connection from the broker's idle cut. */
  readonly pingIntervalMs: number;
  /** A ping unanswered this long means a dead link: the connection closes. */
  readonly pingTimeoutMs: number;
  readonly onPush: (connection: BrokerConnection, packet: Packet) => void;
  /** Connection-level error packets (seq 0). */
  readonly onError: (connection: BrokerConnection, packet: Packet) => void;
  readonly onClose: (connection: BrokerConnection) => void;
}

interface Waiter {
  resolve(packet: Packet): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

export class BrokerConnection {
  private seq = 0;
  private readonly waiting = new Map<number, Waiter>();
  private readonly pongs = new Map<number, Waiter>();
  private transport: Transport | undefined;
  private pinger: ReturnType<typeof setInterval> | undefined;
  closed = false;
  /** The broker said it is going away (shutting down, full, idle cut, session over): new
   * requests go elsewhere. */
  leaving = false;

  private constructor(
    readonly endpoint: Endpoint,
    private readonly options: ConnectionOptions,
  ) {}

  static async open(endpoint: Endpoint, options: ConnectionOptions): Promise<BrokerConnection> {
    const connection = new BrokerConnection(endpoint, options);
    connection.transport = await options.connector(
      endpoint,
      { packet: (data) => connection.received(data), close: () => connection.close() },
      { timeoutMs: options.connectTimeoutMs },
    );
    if (options.pingIntervalMs > 0) {
      connection.pinger = setInterval(() => connection.keepAlive(), options.pingIntervalMs);
    }
    return connection;
  }

  get address(): string {
    return this.endpoint.address;
  }

  /** Send a request; resolve with its REPLY or ERROR packet. */
  request(type: string, body: Buffer, timeoutMs: number, traceId?: string): Promise<Packet> {
    const seq = this.nextSeq();
    const packet = new Packet({ version: PACKET_VERSION, kind: PacketKind.REQUEST, type, seq, body });
    if (traceId !== undefined) {
      packet.trace_id = traceId;
    }
    return this.exchange(this.waiting, packet, timeoutMs, () => new CallTimeout(type, timeoutMs));
  }

  /** A round trip to the broker (PING, PONG); resolves with its time in milliseconds. */
  async ping(timeoutMs: number): Promise<number> {
    const started = performance.now();
    const packet = new Packet({
      version: PACKET_VERSION,
      kind: PacketKind.PING,
      type: "",
      seq: this.nextSeq(),
      body: Buffer.alloc(0),
    });
    await this.exchange(this.pongs, packet, timeoutMs, () => new CallTimeout("ping", timeoutMs));
    return performance.now() - started;
  }

  close(): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    clearInterval(this.pinger);
    this.transport?.close();
    for (const waiters of [this.waiting, this.pongs]) {
      for (const waiter of waiters.values()) {
        clearTimeout(waiter.timer);
        waiter.reject(new ConnectionLost(`connection to ${this.address} lost`));
      }
      waiters.clear();
    }
    this.options.onClose(this);
  }

  private nextSeq(): number {
    this.seq = this.seq >= 0x7fffffff ? 1 : this.seq + 1;
    return this.seq;
  }

  private exchange(
    waiters: Map<number, Waiter>,
    packet: Packet,
    timeoutMs: number,
    timeout: () => Error,
  ): Promise<Packet> {
    return new Promise<Packet>((resolve, reject) => {
      if (this.closed || this.transport === undefined) {
        reject(new NotSent(`connection to ${this.address} is closed`));
        return;
      }
      const timer = setTimeout(() => {
        waiters.delete(packet.seq);
        reject(timeout());
      }, timeoutMs);
      waiters.set(packet.seq, { resolve, reject, timer });
      try {
        this.transport.send(encodePacket(packet));
      } catch (error) {
        clearTimeout(timer);
        waiters.delete(packet.seq);
        // A broker acts on whole packets only: one that could not be written never ran.
        reject(error instanceof NotSent ? error : new NotSent(`send to ${this.address} failed: ${String(error)}`));
        this.close();
      }
    });
  }

  private keepAlive(): void {
    this.ping(this.options.pingTimeoutMs).catch((error: unknown) => {
      if (error instanceof CallTimeout) {
        this.close(); // no PONG: the link is dead even if the socket does not know it yet
      }
    });
  }

  private received(data: Buffer): void {
    let packet: Packet;
    try {
      packet = decodePacket(data);
    } catch {
      return; // not a packet this SDK can read: skipped, as the broker skips a client's
    }
    switch (packet.kind) {
      case PacketKind.REPLY:
      case PacketKind.ERROR:
        if (this.settle(this.waiting, packet)) {
          return;
        }
        if (packet.kind === PacketKind.ERROR && !packet.seq) {
          if (packet.error_code !== undefined && packet.error_code !== null && GOING.has(packet.error_code)) {
            this.leaving = true; // shutting down, full, idle for too long, or this session is over
          }
          this.options.onError(this, packet);
        }
        return;
      case PacketKind.PONG:
        this.settle(this.pongs, packet);
        return;
      case PacketKind.PUSH:
        this.options.onPush(this, packet);
        return;
    }
  }

  private settle(waiters: Map<number, Waiter>, packet: Packet): boolean {
    const waiter = waiters.get(packet.seq);
    if (waiter === undefined) {
      return false;
    }
    waiters.delete(packet.seq);
    clearTimeout(waiter.timer);
    waiter.resolve(packet);
    return true;
  }
}
