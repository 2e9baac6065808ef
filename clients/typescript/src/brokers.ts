/** Brokerlist: the one address a game client knows, and the brokers it lists. */
import type { Endpoint } from "./transport";

export interface Broker {
  /** "host:port" of its TCP listener: the key brokerlist lists it by. */
  readonly address: string;
  /** Connections over capacity: 0 idle, 1 full. */
  readonly load: number;
  readonly endpoints: readonly Endpoint[];
}

/**
 * The brokers a brokerlist lists, with every scheme each serves when it can say: for a URL that
 * names brokerlist's root (ends with "/"), its `/v2/brokers`
 * (`{"version", "brokers": [{"address", "load", "endpoints": {"tcp": "host:port", "ws": "ws://host:port/", ...}}]}`);
 * otherwise, or from a brokerlist without it, the document at the URL itself, the seed's
 * `{"version", "brokerList": {"host:port": load, ...}}` (TCP endpoints only).
 */
export async function fetchBrokers(url: string, timeoutMs = 5000): Promise<Broker[]> {
  const schemes = schemesUrl(url);
  if (schemes !== url) {
    const response = await get(schemes, timeoutMs);
    if (response.status !== 404) {
      return parseBrokerList(await json(schemes, response));
    }
  }
  return parseBrokerList(await json(url, await get(url, timeoutMs)));
}

function get(url: string, timeoutMs: number): Promise<Response> {
  return fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
}

async function json(url: string, response: Response): Promise<unknown> {
  if (!response.ok) {
    throw new Error(`brokerlist ${url}: HTTP ${response.status}`);
  }
  return response.json();
}

interface SchemesEntry {
  address?: unknown;
  load?: unknown;
  endpoints?: unknown;
}

export function parseBrokerList(document: unknown): Broker[] {
  const { brokerList, brokers } = (document ?? {}) as { brokerList?: unknown; brokers?: unknown };
  if (Array.isArray(brokers)) {
    return (brokers as SchemesEntry[]).map((entry) => ({
      address: String(entry.address),
      load: Number(entry.load),
      endpoints: Object.entries((entry.endpoints ?? {}) as Record<string, unknown>).map(([kind, address]) => ({
        kind,
        address: String(address),
      })),
    }));
  }
  if (brokerList === null || typeof brokerList !== "object") {
    throw new Error("brokerlist: the document lists no brokers (no brokerList, no brokers)");
  }
  return Object.entries(brokerList as Record<string, unknown>).map(([address, load]) => ({
    address,
    load: Number(load),
    endpoints: [{ kind: "tcp", address }],
  }));
}

/** Where the document with every broker's schemes is, for a brokerlist URL: `v2/brokers`
 * under a URL that names brokerlist's root (ends with "/"), the URL itself otherwise. */
export function schemesUrl(brokerlistUrl: string): string {
  return brokerlistUrl.endsWith("/") ? new URL("v2/brokers", brokerlistUrl).toString() : brokerlistUrl;
}

/**
 * The order to try brokers in: weighted random by spare capacity (1 - load), so players who start
 * together spread over the brokers in proportion to their room instead of all taking the least
 * loaded one; full brokers last, least loaded first among them.
 */
export function spread(brokers: readonly Broker[], random: () => number = Math.random): Broker[] {
  const keyed = brokers.map((broker) => {
    const spare = Math.max(0, 1 - broker.load);
    // Efraimidis-Spirakis: ordering by u^(1/w) draws without replacement with weights w.
    return { broker, key: spare > 0 ? Math.pow(random(), 1 / spare) : -1 - broker.load };
  });
  return keyed.sort((a, b) => b.key - a.key).map((entry) => entry.broker);
}
