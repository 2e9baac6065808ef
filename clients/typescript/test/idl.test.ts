/** What the SDK takes from the generated code agrees with the IDL's own tables. */
import assert from "node:assert/strict";
import { test } from "node:test";

import { BROKER, GameClient, MATCH, match, PUSH_TYPES, SSO, sso } from "../src";

test("the pushes this SDK types are the IDLs' PUSHES, struct for struct", () => {
  const declared = new Map([...BROKER.pushes, ...SSO.pushes, ...MATCH.pushes]);
  assert.deepEqual([...declared.keys()].sort(), Object.keys(PUSH_TYPES).sort());
  for (const [name, struct] of declared) {
    assert.equal(PUSH_TYPES[name as keyof typeof PUSH_TYPES], struct, name);
  }
});

test("a method may be sent again when its IDL (or the runtime's) says it is idempotent", () => {
  for (const method of [...match.IDEMPOTENT, "health"]) {
    assert.ok(MATCH.idempotent.has(method), method);
  }
  assert.ok(!MATCH.idempotent.has("duel_shoot"));
  assert.ok(SSO.idempotent.has("logout") && !SSO.idempotent.has("create_account"));
});

test("a client has a method for every client route of sso and match", () => {
  const client = new GameClient("http://brokerlist.invalid/");
  for (const [service, routes] of [
    [client.sso, sso.CLIENT_ROUTES],
    [client.match, match.CLIENT_ROUTES],
  ] as const) {
    for (const method of Object.keys(routes)) {
      assert.equal(typeof (service as unknown as Record<string, unknown>)[method], "function", method);
    }
  }
  assert.ok(!("send_login" in client.sso) && !("recv_login" in client.sso));
  client.close();
});
