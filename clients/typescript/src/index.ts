/**
 * @highnoon/client: the HighNoon game-client SDK for TypeScript (Node and browsers).
 *
 * The services' structs, enums and exceptions are the thrift compiler's, by IDL: `sso.Login`,
 * `sso.SsoError`, `match.MatchFound`, `match.Verdict`, `wire.ClientError`, `broker.Resumed`.
 */
export { type Broker, fetchBrokers, parseBrokerList, schemesUrl, spread } from "./brokers";
export {
  type ClientEvents,
  type Events,
  GameClient,
  type GameClientOptions,
  type Handler,
  type Logger,
} from "./client";
export { BrokerConnection, type ConnectionOptions } from "./connection";
export { DecodeError, decodePacket, decodeStruct, encodePacket, encodeStruct } from "./codec";
export { type DuelOptions, type DuelOutcome, Duelist, DuelTimeout } from "./duel";
export { BrokerRejected, CallTimeout, clientErrorName, ConnectionLost, NotSent, SessionEnded } from "./errors";
export { BROKER, defineService, type GeneratedTypes, MATCH, PUSH_TYPES, type Pushes, type ServiceIdl, SSO } from "./idl";
export { type Service } from "./service";
export { connectTcp, tlsConnector } from "./tcp";
export type { Connector, ConnectOptions, Endpoint, Transport, TransportEvents } from "./transport";
export { type OpenWebSocket, webSocketConnector, type WebSocketLike } from "./websocket";

export * as broker from "./gen/broker_types";
export * as match from "./gen/match_types";
export * as runtime from "./gen/hn_runtime_types";
export * as sso from "./gen/sso_types";
export * as wire from "./gen/client_types";
