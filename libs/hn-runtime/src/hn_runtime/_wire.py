"""The runtime's framing: the Thrift `Envelope` every message carries before its body.

Bodies are encoded by `hn_codec`; the envelope is on every message's path too, so it goes
straight through the C encoder with its spec computed once. The two envelopes of every call, a
request's and its reply's, and an event's are written out by hand instead
(`encode_request_envelope`, `encode_reply_envelope`, `encode_event_envelope`): the same bytes
the C encoder writes (a test holds them to it), at half the cost, since building an `Envelope`
(thirteen keyword arguments) costs more than encoding it.
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
    "encode_event_envelope",
    "encode_reply_envelope",
    "encode_request_envelope",
    "decode_envelope",
]

_ENVELOPE = spec_of(Envelope)
_encode_binary = encode_binary


def encode_envelope(envelope: Envelope) -> bytes:
    return _encode_binary(envelope, _ENVELOPE)  # type: ignore[no-any-return]


# Thrift binary field headers (type, then the field id as i16) of the Envelope's fields.
_SESSION_ID = b"\x0b\x00\x04"
_TRACE_ID = b"\x0b\x00\x05"
_SENDER = b"\x0b\x00\x07"
_CLIENT = b"\x0b\x00\x0a"
_DEADLINE = b"\x0a\x00\x06"
_CLIENT_RTT = b"\x0a\x00\x0c"
_STOP = b"\x00"
#: (kind, method) -> the encoding of fields 1 and 2 and the header of field 3 (request_id). The
#: methods are the IDLs' (a bounded set); a caller's unknown names are not cached (see below).
_heads: dict[tuple[int, str], bytes] = {}
_MAX_HEADS = 4096


def _head(kind: int, method: str) -> bytes:
    key = (kind, method)
    head = _heads.get(key)
    if head is None:
        name = method.encode()
        head = b"\x08\x00\x01" + kind.to_bytes(4, "big", signed=True) + b"\x0b\x00\x02"
        head += len(name).to_bytes(4, "big") + name + b"\x0a\x00\x03"
        if len(_heads) < _MAX_HEADS:
            _heads[key] = head
    return head


def encode_request_envelope(
    method: str,
    request_id: int,
    session_id: str | None,
    trace_id: str | None,
    deadline_ms: int | None,
    sender: str | None,
    client: str | None = None,
    client_rtt_us: int | None = None,
) -> bytes:
    """encode_envelope(Envelope(REQUEST, method, request_id, session_id, trace_id, deadline_ms,
    sender, client=client, client_rtt_us=client_rtt_us)), without building the Envelope."""
    parts = [_head(REQUEST, method), request_id.to_bytes(8, "big", signed=True)]
    # Written out field by field (no helper): a call per field cost a fifth of the whole.
    if session_id is not None:
        data = session_id.encode()
        parts += (_SESSION_ID, len(data).to_bytes(4, "big"), data)
    if trace_id is not None:
        data = trace_id.encode()
        parts += (_TRACE_ID, len(data).to_bytes(4, "big"), data)
    if deadline_ms is not None:
        parts += (_DEADLINE, deadline_ms.to_bytes(8, "big", signed=True))
    if sender is not None:
        data = sender.encode()
        parts += (_SENDER, len(data).to_bytes(4, "big"), data)
    if client is not None:
        data = client.encode()
        parts += (_CLIENT, len(data).to_bytes(4, "big"), data)
    if client_rtt_us is not None:
        parts += (_CLIENT_RTT, client_rtt_us.to_bytes(8, "big", signed=True))
    parts.append(_STOP)
    return b"".join(parts)


def encode_reply_envelope(method: str, request_id: int, trace_id: str | None) -> bytes:
    """encode_envelope(Envelope(REPLY, method, request_id, None, trace_id)): a reply that changed
    no session (one that did goes through `encode_envelope`)."""
    rid = request_id.to_bytes(8, "big", signed=True)
    if trace_id is None:
        return b"".join((_head(REPLY, method), rid, _STOP))
    data = trace_id.encode()
    return b"".join((_head(REPLY, method), rid, _TRACE_ID, len(data).to_bytes(4, "big"), data, _STOP))


#: method -> fields 1 to 3 of an event's envelope (kind EVENT, the method, request_id 0)
_event_heads: dict[str, bytes] = {}
_ZERO_ID = bytes(8)


def encode_event_envelope(method: str, session_id: str | None, trace_id: str, sender: str | None) -> bytes:
    """encode_envelope(Envelope(EVENT, method, 0, session_id, trace_id, None, sender)), without
    building the Envelope: a publisher's, per event. `method` is the event struct's name (an
    IDL's, a bounded set)."""
    head = _event_heads.get(method)
    if head is None:
        head = _event_heads[method] = _head(EVENT, method) + _ZERO_ID
    trace = trace_id.encode()
    parts = [head]
    if session_id is not None:
        data = session_id.encode()
        parts += (_SESSION_ID, len(data).to_bytes(4, "big"), data)
    parts += (_TRACE_ID, len(trace).to_bytes(4, "big"), trace)
    if sender is not None:
        data = sender.encode()
        parts += (_SENDER, len(data).to_bytes(4, "big"), data)
    parts.append(_STOP)
    return b"".join(parts)


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
