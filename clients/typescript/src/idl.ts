/**
 * The services a game client talks to, as the thrift compiler generated them (src/gen/, built
 * from the IDL by `npm run gen`): each service's generated `Client` types its methods, its
 * `_types` module holds the structs its pushes carry and the methods it declares IDEMPOTENT.
 */
import type { TProtocol, TTransport } from "thrift";

import type { StructClass } from "./codec";

import * as Broker from "./gen/Broker";
import * as clientTypes from "./gen/client_types";
import * as runtimeTypes from "./gen/hn_runtime_types";
import * as Match from "./gen/Match";
import * as matchTypes from "./gen/match_types";
import * as Sso from "./gen/Sso";
import * as ssoTypes from "./gen/sso_types";

export type GeneratedClient<C> = new (output: TTransport, pClass: new (transport: TTransport) => TProtocol) => C;

/** What a generated `_types` module may declare besides its structs. */
export interface GeneratedTypes {
  readonly IDEMPOTENT?: readonly string[];
  /** Push name ("match.MatchFound") -> the name of the struct it carries, in this module. */
  readonly PUSHES?: Readonly<Record<string, string>>;
}

/** One service as a game client sees it. */
export interface ServiceIdl<C> {
  /** The service's name: the first half of its message types ("sso" in "sso.login"). */
  readonly name: string;
  readonly Client: GeneratedClient<C>;
  /** Methods that may be sent again after a connection was lost with them in flight. */
  readonly idempotent: ReadonlySet<string>;
  /** The pushes the service sends, by name, with the struct each carries. */
  readonly pushes: ReadonlyMap<string, StructClass<object>>;
}

/**
 * Describe a service from its generated code: `defineService("shop", Shop.Client, shopTypes)`.
 * Every service extends hn_runtime's Runtime, whose IDEMPOTENT methods count as its own.
 * `pushTypes`: the module whose PUSHES table names the service's pushes (its own by default).
 */
export function defineService<C>(
  name: string,
  Client: GeneratedClient<C>,
  types: GeneratedTypes,
  pushTypes: GeneratedTypes = types,
): ServiceIdl<C> {
  const idempotent = new Set([...(runtimeTypes.IDEMPOTENT ?? []), ...(types.IDEMPOTENT ?? [])]);
  const structs = pushTypes as unknown as Record<string, StructClass<object> | undefined>;
  const pushes = new Map<string, StructClass<object>>();
  for (const [push, struct] of Object.entries(pushTypes.PUSHES ?? {})) {
    const cls = structs[struct];
    if (cls === undefined) {
      throw new Error(`${name}: push ${push} names ${struct}, which its IDL does not define`);
    }
    pushes.set(push, cls);
  }
  return { name, Client, idempotent, pushes };
}

export const SSO = defineService("sso", Sso.Client, ssoTypes);
export const MATCH = defineService("match", Match.Client, matchTypes);
/** The broker's own methods (resume); its pushes ("broker.SessionLost") are client.thrift's. */
export const BROKER = defineService("broker", Broker.Client, {}, clientTypes);

/** The pushes this SDK types, with their structs: the IDLs' PUSHES tables (a test holds them equal). */
export const PUSH_TYPES = {
  "broker.SessionLost": clientTypes.SessionLost,
  "match.MatchFound": matchTypes.MatchFound,
  "match.DuelSignal": matchTypes.DuelSignal,
  "match.DuelResult": matchTypes.DuelResult,
  "match.MatchAborted": matchTypes.MatchAborted,
} as const;

/** Every push type this SDK knows, with the struct it carries. */
export type Pushes = { [K in keyof typeof PUSH_TYPES]: InstanceType<(typeof PUSH_TYPES)[K]> };
