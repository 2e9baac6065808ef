/**
 * Thrift's binary encoding over an in-memory buffer: the `Packet` on the wire, and the bodies it
 * carries (a method's `<method>_args` and `<method>_result` structs, a push's event struct).
 * The same bytes the Python SDK makes with the fastbinary codec.
 */
import { TBinaryProtocol, TBufferedTransport, type TProtocol } from "thrift";

import { Packet } from "./gen/client_types";

/** What the generated struct classes have at run time (their declarations leave it out). */
export interface ThriftStruct {
  read(input: TProtocol): void;
  write(output: TProtocol): void;
}

export type StructClass<T> = new () => T;

/** The thrift struct could not be read from the bytes given. */
export class DecodeError extends Error {
  override name = "DecodeError";
}

export function encodeStruct(struct: object): Buffer {
  let out: Buffer = Buffer.alloc(0);
  const transport = new TBufferedTransport(undefined, (message) => {
    out = message ?? out;
  });
  (struct as ThriftStruct).write(new TBinaryProtocol(transport));
  transport.flush();
  return out;
}

/** A binary protocol reading `data`. */
export function inputOf(data: Buffer): TProtocol {
  let input: TProtocol | undefined;
  TBufferedTransport.receiver((transport) => {
    input = new TBinaryProtocol(transport);
  }, 0)(data);
  return input as TProtocol;
}

export function decodeStruct<T extends object>(cls: StructClass<T>, data: Buffer): T {
  const struct = new cls();
  try {
    (struct as ThriftStruct).read(inputOf(data));
  } catch (error) {
    throw new DecodeError(`${cls.name}: ${String(error)}`);
  }
  return struct;
}

export function encodePacket(packet: Packet): Buffer {
  return encodeStruct(packet);
}

export function decodePacket(data: Buffer): Packet {
  return decodeStruct(Packet, data);
}

/** A thrift message, as a generated client writes a call (TBinaryProtocol's strict header:
 * version and type, name, seqid), split into its name, seqid and the `<method>_args` struct. */
export function splitMessage(message: Buffer): { name: string; seqid: number; body: Buffer } {
  const header = inputOf(message).readMessageBegin();
  const length = 4 + 4 + Buffer.byteLength(header.fname, "utf8") + 4;
  return { name: header.fname, seqid: header.rseqid, body: message.subarray(length) };
}
