/**
 * How packets reach a broker. A transport moves whole encoded `Packet`s: TCP frames each with a
 * 4-byte big-endian length, WebSocket sends each as one binary message. Everything above (calls,
 * pushes, pings, resume) is the same over any of them.
 */

/** Where a broker listens: `kind` "tcp" with `address` "host:port", or "ws"/"wss" with a URL. */
export interface Endpoint {
  readonly kind: string;
  readonly address: string;
}

/** What a transport reports to its owner. */
export interface TransportEvents {
  /** One whole encoded Packet arrived. */
  packet(data: Buffer): void;
  /** The transport is closed (by either side, or a failure); called once. */
  close(reason?: Error): void;
}

export interface Transport {
  /** Send one encoded Packet; throws NotSent when the transport is already closed. */
  send(packet: Buffer): void;
  /** Close at once; `events.close` follows. */
  close(): void;
}

export interface ConnectOptions {
  readonly timeoutMs: number;
}

/** Opens a transport to `endpoint`; rejects when it cannot within `options.timeoutMs`. */
export type Connector = (endpoint: Endpoint, events: TransportEvents, options: ConnectOptions) => Promise<Transport>;
