/**
 * The WebSocket transport (browsers; Node with a WebSocket implementation such as the `ws`
 * package): each Packet is one binary message, no length prefix.
 */
import { NotSent } from "./errors";
import type { Connector, Endpoint, Transport, TransportEvents } from "./transport";

/** The part of the standard WebSocket API (browsers, `ws`, Node 22's global) this transport uses.
 * Handlers take `any` events: each implementation types its own (DOM events, ws's). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
}

/** Opens a WebSocket to `url`: `(url) => new WebSocket(url)` with the implementation and options
 * of one's choice (the `ws` package's, with a CA to trust: `new WebSocket(url, { ca })`). */
export type OpenWebSocket = (url: string) => WebSocketLike;

const OPEN = 1;

class WebSocketTransport implements Transport {
  private closed = false;

  constructor(
    private readonly socket: WebSocketLike,
    private readonly events: TransportEvents,
  ) {
    socket.onmessage = (event: { data: unknown }) => this.received(event.data);
    socket.onerror = () => undefined; // onclose follows
    socket.onclose = () => this.closing();
  }

  send(packet: Buffer): void {
    if (this.closed || this.socket.readyState !== OPEN) {
      throw new NotSent("the connection is closed");
    }
    this.socket.send(packet);
  }

  close(): void {
    this.socket.close();
    this.closing();
  }

  private received(data: unknown): void {
    if (data instanceof ArrayBuffer) {
      this.events.packet(Buffer.from(data));
    } else if (ArrayBuffer.isView(data)) {
      this.events.packet(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    } else {
      // A text message is no packet: the broker speaks binary only.
      this.close();
    }
  }

  private closing(): void {
    if (!this.closed) {
      this.closed = true;
      this.events.close();
    }
  }
}

/** A connector for "ws"/"wss" endpoints (URLs); `open` makes the socket (default: the global
 * WebSocket, which browsers have and Node 20 has not). */
export function webSocketConnector(open?: OpenWebSocket): Connector {
  return (endpoint: Endpoint, events: TransportEvents, { timeoutMs }) =>
    new Promise<Transport>((resolve, reject) => {
      const Global = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
      const opener = open ?? (Global === undefined ? undefined : (url: string) => new Global(url));
      if (opener === undefined) {
        reject(new Error("no WebSocket here: give webSocketConnector one (e.g. the ws package's)"));
        return;
      }
      const socket = opener(endpoint.address);
      socket.binaryType = "arraybuffer";
      const timer = setTimeout(() => {
        socket.onclose = null;
        socket.close();
        reject(new Error(`connecting to ${endpoint.address}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.onerror = () => undefined;
      socket.onclose = () => {
        clearTimeout(timer);
        reject(new Error(`connecting to ${endpoint.address} failed`));
      };
      socket.onopen = () => {
        clearTimeout(timer);
        socket.onopen = null;
        resolve(new WebSocketTransport(socket, events));
      };
    });
}
