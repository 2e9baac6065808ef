/** The WebSocket transport against a stand-in broker: one Packet per binary message, no length. */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";

import WebSocket, { WebSocketServer } from "ws";

import { decodePacket, encodePacket, GameClient, match, webSocketConnector, wire } from "../src";
import { reply } from "./fake-broker";

const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
const received: wire.Packet[] = [];
server.on("connection", (socket) => {
  socket.on("message", (data: Buffer, isBinary: boolean) => {
    assert.ok(isBinary, "packets travel as binary messages");
    const request = decodePacket(data); // the whole message is the Packet: no length prefix
    received.push(request);
    if (request.kind === wire.PacketKind.PING) {
      const pong = new wire.Packet({ ...request, kind: wire.PacketKind.PONG });
      socket.send(encodePacket(pong));
      return;
    }
    const status = new match.QueueStatus();
    status.state = match.QueueState.IDLE;
    socket.send(encodePacket(reply(request, status)));
  });
});
const listening = new Promise((resolve) => server.on("listening", resolve));

after(() => server.close());

test("calls and pings go over WebSocket, one packet per binary message", async () => {
  await listening;
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const client = new GameClient("http://brokerlist.invalid/", {
    transport: "ws",
    connector: webSocketConnector((url) => new WebSocket(url)),
    brokers: async () => [{ address: "127.0.0.1:1", load: 0, endpoints: [{ kind: "ws", address: url }] }],
  });
  try {
    assert.equal((await client.match.status()).state, match.QueueState.IDLE);
    assert.ok((await client.ping()) >= 0);
    assert.deepEqual(
      received.map((packet) => [packet.kind, packet.type]),
      [
        [wire.PacketKind.REQUEST, "match.status"],
        [wire.PacketKind.PING, ""],
      ],
    );
  } finally {
    client.close();
  }
});
