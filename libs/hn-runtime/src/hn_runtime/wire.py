"""The wire format, for code that handles encoded messages itself (the broker, heartbeat threads).

Most code never needs this: proxies and `Service` handlers encode and decode for you. Bodies are
`hn_codec`'s (re-exported here); the envelope around them is the runtime's.
"""

from hn_codec import DecodeError, Method, ServiceIdl, decode, encode, load_idl, spec_of
from hn_runtime._wire import (
    ERROR,
    EVENT,
    REPLY,
    REQUEST,
    Envelope,
    ErrorCode,
    decode_envelope,
    encode_envelope,
    encode_reply_envelope,
    encode_request_envelope,
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
    "encode_reply_envelope",
    "encode_request_envelope",
    "load_idl",
    "spec_of",
]
