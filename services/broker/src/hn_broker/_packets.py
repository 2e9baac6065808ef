"""Client packets: framing (4-byte big-endian length) and the Packet header, nothing deeper."""

from __future__ import annotations

from hn_idl.client.constants import PACKET_VERSION
from hn_idl.client.ttypes import ClientError, Packet, PacketKind
from hn_runtime.wire import DecodeError, decode, encode, spec_of

__all__ = ["PACKET_VERSION", "ClientError", "Packet", "PacketKind", "frame", "parse", "error_packet", "DecodeError"]

_SPEC = spec_of(Packet)
_REPLY = PacketKind.REPLY
_ERROR = PacketKind.ERROR


def parse(data: bytes) -> Packet:
    """The packet in one frame's payload; DecodeError if it is not one."""
    packet = decode(data, _SPEC)
    if packet.kind is None or packet.seq is None:
        raise DecodeError("Packet: kind and seq are required")
    return packet


def frame(packet: Packet) -> bytes:
    data = encode(packet, _SPEC)
    return len(data).to_bytes(4, "big") + data


def reply(request: Packet, body: bytes, trace_id: str | None) -> bytes:
    return frame(Packet(PACKET_VERSION, _REPLY, request.type, request.seq, None, None, None, trace_id, body))


def error_packet(code: int, message: str, *, seq: int = 0, type: str = "", trace_id: str | None = None) -> bytes:
    return frame(Packet(PACKET_VERSION, _ERROR, type, seq, None, code, message, trace_id, b""))


def code_name(code: int) -> str:
    return str(ClientError._VALUES_TO_NAMES.get(code, code)).lower()
