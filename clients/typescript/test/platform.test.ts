/**
 * The SDK against a real platform (yellow, sso, match, a broker and brokerlist on a data tier),
 * which tests/test_sdk.py starts and names in HN_BROKERLIST_URL. Each test queues in a mode of
 * its own, so players of different tests are never paired.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, test } from "node:test";

import WebSocket from "ws";

import {
  BrokerRejected,
  connectTcp,
  type Connector,
  Duelist,
  type Events,
  type GameClient,
  match,
  SessionEnded,
  sso,
  tlsConnector,
  type Transport,
  webSocketConnector,
  wire,
} from "../src";
import { brokerIdleS, caFile, closePlayers, fresh, gate, ms, onPlatform, player, waitFor } from "./support";

after(closePlayers);

function pushOf<K extends keyof Events>(client: GameClient, type: K): Promise<Events[K]> {
  return new Promise((resolve) => {
    const off = client.on(type, (event) => {
      off();
      resolve(event);
    });
  });
}

async function guest(client: GameClient): Promise<GameClient> {
  await client.guestLogin(fresh("device-"));
  return client;
}

test("a guest logs in and pings its broker", onPlatform, async () => {
  const client = player();
  const login = await client.guestLogin(fresh("device-"));
  assert.match(login.token, /^[0-9]+\.[0-9a-f]{64}$/);
  assert.equal(login.account.guest, true);
  assert.ok(client.account?.account_id.equals(login.account.account_id));
  const roundTripMs = await client.ping();
  assert.ok(roundTripMs >= 0 && roundTripMs < ms(5), `${roundTripMs} ms`);
});

test("a wrong password is sso's declared SsoError; logging in elsewhere ends the older session", onPlatform, async () => {
  const name = fresh("ts");
  const first = player();
  await first.register(name, "correct horse battery");
  const second = player();
  await assert.rejects(
    second.login(name, "not the password"),
    (error: unknown) => error instanceof sso.SsoError && error.code === sso.SsoErrorCode.WRONG_CREDENTIALS,
  );
  const ended = new Promise<SessionEnded>((resolve) => first.on("broker.SessionEnded", resolve));
  const login = await second.login(name, "correct horse battery");
  assert.ok(login.account.account_id.equals(first.account!.account_id));
  assert.equal((await ended).code, wire.ClientError.LOGGED_IN_ELSEWHERE);
  // The older client does not resume a session that moved: its calls say why, until it logs in.
  await assert.rejects(first.match.status(), SessionEnded);
  assert.equal(first.token, null);
  assert.equal(first.resumes, 0);
  assert.equal((await second.match.status()).state, match.QueueState.IDLE);
});

test("a session call before logging in is refused: BrokerRejected with its code and trace id", onPlatform, async () => {
  const client = player();
  await assert.rejects(client.match.status(), (error: unknown) => {
    assert.ok(error instanceof BrokerRejected);
    assert.equal(error.code, wire.ClientError.UNAUTHENTICATED);
    assert.equal(error.codeName, "UNAUTHENTICATED");
    assert.equal(error.type, "match.status");
    assert.match(error.traceId ?? "", /^[0-9a-f]{16,}$/);
    return true;
  });
});

test("two players queueing are each pushed match.MatchFound naming the other", onPlatform, async () => {
  const [a, b] = await Promise.all([guest(player()), guest(player())]);
  const found = [pushOf(a, "match.MatchFound"), pushOf(b, "match.MatchFound")];
  await a.match.enqueue("ts_push");
  await b.match.enqueue("ts_push");
  const [toA, toB] = await Promise.all(found);
  assert.ok(toA instanceof match.MatchFound);
  assert.equal(toA.match_id, toB!.match_id);
  assert.ok(toA.opponent_id.equals(b.account!.account_id));
  assert.ok(toB!.opponent_id.equals(a.account!.account_id));
  assert.equal(toA.mode, "ts_push");
  await a.match.duel_leave(toA.match_id); // before the signal: the duel is called off for both
});

test("two TypeScript players duel to a result", onPlatform, async () => {
  const [a, b] = await Promise.all([guest(player()), guest(player())]);
  const [byA, byB] = await Promise.all([
    new Duelist(a).duel({ mode: "ts_duel", timeoutMs: ms(30) }),
    new Duelist(b).duel({ mode: "ts_duel", timeoutMs: ms(30) }),
  ]);
  assert.ok(byA && byB);
  assert.equal(byA.matchId, byB.matchId);
  assert.equal(byA.aborted, null, `aborted: ${byA.aborted}`);
  assert.equal(byA.result?.match_id, byA.matchId);
  assert.ok([match.Verdict.FASTER, match.Verdict.DRAW].includes(byA.result!.verdict), String(byA.result!.verdict));
  if (byA.result!.verdict === match.Verdict.FASTER) {
    assert.equal(Number(byA.won) + Number(byB.won), 1, "one winner");
  }
  // The stored result, for a player who missed the push.
  assert.equal((await a.match.last_result()).match_id, byA.matchId);
});

test("after the connection drops the session resumes; pushes sent meanwhile come before the resume's reply", onPlatform, async () => {
  // A's reconnections wait at a gate: while it is closed, A is away and its pushes wait in its
  // session's mailbox.
  const away = gate();
  const transports: Transport[] = [];
  const gated: Connector = async (endpoint, events, options) => {
    if (transports.length) {
      await away.opened;
    }
    const transport = await connectTcp(endpoint, events, options);
    transports.push(transport);
    return transport;
  };
  const [a, b] = await Promise.all([guest(player({ connector: gated })), guest(player())]);
  const arrivals: string[] = [];
  a.on("match.DuelSignal", () => arrivals.push(`DuelSignal after ${a.resumes} resumes`));
  a.on("broker.Resumed", (resumed) => arrivals.push(`resumed, ${resumed.pushes_waiting} pushes waiting`));
  const aResult = pushOf(a, "match.DuelResult");
  const found = [pushOf(a, "match.MatchFound"), pushOf(b, "match.MatchFound")];
  await a.match.enqueue("ts_resume");
  await b.match.enqueue("ts_resume");
  const matchId = (await found[0]!).match_id;
  await found[1];
  const bSignal = pushOf(b, "match.DuelSignal");
  const bResult = pushOf(b, "match.DuelResult");
  await a.match.duel_ready(matchId);

  transports[0]!.close(); // the network drops
  await waitFor(() => a.connection?.closed === true, ms(5), "A's connection to close");
  await b.match.duel_ready(matchId);
  const signalled = await bSignal.then(() => performance.now());
  await new Promise((resolve) => setTimeout(resolve, 200)); // B's hand: the judge refuses a reaction faster than the network
  await b.match.duel_shoot(matchId, Math.round(performance.now() - signalled));
  // A never shoots: B wins once A's shot window is over; the signal was pushed to A seconds before.
  const result = await bResult;
  assert.ok(result.winner_id?.equals(b.account!.account_id));
  assert.equal(result.verdict, match.Verdict.TIMEOUT);

  const status = a.match.status(); // made while away: waits for the resume
  away.open();
  assert.equal((await status).state, match.QueueState.IDLE);
  assert.equal(a.resumes, 1);
  assert.equal(arrivals[0], "DuelSignal after 0 resumes");
  assert.match(arrivals[1] ?? "", /^resumed, [12] pushes waiting$/);
  assert.ok((await aResult).winner_id?.equals(b.account!.account_id));
});

test(
  "pings keep an idle connection past the broker's idle cut; without them the broker cuts it and the session resumes",
  brokerIdleS ? onPlatform : { skip: "HN_TEST_BROKER_IDLE_S is not set" },
  async () => {
    const pinging = await guest(player({ pingIntervalMs: (brokerIdleS * 1000) / 4 }));
    const silent = await guest(player({ pingIntervalMs: 0 }));
    const [pingingConnection, silentConnection] = [pinging.connection!, silent.connection!];
    await waitFor(() => silent.resumes === 1, ms(brokerIdleS * 4), "the silent client to be cut and resume");
    assert.ok(silentConnection.closed);
    assert.equal((await silent.match.status()).state, match.QueueState.IDLE);
    assert.equal(pinging.connection, pingingConnection);
    assert.equal(pingingConnection.closed, false);
    assert.equal(pinging.resumes, 0);
  },
);

/** Over `scheme`: "tcp", "tls", "ws" or "wss" (the secure ones trusting the test's CA). */
function over(scheme: string): GameClient {
  const ca = caFile ? readFileSync(caFile) : undefined;
  const connector =
    scheme === "tls"
      ? tlsConnector({ ca })
      : scheme.startsWith("ws")
        ? webSocketConnector((url) => new WebSocket(url, { ca }))
        : undefined;
  return player({ transport: scheme, ...(connector && { connector }) });
}

test("a player over WebSocket duels a player over TLS, each on the broker serving its scheme", onPlatform, async () => {
  const [web, native] = await Promise.all([guest(over("ws")), guest(over("tls"))]);
  assert.match(web.connection!.address, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal(native.connection!.endpoint.kind, "tls");
  const [byWeb, byNative] = await Promise.all([
    new Duelist(web).duel({ mode: "ts_schemes", timeoutMs: ms(30) }),
    new Duelist(native).duel({ mode: "ts_schemes", timeoutMs: ms(30) }),
  ]);
  assert.equal(byWeb?.matchId, byNative?.matchId);
  assert.ok(byWeb?.result && byNative?.result, `aborted: ${byWeb?.aborted}`);
});

test("over secure WebSocket a guest logs in, pings, and resumes after its connection drops", onPlatform, async () => {
  const client = await guest(over("wss"));
  assert.match(client.connection!.address, /^wss:\/\//);
  assert.ok((await client.ping()) >= 0);
  const first = client.connection!;
  first.close(); // as if the network dropped it
  assert.equal((await client.match.status()).state, match.QueueState.IDLE);
  assert.equal(client.resumes, 1);
  assert.notEqual(client.connection, first);
  assert.equal(client.connection!.endpoint.kind, "wss");
});
