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
 * GET a brokerlist document: the seed's `{"version", "brokerList": {"host:port": load, ...}}`
 * (`GET /`, `/v1/brokers`: TCP endpoints only), or the one listing each broker's schemes
 * (`GET /v2/brokers`: `{"version", "brokers": [{"address", "load", "endpoints": {"tcp": "host:port",
 * "ws": "ws://host:port/", ...}}]}`).
 */
export async function fetchBrokers(url: string, timeoutMs = 5000): Promise<Broker[]> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) {
    throw new Error(`brokerlist ${url}: HTTP ${response.status}`);
  }
  return parseBrokerList(await response.json());
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

/** Where the document with every broker's schemes is, for a brokerlist URL: `/v2/brokers`
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
