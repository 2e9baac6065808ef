"""The runtime's envelope: round trips, malformed bytes are a DecodeError, the C encoder.

(The body codec under it is hn_codec's, tested there.)
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hn_runtime import _wire
from hn_runtime.wire import (
    DecodeError,
    Envelope,
    decode_envelope,
    encode_envelope,
    encode_reply_envelope,
    encode_request_envelope,
)

# Property tests without wall-clock limits: a busy CI host must not turn them red.
modest = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

i32 = st.integers(-(2**31), 2**31 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
envelopes = st.builds(
    Envelope,
    kind=st.sampled_from([1, 2, 3, 4]),
    method=st.text(max_size=40),
    request_id=i64,
    session_id=st.none() | st.text(max_size=40),
    trace_id=st.none() | st.text(alphabet="0123456789abcdef", min_size=16, max_size=16),
    deadline_ms=st.none() | i64,
    sender=st.none() | st.text(max_size=40),
    error_code=st.none() | i32,
    error_message=st.none() | st.text(max_size=80),
)


@modest
@given(envelopes)
def test_envelope_round_trip(env):
    assert decode_envelope(encode_envelope(env)) == env


@modest
@given(envelopes, st.data())
def test_truncated_envelope_is_a_decode_error(env, data):
    raw = encode_envelope(env)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(DecodeError):
        decode_envelope(raw[:cut])


@modest
@given(st.binary(max_size=300))
def test_random_bytes_decode_or_raise_decode_error_only(raw):
    try:
        env = decode_envelope(raw)
    except DecodeError:
        return
    assert env.kind is not None and env.method is not None


def test_envelope_without_kind_or_method_is_a_decode_error():
    with pytest.raises(DecodeError, match="required"):
        decode_envelope(encode_envelope(Envelope(request_id=1)))
    with pytest.raises(DecodeError):
        decode_envelope(encode_envelope(Envelope(kind=1, request_id=1)))


def test_envelopes_are_encoded_by_the_c_extension():
    from thrift.protocol import fastbinary

    assert _wire._encode_binary is fastbinary.encode_binary


@modest
@given(
    method=st.text(max_size=40),
    request_id=i64,
    session_id=st.none() | st.text(max_size=40),
    trace_id=st.none() | st.text(max_size=40),
    deadline_ms=st.none() | i64,
    sender=st.none() | st.text(max_size=40),
    client=st.none() | st.text(max_size=40),
    client_rtt_us=st.none() | i64,
)
def test_request_envelope_by_hand_is_the_c_encoders_bytes(
    method: str,
    request_id: int,
    session_id: str | None,
    trace_id: str | None,
    deadline_ms: int | None,
    sender: str | None,
    client: str | None,
    client_rtt_us: int | None,
) -> None:
    expected = encode_envelope(
        Envelope(
            _wire.REQUEST,
            method,
            request_id,
            session_id,
            trace_id,
            deadline_ms,
            sender,
            client=client,
            client_rtt_us=client_rtt_us,
        )
    )
    by_hand = encode_request_envelope(
        method, request_id, session_id, trace_id, deadline_ms, sender, client, client_rtt_us
    )
    assert by_hand == expected


@modest
@given(method=st.text(max_size=40), request_id=i64, trace_id=st.none() | st.text(max_size=40))
def test_reply_envelope_by_hand_is_the_c_encoders_bytes(method: str, request_id: int, trace_id: str | None) -> None:
    expected = encode_envelope(Envelope(_wire.REPLY, method, request_id, None, trace_id))
    assert encode_reply_envelope(method, request_id, trace_id) == expected


@modest
@given(
    method=st.text(max_size=40),
    session_id=st.none() | st.text(max_size=40),
    trace_id=st.text(max_size=40),
    sender=st.none() | st.text(max_size=40),
)
def test_event_envelope_by_hand_is_the_c_encoders_bytes(
    method: str, session_id: str | None, trace_id: str, sender: str | None
) -> None:
    expected = encode_envelope(Envelope(_wire.EVENT, method, 0, session_id, trace_id, None, sender))
    assert _wire.encode_event_envelope(method, session_id, trace_id, sender) == expected
