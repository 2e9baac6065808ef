"""The runtime's framing: the Thrift `Envelope` every message carries before its body.

Bodies are encoded by `hn_codec`; the envelope is on every message's path too, so it goes
straight through the C encoder with its spec computed once.
"""

from __future__ import annotations

# The C encoder itself, as hn_codec calls it (and refuses to load without): one call less per message.
from thrift.protocol.fastbinary import encode_binary

from hn_codec import DecodeError, decode, spec_of
from hn_idl.runtime.ttypes import Envelope, ErrorCode, Kind

__all__ = [
    "Envelope",
    "ErrorCode",
    "Kind",
    "REQUEST",
    "REPLY",
    "ERROR",
    "EVENT",
    "encode_envelope",
    "decode_envelope",
]

_ENVELOPE = spec_of(Envelope)
_encode_binary = encode_binary


def encode_envelope(envelope: Envelope) -> bytes:
    return _encode_binary(envelope, _ENVELOPE)  # type: ignore[no-any-return]


def decode_envelope(data: bytes) -> Envelope:
    envelope = decode(data, _ENVELOPE)
    if envelope.kind is None or envelope.method is None:
        raise DecodeError("Envelope: kind and method are required")
    return envelope


# Keep the generated enum classes importable from here for the rest of the runtime.
REQUEST: int = Kind.REQUEST
REPLY: int = Kind.REPLY
ERROR: int = Kind.ERROR
EVENT: int = Kind.EVENT
