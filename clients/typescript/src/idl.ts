/**
 * The services a game client talks to, as the thrift compiler generated them (src/gen/, built
 * from the IDL by `npm run gen`): each service's generated `Client` types its methods, its
 * `_types` module holds the structs its pushes carry and the methods it declares IDEMPOTENT.
 */
import type { TProtocol, TTransport } from "thrift";

import * as Broker from "./gen/Broker";
import * as clientTypes from "./gen/client_types";
import * as runtimeTypes from "./gen/hn_runtime_types";
import * as Match from "./gen/Match";
import * as matchTypes from "./gen/match_types";
import * as Sso from "./gen/Sso";
import * as ssoTypes from "./gen/sso_types";

export type GeneratedClient<C> = new (output: TTransport, pClass: new (transport: TTransport) => TProtocol) => C;

/** One service as a game client sees it. */
export interface ServiceIdl<C> {
  /** The service's name: the first half of its message types ("sso" in "sso.login"). */
  readonly name: string;
  readonly Client: GeneratedClient<C>;
  /** Methods that may be sent again after a connection was lost with them in flight. */
  readonly idempotent: ReadonlySet<string>;
  /** The generated module holding the structs of the service's pushes ("sso.Thing": sso's Thing). */
  readonly pushTypes: object;
}

/**
 * Describe a service from its generated code: `defineService("shop", Shop.Client, shopTypes)`.
 * Every service extends hn_runtime's Runtime, whose IDEMPOTENT methods count as its own.
 */
export function defineService<C>(
  name: string,
  Client: GeneratedClient<C>,
  types: { readonly IDEMPOTENT?: readonly string[] },
  pushTypes: object = types,
): ServiceIdl<C> {
  const idempotent = new Set([...(runtimeTypes.IDEMPOTENT ?? []), ...(types.IDEMPOTENT ?? [])]);
  return { name, Client, idempotent, pushTypes };
}

export const SSO = defineService("sso", Sso.Client, ssoTypes);
export const MATCH = defineService("match", Match.Client, matchTypes);
/** The broker's own methods (resume); its pushes ("broker.SessionLost") are client.thrift's. */
export const BROKER = defineService("broker", Broker.Client, {}, clientTypes);

/** Every push type this SDK knows, with the struct it carries (IDL comments name them). */
export interface Pushes {
  "match.MatchFound": matchTypes.MatchFound;
  "match.DuelSignal": matchTypes.DuelSignal;
  "match.DuelResult": matchTypes.DuelResult;
  "match.MatchAborted": matchTypes.MatchAborted;
  "broker.SessionLost": clientTypes.SessionLost;
}
