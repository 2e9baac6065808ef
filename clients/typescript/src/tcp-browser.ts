/** What bundlers put in place of tcp.ts for browsers (package.json "browser"): no raw TCP there. */
import type { Connector } from "./transport";

const noTcp: Connector = () =>
  Promise.reject(new Error('browsers have no TCP: use a GameClient with transport "ws" or "wss"'));

export const connectTcp = noTcp;

export function tlsConnector(): Connector {
  return noTcp;
}
