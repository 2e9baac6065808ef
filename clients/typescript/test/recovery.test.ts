/**
 * The SDK against stand-in brokers (test/fake-broker.ts) doing on cue what a real one does only
 * under faults: never answering, splitting frames, going away with a request in flight.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { after, test } from "node:test";

import Int64 = require("node-int64");

import { broker, type Broker, CallTimeout, ConnectionLost, GameClient, match, wire } from "../src";
import { type Answer, error, FakeBroker, login, push, reply } from "./fake-broker";
import { ms, waitFor } from "./support";

const started: FakeBroker[] = [];
const clients: GameClient[] = [];

after(async () => {
  clients.forEach((client) => client.close());
  await Promise.all(started.map((fake) => fake.stop()));
});

async function fake(answer: (request: wire.Packet) => Answer[]): Promise<FakeBroker> {
  const broker = await FakeBroker.start(answer);
  started.push(broker);
  return broker;
}

function client(brokers: () => Broker[], timeoutMs = ms(5)): GameClient {
  const made = new GameClient("http://brokerlist.invalid/", { timeoutMs, brokers: async () => brokers() });
  clients.push(made);
  return made;
}

function status(state: match.QueueState): match.QueueStatus {
  const made = new match.QueueStatus();
  made.state = state;
  made.mode = "duel";
  made.rating = 1200;
  made.waited_ms = new Int64(0);
  made.queued = 1;
  return made;
}

function resumed(accountId: number): broker.Resumed {
  const made = new broker.Resumed();
  made.account_id = new Int64(accountId);
  made.display_name = "fake";
  made.pushes_waiting = 0;
  return made;
}

/** A broker that logs a guest in and answers the rest with `rest`. */
function loggingIn(rest: (request: wire.Packet) => Answer[]): (request: wire.Packet) => Answer[] {
  return (request) => (request.type === "sso.guest_login" ? [reply(request, login("7.token", 7))] : rest(request));
}

/** A broker that resumes the session and answers match.status. */
function resuming(request: wire.Packet): Answer[] {
  if (request.type === "broker.resume") {
    return [reply(request, resumed(7))];
  }
  return [reply(request, status(match.QueueState.QUEUED))];
}

test("no broker reachable: a call fails with ConnectionLost within its timeout", async () => {
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const address = `127.0.0.1:${(closed.address() as net.AddressInfo).port}`;
  await new Promise((resolve) => closed.close(resolve));
  const player = client(() => [{ address, load: 0, endpoints: [{ kind: "tcp", address }] }], 500);
  const begun = performance.now();
  await assert.rejects(player.match.status(), ConnectionLost);
  assert.ok(performance.now() - begun < ms(3), "within the call's timeout");
});

test("a broker that never answers: the call fails with CallTimeout", async () => {
  const silent = await fake(() => ["silence"]);
  const player = client(() => [silent.listing], 300);
  await assert.rejects(player.match.status(), CallTimeout);
});

test("frames split over many reads are put together; a push before a reply is handled first", async () => {
  const trickling = await fake((request) => {
    const found = new match.MatchFound();
    found.match_id = "m-1";
    return [push("match.MatchFound", found), reply(request, status(match.QueueState.IN_DUEL))];
  });
  trickling.trickle = true;
  const player = client(() => [trickling.listing]);
  const seen: string[] = [];
  player.on("match.MatchFound", (found) => {
    seen.push(found.match_id);
  });
  const answer = await player.match.status();
  assert.equal(answer.state, match.QueueState.IN_DUEL);
  assert.deepEqual(seen, ["m-1"]);
});

test("a call the broker refused unread (BROKER_UNAVAILABLE) is sent again on the next broker once resumed", async () => {
  const draining = await fake(
    loggingIn((request) => [error(request.seq, wire.ClientError.BROKER_UNAVAILABLE, "shutting down"), "close"]),
  );
  const next = await fake(resuming);
  const player = client(() => [draining.requests.length ? next.listing : draining.listing]);
  await player.guestLogin("device-1");
  const answer = await player.match.status();
  assert.equal(answer.state, match.QueueState.QUEUED);
  assert.deepEqual(
    next.requests.map((request) => request.type),
    ["broker.resume", "match.status"],
  );
  assert.equal(player.resumes, 1);
  assert.equal(player.resent, 1);
});

test("an idle player its broker tells to move (BROKER_UNAVAILABLE, seq 0: fenced) resumes on the next broker by itself", async () => {
  // What a broker cut off from the platform does (its fence): tell every player at once, close.
  const fenced = await fake((request) =>
    request.type === "sso.guest_login"
      ? [
          reply(request, login("7.token", 7)),
          error(0, wire.ClientError.BROKER_UNAVAILABLE, "broker cut off from the platform"),
          "close",
        ]
      : [],
  );
  const next = await fake(resuming);
  const player = client(() => [fenced.requests.length ? next.listing : fenced.listing]);
  await player.guestLogin("device-fenced");
  await waitFor(() => player.resumes === 1, ms(5), "the player resumed on the next broker");
  assert.deepEqual(
    next.requests.map((request) => request.type),
    ["broker.resume"],
  );
  const answer = await player.match.status();
  assert.equal(answer.state, match.QueueState.QUEUED);
  assert.deepEqual(
    fenced.requests.map((request) => request.type),
    ["sso.guest_login"],
  );
});

/** A logged-in player whose broker goes away at its next request; the next broker resumes it. */
async function playerOnDyingBroker(): Promise<{ player: GameClient; dying: FakeBroker; next: FakeBroker }> {
  const dying = await fake(loggingIn(() => ["close"]));
  const next = await fake(resuming);
  const player = client(() => [dying.requests.length ? next.listing : dying.listing]);
  await player.guestLogin("device-2");
  return { player, dying, next };
}

test("a call in flight when the broker went away is sent again if its IDL says it is idempotent", async () => {
  const { player, dying, next } = await playerOnDyingBroker();
  const answer = await player.match.status(); // IDEMPOTENT in match.thrift
  assert.equal(answer.state, match.QueueState.QUEUED);
  assert.equal(dying.requests.at(-1)?.type, "match.status");
  assert.deepEqual(
    next.requests.map((request) => request.type),
    ["broker.resume", "match.status"],
  );
});

test("a call in flight when the broker went away fails with ConnectionLost if it is not idempotent", async () => {
  const { player, next } = await playerOnDyingBroker();
  // duel_shoot may have landed: the player's call fails rather than shoot twice.
  await assert.rejects(player.match.duel_shoot("m-1", 250), ConnectionLost);
  assert.ok(!next.requests.some((request) => request.type === "match.duel_shoot"));
});
