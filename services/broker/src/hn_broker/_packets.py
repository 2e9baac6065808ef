"""Client packets: framing (4-byte big-endian length) and the Packet header, nothing deeper."""

from __future__ import annotations

from hn_idl.client.constants import PACKET_VERSION
from hn_idl.client.ttypes import ClientError, Packet, PacketKind
from hn_runtime.wire import DecodeError, decode, encode, spec_of

__all__ = [
    "MAX_ECHOED",
    "MAX_TRACE_ID",
    "PACKET_VERSION",
    "ClientError",
    "Packet",
    "PacketKind",
    "frame",
    "prefixed",
    "parse",
    "error_packet",
    "DecodeError",
    "shown",
]

_SPEC = spec_of(Packet)
#: Longer trace ids from clients are dropped (the broker makes one up): they travel in every
#: envelope and log line of the request.
MAX_TRACE_ID = 64
#: Characters of a client's own strings (its packet's type) an error packet sends back at most.
MAX_ECHOED = 64
_REPLY = PacketKind.REPLY
_ERROR = PacketKind.ERROR


def parse(data: bytes) -> Packet:
    """The packet in one frame's payload; DecodeError if it is not one."""
    packet = decode(data, _SPEC)
    if packet.kind is None or packet.seq is None:
        raise DecodeError("Packet: kind and seq are required")
    trace_id = packet.trace_id
    if trace_id is not None and len(trace_id) > MAX_TRACE_ID:
        packet.trace_id = None
    return packet


def prefixed(data: bytes) -> bytes:
    """An encoded packet framed for the wire: its 4-byte big-endian length, then the packet."""
    return len(data).to_bytes(4, "big") + data


def frame(packet: Packet) -> bytes:
    return prefixed(encode(packet, _SPEC))


# A reply's encoding written out by hand (the fields fastbinary would write, in its order): it is
# on every request's path, and building a Packet object only to encode it costs twice as much.
_REPLY_HEAD = b"\x06\x00\x01" + PACKET_VERSION.to_bytes(2, "big") + b"\x08\x00\x02" + _REPLY.to_bytes(4, "big")
#: message type -> the reply's bytes up to its seq (only routed types get replies: bounded)
_reply_prefixes: dict[str, bytes] = {}


def reply(request: Packet, body: bytes, trace_id: str | None) -> bytes:
    """frame(Packet(PACKET_VERSION, REPLY, request.type, request.seq, trace_id=trace_id, body=body))"""
    type_ = request.type
    prefix = _reply_prefixes.get(type_)
    if prefix is None:
        name = type_.encode()
        prefix = _reply_prefixes[type_] = _REPLY_HEAD + b"\x0b\x00\x03" + len(name).to_bytes(4, "big") + name
    seq = request.seq.to_bytes(4, "big", signed=True)
    if trace_id is None:
        data = b"".join((prefix, b"\x08\x00\x04", seq, b"\x0b\x00\x09", len(body).to_bytes(4, "big"), body, b"\x00"))
    else:
        trace = trace_id.encode()
        data = b"".join(
            (
                prefix,
                b"\x08\x00\x04",
                seq,
                b"\x0b\x00\x08",
                len(trace).to_bytes(4, "big"),
                trace,
                b"\x0b\x00\x09",
                len(body).to_bytes(4, "big"),
                body,
                b"\x00",
            )
        )
    return prefixed(data)


def error_packet(code: int, message: str, *, seq: int = 0, type: str = "", trace_id: str | None = None) -> bytes:
    return frame(Packet(PACKET_VERSION, _ERROR, type, seq, None, code, message, trace_id, b""))


def shown(text: str | None, limit: int = MAX_ECHOED) -> str:
    """`text` quoted for an error message, cut at `limit` characters: a client's own strings go
    back to it inside error packets, and must not make them larger than what it sent."""
    if text is None:
        return "None"
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def code_name(code: int) -> str:
    return str(ClientError._VALUES_TO_NAMES.get(code, code)).lower()
