/**
 * A stand-in broker at the network seam, speaking the client protocol over real sockets: for what
 * a real platform will not do on cue (never answer, split its frames, go away mid-request).
 */
import * as net from "node:net";

import Int64 = require("node-int64");

import { type Broker, decodePacket, encodePacket, encodeStruct, sso, wire } from "../src";

export type Answer = wire.Packet | "close" | "silence";

export class FakeBroker {
  readonly requests: wire.Packet[] = [];
  /** Connections accepted so far. */
  accepted = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  /** Write each frame a byte at a time. */
  trickle = false;

  private constructor(private readonly answer: (request: wire.Packet) => Answer[]) {
    this.server = net.createServer((socket) => this.serve(socket));
  }

  static async start(answer: (request: wire.Packet) => Answer[]): Promise<FakeBroker> {
    const broker = new FakeBroker(answer);
    await new Promise<void>((resolve) => broker.server.listen(0, "127.0.0.1", resolve));
    return broker;
  }

  get address(): string {
    return `127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  get listing(): Broker {
    return { address: this.address, load: 0, endpoints: [{ kind: "tcp", address: this.address }] };
  }

  async stop(): Promise<void> {
    this.sockets.forEach((socket) => socket.destroy());
    await new Promise((resolve) => this.server.close(resolve));
  }

  private serve(socket: net.Socket): void {
    this.accepted += 1;
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => undefined);
    let buffered = Buffer.alloc(0);
    let answering = Promise.resolve();
    const answerAll = async (): Promise<void> => {
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
        const size = buffered.readUInt32BE(0);
        const request = decodePacket(buffered.subarray(4, 4 + size));
        buffered = buffered.subarray(4 + size);
        this.requests.push(request);
        for (const answer of this.answer(request)) {
          if (answer === "close") {
            socket.destroy();
            return;
          }
          if (answer !== "silence") {
            await this.send(socket, answer);
          }
        }
      }
    };
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      answering = answering.then(answerAll);
    });
  }

  private async send(socket: net.Socket, packet: wire.Packet): Promise<void> {
    const data = encodePacket(packet);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0]), data]);
    frame.writeUInt32BE(data.length);
    if (!this.trickle) {
      socket.write(frame);
      return;
    }
    for (const byte of frame) {
      socket.write(Buffer.from([byte]));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
}

function packet(kind: number, type: string, seq: number, body: Buffer = Buffer.alloc(0)): wire.Packet {
  return new wire.Packet({ version: wire.PACKET_VERSION, kind, type, seq, body });
}

/** A `<method>_result` whose `success` (field 0) is `value`; a void method's when undefined. */
export function reply(request: wire.Packet, value?: object): wire.Packet {
  const success = value === undefined ? [] : [Buffer.from([12, 0, 0]), encodeStruct(value)];
  return packet(wire.PacketKind.REPLY, request.type, request.seq, Buffer.concat([...success, Buffer.from([0])]));
}

export function error(seq: number, code: number, message = "said the fake"): wire.Packet {
  const answer = packet(wire.PacketKind.ERROR, "", seq);
  answer.error_code = code;
  answer.error_message = message;
  return answer;
}

export function push(type: string, event: object): wire.Packet {
  return packet(wire.PacketKind.PUSH, type, 0, encodeStruct(event));
}

export function login(token: string, accountId: number): sso.Login {
  const account = new sso.Account();
  account.account_id = new Int64(accountId);
  account.display_name = "fake";
  account.guest = true;
  account.created_ms = new Int64(0);
  const made = new sso.Login();
  made.token = token;
  made.account = account;
  made.expires_in_s = 3600;
  return made;
}
