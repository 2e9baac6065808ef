/** The TCP transport (Node), plain or in TLS: each Packet framed with a 4-byte big-endian length. */
import * as net from "node:net";
import * as tls from "node:tls";

import { NotSent } from "./errors";
import type { Connector, Endpoint, Transport, TransportEvents } from "./transport";

/** A frame longer than this is no packet a broker sends: the stream is broken. */
const MAX_FRAME_BYTES = 16 * 1024 * 1024;

class TcpTransport implements Transport {
  private buffered: Buffer = Buffer.alloc(0);
  private closed = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly events: TransportEvents,
  ) {
    socket.on("data", (chunk: Buffer) => this.received(chunk));
    socket.on("error", () => undefined); // "close" follows, which is what the owner hears
    socket.on("close", () => this.closing());
  }

  send(packet: Buffer): void {
    if (this.closed || this.socket.destroyed) {
      throw new NotSent("the connection is closed");
    }
    const header = Buffer.alloc(4);
    header.writeUInt32BE(packet.length);
    this.socket.write(Buffer.concat([header, packet]));
  }

  close(): void {
    this.socket.destroy();
    this.closing();
  }

  private received(chunk: Buffer): void {
    let data = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    while (data.length >= 4) {
      const size = data.readUInt32BE(0);
      if (size > MAX_FRAME_BYTES) {
        this.socket.destroy();
        return;
      }
      if (data.length < 4 + size) {
        break;
      }
      const payload = data.subarray(4, 4 + size);
      data = data.subarray(4 + size);
      this.events.packet(payload);
      if (this.closed) {
        return;
      }
    }
    this.buffered = data;
  }

  private closing(): void {
    if (!this.closed) {
      this.closed = true;
      this.events.close();
    }
  }
}

function hostAndPort(address: string): [string, number] {
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return [host, Number(address.slice(colon + 1))];
}

/** Opens `socket` (its "connect" event: `ready`) as a transport, within `timeoutMs`. */
function framed(
  endpoint: Endpoint,
  events: TransportEvents,
  timeoutMs: number,
  ready: string,
  socket: net.Socket,
): Promise<Transport> {
  return new Promise<Transport>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connecting to ${endpoint.address}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(new TcpTransport(socket, events));
    });
  });
}

/** Connects to a "tcp" endpoint ("host:port"). */
export const connectTcp: Connector = (endpoint, events, { timeoutMs }) => {
  const [host, port] = hostAndPort(endpoint.address);
  return framed(endpoint, events, timeoutMs, "connect", net.connect({ host, port, noDelay: true }));
};

/** A connector for "tls" endpoints ("host:port"): TCP framing inside TLS. `options.ca`: the
 * certificate authority to trust instead of the system's (a local CA, as `hn up --tls` makes). */
export function tlsConnector(options: { readonly ca?: string | Buffer } = {}): Connector {
  return (endpoint, events, { timeoutMs }) => {
    const [host, port] = hostAndPort(endpoint.address);
    const socket = tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ca: options.ca });
    socket.setNoDelay(true);
    return framed(endpoint, events, timeoutMs, "secureConnect", socket);
  };
}
