/** What the tests share: the platform under test, time scaled for a busy machine, players. */
import { GameClient, type GameClientOptions } from "../src";

/** The brokerlist of a running platform (the pytest in tests/ starts one and sets it). */
export const brokerlistUrl = process.env.HN_BROKERLIST_URL ?? "";
/** The certificate authority its TLS broker's certificate comes from (PEM file). */
export const caFile = process.env.HN_TEST_CA_FILE ?? "";
/** The idle cut of its brokers, in seconds. */
export const brokerIdleS = Number(process.env.HN_TEST_BROKER_IDLE_S ?? "0");
/** Timeouts in tests scale by HN_TEST_TIME_FACTOR, as the Python tests' do. */
export const factor = Number(process.env.HN_TEST_TIME_FACTOR ?? "1") || 1;

export const onPlatform = brokerlistUrl
  ? {}
  : { skip: "HN_BROKERLIST_URL is not set (./pants test clients/typescript:: starts a platform for these)" };

export function ms(seconds: number): number {
  return seconds * 1000 * factor;
}

let names = 0;

export function fresh(prefix: string): string {
  names += 1;
  return `${prefix}${process.pid}x${names}${Math.random().toString(36).slice(2, 8)}`;
}

export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  message: string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const players: GameClient[] = [];

/** A client of the platform, closed by `closePlayers`. */
export function player(options: GameClientOptions = {}): GameClient {
  const client = new GameClient(brokerlistUrl, { timeoutMs: ms(10), ...options });
  players.push(client);
  return client;
}

export function closePlayers(): void {
  players.splice(0).forEach((client) => client.close());
}

/** A resolved-later promise: `open()` lets whoever awaits `opened` go on. */
export function gate(): { opened: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}
