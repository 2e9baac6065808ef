/**
 * One player's High Noon through the SDK, without the page: log in, queue, ready, signal, shoot,
 * result. Each step is shown through a `View` as a phase and sentences; play.ts is the page's.
 */
import {
  BrokerRejected,
  fetchBrokers,
  GameClient,
  match,
  SessionEnded,
  type broker,
  type sso,
  type wire,
} from "@highnoon/client";

/** Where the player is; the page shows the controls of each (and tests wait for them). */
export type Phase = "out" | "connecting" | "lobby" | "queued" | "matched" | "signal" | "shot" | "result";

/** What the game tells the page. */
export interface View {
  /** The player's phase, a sentence for it and one of detail. */
  show(phase: Phase, status: string, detail: string): void;
  /** Which broker the client is connected to, and how. */
  connected(text: string): void;
}

/** The first mode the deployment runs (match's documented default). */
const DEFAULT_MODE = "";

/**
 * The WebSocket scheme to use: `wanted` when given (the page's ?transport=), else wss when any
 * broker serves it (a page may not open ws from https, and brokers with a certificate serve only
 * wss), else ws.
 */
export async function pickTransport(brokerlistUrl: string, wanted: string | null): Promise<string> {
  if (wanted === "ws" || wanted === "wss") {
    return wanted;
  }
  const brokers = await fetchBrokers(brokerlistUrl);
  return brokers.some((b) => b.endpoints.some((e) => e.kind === "wss")) ? "wss" : "ws";
}

/** What went wrong, in a sentence a player can act on. */
export function describe(error: unknown, transport: string): string {
  if (error instanceof BrokerRejected) {
    return `The server refused: ${error.codeName} (${error.reason}).`;
  }
  if (error instanceof SessionEnded) {
    return `Your session ended: ${error.message}. Log in again.`;
  }
  const message = error instanceof Error ? error.message : String(error);
  if (transport === "wss" && /connect|reachable/i.test(message)) {
    return `${message}. If the brokers' certificate comes from a local CA (hn up --tls), make the browser trust it first.`;
  }
  return message;
}

/** A device id kept in the browser, so a guest comes back as the same player. */
export function deviceId(storage: Storage): string {
  const key = "highnoon.device-id";
  let id = storage.getItem(key);
  if (id === null) {
    const bytes = crypto.getRandomValues(new Uint8Array(16)); // randomUUID needs a secure context
    id = `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
    storage.setItem(key, id);
  }
  return id;
}

function verdictName(verdict: match.Verdict): string {
  const names = match.Verdict as unknown as Record<number, string | undefined>;
  return (names[verdict] ?? String(verdict)).toLowerCase();
}

/** A duel call; NOT_IN_MATCH means the duel was decided without it (a ready after the timeout, a
 * shot after the window): its end is pushed all the same, so that is no failure. */
async function duelCall(call: Promise<void>): Promise<void> {
  try {
    await call;
  } catch (error) {
    if (!(error instanceof match.MatchError && error.code === match.MatchErrorCode.NOT_IN_MATCH)) {
      throw error;
    }
  }
}

export class Game {
  private client: GameClient | null = null;
  private phase: Phase = "out";
  private name = "";
  private rating = 0;
  private matchId: string | null = null;
  private signalledAt: number | null = null;

  constructor(
    private readonly brokerlistUrl: string,
    private readonly transport: string,
    private readonly view: View,
  ) {}

  /** Log in with `login` on a new client; then the lobby. */
  async enter(login: (client: GameClient) => Promise<sso.Login>): Promise<void> {
    this.client?.close();
    this.set("connecting", "Connecting…");
    const client = new GameClient(this.brokerlistUrl, { transport: this.transport });
    this.listen(client);
    try {
      const { account } = await login(client);
      this.name = account.guest ? `guest #${String(account.account_id)}` : account.display_name;
      this.rating = (await client.match.status()).rating;
      this.client = client;
      this.connection(client);
      this.set("lobby", `Logged in as ${this.name}. Rating ${this.rating}.`, "Find a duel when ready.");
    } catch (error) {
      client.close();
      this.set("out", "Not logged in.", describe(error, this.transport));
    }
  }

  async queue(): Promise<void> {
    await this.step(async (client) => {
      this.matchId = null;
      this.set("queued", "Waiting for an opponent…", "You are in the queue.");
      await client.match.enqueue(DEFAULT_MODE);
    });
  }

  async cancel(): Promise<void> {
    await this.step(async (client) => {
      await client.match.cancel();
      if (this.phase === "queued") {
        this.set("lobby", `Logged in as ${this.name}. Rating ${this.rating}.`, "You left the queue.");
      }
    });
  }

  /** The trigger: after the signal a shot with the reaction time measured here, from the
   * signal's arrival; before it, a foul (the server judges by its own clock). */
  async shoot(): Promise<void> {
    const matchId = this.matchId;
    if (matchId === null || (this.phase !== "matched" && this.phase !== "signal")) {
      return;
    }
    const early = this.signalledAt === null;
    const reactionMs = early ? 0 : Math.round(performance.now() - (this.signalledAt ?? 0));
    this.set("shot", early ? "Too early!" : `Shot in ${reactionMs} ms.`, "Waiting for the verdict…");
    await this.step((client) => duelCall(client.match.duel_shoot(matchId, reactionMs)));
  }

  private listen(client: GameClient): void {
    client.on("match.MatchFound", (found) => this.found(client, found));
    client.on("match.DuelSignal", (signal) => this.signalled(signal));
    client.on("match.DuelResult", (result) => this.decided(result));
    client.on("match.MatchAborted", (aborted) => this.calledOff(aborted.match_id, aborted.reason));
    client.on("broker.SessionLost", (lost: wire.SessionLost) => {
      if (lost.family === "duel") {
        this.calledOff(this.matchId, "the duel's server was lost");
      }
    });
    client.on("broker.SessionEnded", (ended: SessionEnded) => {
      if (client === this.client) {
        this.client = null;
        this.set("out", "Not logged in.", describe(ended, this.transport));
      }
    });
    client.on("broker.Resumed", (_resumed: broker.Resumed) => {
      this.connection(client);
    });
  }

  private async found(client: GameClient, found: match.MatchFound): Promise<void> {
    this.matchId = found.match_id;
    this.signalledAt = null;
    const opponent = `player #${String(found.opponent_id)} (rating ${found.opponent_rating})`;
    this.set("matched", `Matched against ${opponent}.`, "Getting ready…");
    await this.step(async () => {
      await duelCall(client.match.duel_ready(found.match_id));
      if (this.phase === "matched" && this.matchId === found.match_id) {
        this.set("matched", "Wait for the signal…", `Against ${opponent}. Shooting before the signal is a foul.`);
      }
    });
  }

  private signalled(signal: match.DuelSignal): void {
    if (signal.match_id === this.matchId && this.phase === "matched") {
      this.signalledAt = performance.now();
      this.set("signal", "DRAW! Shoot!", `You have ${signal.shot_window_s} s.`);
    }
  }

  private decided(result: match.DuelResult): void {
    if (result.match_id !== this.matchId || this.client === null) {
      return;
    }
    this.matchId = null;
    const me = String(this.client.account?.account_id);
    const winner = result.winner_id === undefined || result.winner_id === null ? null : String(result.winner_id);
    const headline = winner === null ? "A draw." : winner === me ? "You won!" : "You lost.";
    const ratings = (result.ratings ?? {}) as Record<string, number>;
    const reactions = (result.reaction_ms ?? {}) as Record<string, number>;
    const fouls = (result.fouls ?? {}) as Record<string, string>;
    const before = this.rating;
    this.rating = ratings[me] ?? before;
    const parts = [`Verdict: ${verdictName(result.verdict)}.`];
    for (const [id, ms] of Object.entries(reactions)) {
      parts.push(`${id === me ? "Your" : "Opponent's"} reaction: ${ms} ms.`);
    }
    for (const [id, foul] of Object.entries(fouls)) {
      parts.push(`${id === me ? "Your" : "Opponent's"} foul: ${foul}.`);
    }
    parts.push(`Rating: ${before} → ${this.rating}.`);
    this.set("result", headline, parts.join(" "));
  }

  private calledOff(matchId: string | null, reason: string): void {
    if (matchId !== null && matchId === this.matchId) {
      this.matchId = null;
      this.set("lobby", "The duel was called off.", `${reason}. Nothing counted; find another duel when ready.`);
    }
  }

  /** Run a call of the logged-in client; a failure is shown, and leaves the player in the lobby. */
  private async step(run: (client: GameClient) => Promise<void>): Promise<void> {
    const client = this.client;
    if (client === null) {
      return;
    }
    try {
      await run(client);
    } catch (error) {
      if (client === this.client && this.phase !== "out") {
        this.set("lobby", "Something went wrong.", describe(error, this.transport));
      }
    }
  }

  private set(phase: Phase, status: string, detail = ""): void {
    this.phase = phase;
    this.view.show(phase, status, detail);
  }

  private connection(client: GameClient): void {
    const address = client.connection?.address;
    this.view.connected(address === undefined ? "" : `Connected over ${this.transport} to ${address}.`);
  }
}
