"""The wire format, for code that handles encoded messages itself (the broker, heartbeat threads).

Most code never needs this: proxies and `Service` handlers encode and decode for you.
"""

from hn_runtime._idl import Method, ServiceIdl, load_idl
from hn_runtime._wire import (
    ERROR,
    EVENT,
    REPLY,
    REQUEST,
    DecodeError,
    Envelope,
    ErrorCode,
    decode,
    decode_envelope,
    encode,
    encode_envelope,
    spec_of,
)

__all__ = [
    "ERROR",
    "EVENT",
    "REPLY",
    "REQUEST",
    "DecodeError",
    "Envelope",
    "ErrorCode",
    "Method",
    "ServiceIdl",
    "decode",
    "decode_envelope",
    "encode",
    "encode_envelope",
    "load_idl",
    "spec_of",
]
