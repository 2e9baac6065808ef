/** What bundlers put in place of tcp.ts for browsers (package.json "browser"): no raw TCP there. */
import type { Connector } from "./transport";

export const connectTcp: Connector = () =>
  Promise.reject(new Error('browsers have no TCP: use a GameClient with transport: "ws"'));
