/**
 * High Noon, played by a client: queue, get matched, ready, wait for the signal, shoot.
 *
 *     const duelist = new Duelist(client);          // after login
 *     const outcome = await duelist.duel();         // one whole duel: queue .. result (or abort)
 *     outcome.won, outcome.result?.verdict
 *
 * The reaction time sent with a shot is measured here, from the signal's arrival to the trigger,
 * as a real game client does; the server judges it against its own clock.
 *
 * A player away longer than the broker keeps pushes for it (its mailbox) misses the pushes sent
 * meanwhile. Back (resumed), a duelist whose duel ended meanwhile asks for its result
 * (`match.last_result`) rather than report the duel lost.
 */
import type Int64 = require("node-int64");

import type { GameClient } from "./client";
import { BrokerRejected, ConnectionLost } from "./errors";
import { ClientError, type SessionLost } from "./gen/client_types";
import {
  type DuelResult,
  type DuelSignal,
  type MatchAborted,
  MatchError,
  MatchErrorCode,
  MatchFound,
  QueueState,
} from "./gen/match_types";
import { Queue, sleep } from "./waiting";

/** The expected push did not come in time. */
export class DuelTimeout extends Error {
  override name = "DuelTimeout";
}

export interface DuelOutcome {
  matchId: string;
  /** The DuelResult push, when the duel was played to the end. */
  result: DuelResult | null;
  /** Why the duel was called off (MatchAborted, or the room's instance lost: SessionLost). */
  aborted: string | null;
  /** Milliseconds from enqueue to MatchFound. */
  waitedMs: number;
  won: boolean;
}

export interface DuelOptions {
  /** The queue ("": the deployment's first mode). */
  readonly mode?: string;
  /** The player's hand: milliseconds from the signal to the trigger. */
  readonly reactionMs?: () => number;
  readonly timeoutMs?: number;
  /** Wraps each call (for latency figures). */
  readonly timed?: <T>(type: string, call: () => Promise<T>) => Promise<T>;
  /** Turning true while still waiting for an opponent: leave the queue, answer null. */
  readonly stop?: () => boolean;
}

type Event =
  | { kind: "match.MatchFound"; event: MatchFound }
  | { kind: "match.DuelSignal"; event: DuelSignal }
  | { kind: "match.DuelResult"; event: DuelResult }
  | { kind: "match.MatchAborted"; event: MatchAborted }
  | { kind: "broker.SessionLost"; event: SessionLost }
  | { kind: "lost"; event: string };
type Kind = Event["kind"];
type Invoke = <T>(type: string, call: () => Promise<T>) => Promise<T>;

const EVENTS = [
  "match.MatchFound",
  "match.DuelSignal",
  "match.DuelResult",
  "match.MatchAborted",
  "broker.SessionLost",
] as const;
const ENDS: readonly Kind[] = ["match.DuelResult", "match.MatchAborted", "broker.SessionLost"];
/** Silence after a resume before asking the server where the duel stands. */
const RECONCILE_AFTER_MS = 3_000;

class Stopped extends Error {}

function humanReaction(): number {
  return 180 + Math.random() * 170;
}

function sameAccount(a: Int64 | null | undefined, b: Int64 | null | undefined): boolean {
  return a !== null && a !== undefined && b !== null && b !== undefined && a.equals(b);
}

export class Duelist {
  private readonly events = new Queue<Event>();

  constructor(readonly client: GameClient) {
    for (const kind of EVENTS) {
      client.on(kind, (event: unknown) => this.events.put({ kind, event } as Event));
    }
  }

  /** Queue and play one duel. While still waiting for an opponent, `stop()` turning true leaves
   * the queue and answers null; a duel once found is played to its end. */
  async duel(options: DuelOptions = {}): Promise<DuelOutcome | null> {
    const { reactionMs = humanReaction, timeoutMs = 60_000, timed, stop } = options;
    const call: Invoke = (type, invoke) => (timed === undefined ? invoke() : timed(type, invoke));
    const match = this.client.match;
    this.events.clear(); // pushes of an earlier duel that ended in an error
    const deadline = performance.now() + timeoutMs;
    const queuedAt = performance.now();
    await call("match.enqueue", () => match.enqueue(options.mode ?? ""));
    let found: Event;
    try {
      found = await this.next(["match.MatchFound"], null, deadline, stop);
    } catch (error) {
      if (!(error instanceof Stopped)) {
        throw error;
      }
      await call("match.cancel", () => match.cancel());
      return null;
    }
    const waitedMs = performance.now() - queuedAt;
    if (found.kind !== "match.MatchFound") {
      return { matchId: "", result: null, aborted: String(found.event), waitedMs, won: false };
    }
    const matchId = found.event.match_id;
    const outcome: DuelOutcome = { matchId, result: null, aborted: null, waitedMs, won: false };
    const ready = await this.inTime(() => call("match.duel_ready", () => match.duel_ready(matchId)));
    let event = await this.next(ready ? ["match.DuelSignal", ...ENDS] : ENDS, matchId, deadline);
    if (event.kind === "match.DuelSignal") {
      const signalled = performance.now();
      await sleep(reactionMs()); // the player's hand, not a wait for the system
      await this.shoot(call, matchId, Math.round(performance.now() - signalled));
      event = await this.next(ENDS, matchId, deadline);
    }
    if (event.kind === "match.DuelResult") {
      outcome.result = event.event;
      outcome.won = sameAccount(event.event.winner_id, this.client.account?.account_id);
    } else if (event.kind === "match.MatchAborted") {
      outcome.aborted = event.event.reason;
    } else if (event.kind === "broker.SessionLost") {
      outcome.aborted = event.event.reason || event.kind;
    } else {
      outcome.aborted = String(event.event);
    }
    return outcome;
  }

  private async next(
    wanted: readonly Kind[],
    matchId: string | null,
    deadline: number,
    stop?: () => boolean,
  ): Promise<Event> {
    let resumes = this.client.resumes;
    let quietSince = performance.now();
    for (;;) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        throw new DuelTimeout(`no ${wanted.join(" or ")} in time`);
      }
      if (stop?.()) {
        throw new Stopped();
      }
      if (this.client.resumes !== resumes && performance.now() - quietSince >= RECONCILE_AFTER_MS) {
        // The session moved to another broker meanwhile: a push may have been lost on the way
        // (the old broker's last moments). Ask where the player stands.
        resumes = this.client.resumes;
        const lost = await this.reconcile(matchId);
        if (lost !== null) {
          return lost;
        }
      }
      const item = await this.events.get(Math.min(remaining, 500));
      if (item === undefined) {
        continue;
      }
      quietSince = performance.now();
      if (item.kind === "broker.SessionLost" && item.event.family !== "duel") {
        continue;
      }
      const eventMatch = (item.event as { match_id?: string | null }).match_id;
      if (matchId !== null && eventMatch && eventMatch !== matchId) {
        continue; // a late push of an earlier duel
      }
      if (wanted.includes(item.kind)) {
        return item;
      }
    }
  }

  /** What the server says of the duel (or queue) being waited on; null: keep waiting. */
  private async reconcile(matchId: string | null): Promise<Event | null> {
    const status = await this.client.match.status();
    if (matchId === null) {
      // Waiting in the queue for a MatchFound.
      if (status.state === QueueState.IN_DUEL && status.match_id) {
        const found = new MatchFound();
        found.match_id = status.match_id;
        return { kind: "match.MatchFound", event: found };
      }
      return status.state === QueueState.QUEUED ? null : { kind: "lost", event: "left the queue while reconnecting" };
    }
    if (status.state === QueueState.IN_DUEL && status.match_id === matchId) {
      return null;
    }
    // Over while this player was away: its result, if it was played to the end, is stored.
    const result = await this.client.match.last_result();
    if (result.match_id === matchId) {
      return { kind: "match.DuelResult", event: result };
    }
    return { kind: "lost", event: "the duel ended while reconnecting (its last push was lost)" };
  }

  private async shoot(call: Invoke, matchId: string, reactionMs: number): Promise<void> {
    const shot = (): Promise<boolean> =>
      this.inTime(() => call("match.duel_shoot", () => this.client.match.duel_shoot(matchId, reactionMs)));
    try {
      await shot();
    } catch (error) {
      if (!(error instanceof ConnectionLost)) {
        throw error;
      }
      // In flight when the broker went away: it may have landed. Shoot again once resumed;
      // refused as a second shot (or the duel already over), the first one counted.
      try {
        await shot();
      } catch (again) {
        if (!(again instanceof MatchError)) {
          throw again;
        }
      }
    }
  }

  /** Make a duel call; false if the duel was already over when it arrived (the server decided
   * without it: a shot after the window, a ready after the timeout). Its end, a result or an
   * abort, is pushed all the same. */
  private async inTime(invoke: () => Promise<unknown>): Promise<boolean> {
    try {
      await invoke();
      return true;
    } catch (error) {
      if (error instanceof MatchError && error.code === MatchErrorCode.NOT_IN_MATCH) {
        return false;
      }
      if (error instanceof BrokerRejected && error.code === ClientError.SESSION_LOST) {
        return false;
      }
      throw error;
    }
  }
}
