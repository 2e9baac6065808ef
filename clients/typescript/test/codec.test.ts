/** The bytes on the wire are the Python SDK's (vectors made with hn_codec, the fastbinary codec). */
import assert from "node:assert/strict";
import { test } from "node:test";

import Int64 = require("node-int64");

import { decodePacket, decodeStruct, encodePacket, match, wire } from "../src";
import { splitMessage } from "../src/codec";

const LOGIN_ARGS = "0b00010000000568617272790b00020000000f6d795f64697274795f73656372657400";
const PACKET =
  "0600010001080002000000010b00030000000973736f2e6c6f67696e080004000000070b00080000000774726163652d31" +
  "0b000900000023" +
  LOGIN_ARGS +
  "00";
const RESULT =
  "0b0001000000026d310a00020000010000000005080003000000010d00040a08000000020000010000000005000000d2" +
  "0000000000000003000000fa0d00050a0b000000000d00060a08000000020000010000000005000004c00000000000000003000004a000";

test("a Packet encodes as the Python SDK's", () => {
  const packet = new wire.Packet({
    version: wire.PACKET_VERSION,
    kind: wire.PacketKind.REQUEST,
    type: "sso.login",
    seq: 7,
    trace_id: "trace-1",
    body: Buffer.from(LOGIN_ARGS, "hex"),
  });
  assert.equal(encodePacket(packet).toString("hex"), PACKET);
  const back = decodePacket(Buffer.from(PACKET, "hex"));
  assert.equal(back.type, "sso.login");
  assert.equal(back.seq, 7);
  assert.equal(back.body.toString("hex"), LOGIN_ARGS);
});

test("a generated client's call is split into its method and the Python SDK's <method>_args", () => {
  // What sso's generated client writes for login("harry", "my_dirty_secret") as seqid 3.
  const header = Buffer.from("80010001" + "00000005" + Buffer.from("login").toString("hex") + "00000003", "hex");
  const split = splitMessage(Buffer.concat([header, Buffer.from(LOGIN_ARGS, "hex")]));
  assert.deepEqual([split.name, split.seqid, split.body.toString("hex")], ["login", 3, LOGIN_ARGS]);
});

test("a push struct decodes with 64-bit account ids", () => {
  const result = decodeStruct(match.DuelResult, Buffer.from(RESULT, "hex"));
  const winner = new Int64(2 ** 40 + 5);
  assert.ok(result.winner_id?.equals(winner));
  assert.equal(result.verdict, match.Verdict.FASTER);
  assert.deepEqual(result.reaction_ms, { [winner.toString()]: 210, "3": 250 });
});
