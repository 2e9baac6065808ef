/** Brokerlist: the one address a game client knows, and the brokers it lists. */
import type { Endpoint } from "./transport";

export interface Broker {
  /** "host:port" of its TCP listener: the key brokerlist lists it by. */
  readonly address: string;
  /** Connections over capacity: 0 idle, 1 full. */
  readonly load: number;
  readonly endpoints: readonly Endpoint[];
}

/** GET the brokerlist document: `{"version": ..., "brokerList": {"host:port": load, ...}}`. */
export async function fetchBrokers(url: string, timeoutMs = 5000): Promise<Broker[]> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) {
    throw new Error(`brokerlist ${url}: HTTP ${response.status}`);
  }
  return parseBrokerList(await response.json());
}

export function parseBrokerList(document: unknown): Broker[] {
  const list = (document as { brokerList?: unknown } | null)?.brokerList;
  if (list === null || typeof list !== "object") {
    throw new Error("brokerlist: the document has no brokerList");
  }
  return Object.entries(list as Record<string, unknown>).map(([address, load]) => ({
    address,
    load: typeof load === "number" ? load : Number(load),
    endpoints: [{ kind: "tcp", address }],
  }));
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
