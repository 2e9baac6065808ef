/**
 * A service's generated thrift client, driven over broker packets instead of a thrift connection.
 *
 * The generated `Client` writes each call as a thrift message to its output transport and reads
 * the reply with its `recv_<method>`: the same contract thrift's own connections use. Here the
 * transport's flush takes the message apart (the method name, the `<method>_args` body), sends it
 * as a Packet of type "service.method", and hands the REPLY's body (the `<method>_result`) back to
 * `recv_<method>`, which resolves the call with the result or rejects it with the exception the
 * IDL declares.
 */
import { TBinaryProtocol, Thrift, type TProtocol, type TTransport } from "thrift";

import { inputOf, splitMessage } from "./codec";
import type { Packet } from "./gen/client_types";
import type { ServiceIdl } from "./idl";

/** The generated signature `m(a, b, callback?: (error, response: R) => void)` as `m(a, b): Promise<R>`. */
type Call<F> = F extends (...args: infer A) => void
  ? Required<A> extends [...infer P, infer Callback]
    ? Callback extends (error: never, response: infer R) => void
      ? (...args: P) => Promise<R>
      : never
    : never
  : never;

/** A service's methods, typed by its generated client, each answering a Promise. */
export type Service<C> = { readonly [K in keyof C]: Call<C[K]> };

/** Sends one request ("service.method", its `<method>_args`); resolves with the REPLY packet. */
export type Send = (type: string, body: Buffer) => Promise<Packet>;

type Callback = (error: unknown, result?: unknown) => void;

interface GeneratedInternals {
  _reqs: Record<number, Callback | undefined>;
  [recv: `recv_${string}`]: (input: TProtocol, mtype: number, seqid: number) => void;
}

/** The output transport a generated client writes its calls to. */
class PacketChannel {
  private pending: Buffer[] = [];
  client: GeneratedInternals | undefined;

  constructor(
    private readonly service: string,
    private readonly send: Send,
  ) {}

  write(data: Buffer | string): void {
    this.pending.push(typeof data === "string" ? Buffer.from(data, "utf8") : data);
  }

  setCurrSeqId(): void {}

  flush(): void {
    const message = Buffer.concat(this.pending);
    this.pending = [];
    const client = this.client as GeneratedInternals;
    const { name, seqid, body } = splitMessage(message);
    const callback = client._reqs[seqid] ?? (() => undefined);
    const fail = (error: unknown): void => {
      delete client._reqs[seqid];
      callback(error);
    };
    this.send(`${this.service}.${name}`, body).then((reply) => {
      try {
        client[`recv_${name}`](inputOf(reply.body), Thrift.MessageType.REPLY, seqid);
      } catch (error) {
        fail(error); // a reply this client's IDL cannot read
      }
    }, fail);
  }
}

/** The methods of `idl`'s generated client, each call sent through `send`. */
export function serviceProxy<C>(idl: ServiceIdl<C>, send: Send): Service<C> {
  const channel = new PacketChannel(idl.name, send);
  const generated = new idl.Client(channel as unknown as TTransport, TBinaryProtocol);
  channel.client = generated as unknown as GeneratedInternals;
  const proxy: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (let proto = Object.getPrototypeOf(generated); proto && proto !== Object.prototype; ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const method = (generated as Record<string, unknown>)[name];
      if (typeof method !== "function" || name in proxy || !isCall(name)) {
        continue;
      }
      // The generated method answers a Q promise: made a native one.
      proxy[name] = (...args: unknown[]) => Promise.resolve(method.apply(generated, args));
    }
    proto = Object.getPrototypeOf(proto);
  }
  return proxy as unknown as Service<C>;
}

function isCall(name: string): boolean {
  return !(name === "constructor" || name === "seqid" || name === "new_seqid" || /^(send|recv)_/.test(name));
}
