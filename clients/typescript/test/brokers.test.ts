/** Brokerlist's document, and the order a client tries brokers in. */
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";

import { type Broker, fetchBrokers, parseBrokerList, schemesUrl, spread } from "../src";

/** A brokerlist answering `documents` by path (404 for any other), for the length of `use`. */
async function serving(documents: Record<string, unknown>, use: (url: string) => Promise<void>): Promise<void> {
  const server = http.createServer((request, response) => {
    const document = documents[request.url ?? ""];
    response.writeHead(document === undefined ? 404 : 200, { "Content-Type": "application/json" });
    response.end(document === undefined ? "" : JSON.stringify(document));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** A seeded generator (mulberry32): the same draws on every run. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function broker(address: string, load: number): Broker {
  return { address, load, endpoints: [{ kind: "tcp", address }] };
}

test("the brokerlist document lists brokers by address with their load", () => {
  const brokers = parseBrokerList({ version: "0.1.0", brokerList: { "10.0.0.1:7000": 0.25, "10.0.0.2:7000": 0 } });
  assert.deepEqual(brokers, [broker("10.0.0.1:7000", 0.25), broker("10.0.0.2:7000", 0)]);
  assert.throws(() => parseBrokerList({ version: "0.1.0" }), /lists no brokers/);
});

test("the document with each broker's schemes gives its endpoints by kind", () => {
  const brokers = parseBrokerList({
    version: "0.1.0",
    brokers: [
      { address: "10.0.0.1:7000", load: 0.5, endpoints: { tcp: "10.0.0.1:7000", ws: "ws://10.0.0.1:7001/" } },
    ],
  });
  assert.deepEqual(brokers, [
    {
      address: "10.0.0.1:7000",
      load: 0.5,
      endpoints: [
        { kind: "tcp", address: "10.0.0.1:7000" },
        { kind: "ws", address: "ws://10.0.0.1:7001/" },
      ],
    },
  ]);
  assert.equal(schemesUrl("http://lb.example:8080/"), "http://lb.example:8080/v2/brokers");
  assert.equal(schemesUrl("https://cdn.example/game/"), "https://cdn.example/game/v2/brokers");
  assert.equal(schemesUrl("https://cdn.example/brokers.json"), "https://cdn.example/brokers.json");
});

test("players spread over brokers by spare capacity, not all onto the least loaded", () => {
  const brokers = [broker("a:1", 0), broker("b:1", 0), broker("c:1", 0.5), broker("full:1", 1)];
  const random = seeded(21);
  const first = new Map<string, number>();
  const players = 20_000;
  for (let i = 0; i < players; i++) {
    const order = spread(brokers, random);
    first.set(order[0]!.address, (first.get(order[0]!.address) ?? 0) + 1);
    assert.equal(order[3]!.address, "full:1");
  }
  // Spare capacity 1 : 1 : 0.5 : 0.
  assert.ok(Math.abs(first.get("a:1")! / players - 0.4) < 0.02, JSON.stringify([...first]));
  assert.ok(Math.abs(first.get("b:1")! / players - 0.4) < 0.02, JSON.stringify([...first]));
  assert.ok(Math.abs(first.get("c:1")! / players - 0.2) < 0.02, JSON.stringify([...first]));
  assert.equal(first.get("full:1"), undefined);
});

test("full brokers come last, least loaded first", () => {
  const order = spread([broker("over:1", 1.5), broker("full:1", 1), broker("free:1", 0.9)]);
  assert.deepEqual(
    order.map((b) => b.address),
    ["free:1", "full:1", "over:1"],
  );
});

test("a client reads brokerlist's /v2/brokers, or the seed document from a brokerlist without it", async () => {
  const seed = { version: "0.1.0", brokerList: { "10.0.0.1:7000": 0.1 } };
  const schemes = {
    version: "0.1.0",
    brokers: [{ address: "10.0.0.1:7000", load: 0.1, endpoints: { tcp: "10.0.0.1:7000", ws: "ws://10.0.0.1:7001/" } }],
  };
  await serving({ "/": seed, "/v2/brokers": schemes }, async (url) => {
    assert.deepEqual((await fetchBrokers(url))[0]?.endpoints.map((e) => e.kind), ["tcp", "ws"]);
  });
  await serving({ "/": seed }, async (url) => {
    assert.deepEqual(await fetchBrokers(url), [broker("10.0.0.1:7000", 0.1)]);
  });
});
