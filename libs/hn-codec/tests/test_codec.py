"""The body codec: malformed bytes are a DecodeError, forged lengths allocate nothing, C codec."""

from __future__ import annotations

import importlib.machinery
import struct
import subprocess
import sys
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hn_codec import DecodeError, _codec, decode, encode, load_idl, spec_of
from hn_idl.echo import Echo  # pants: no-infer-dep (generated service module)
from hn_idl.runtime.ttypes import Envelope
from hn_process import child_env

# Property tests without wall-clock limits: a busy CI host must not turn them red.
modest = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ENVELOPE = spec_of(Envelope)
SEEN_RESULT = spec_of(Echo.seen_result)
ECHO_ARGS = spec_of(Echo.echo_args)

i64 = st.integers(-(2**63), 2**63 - 1)


@modest
@given(st.binary(max_size=300))
def test_random_bytes_decode_or_raise_decode_error_only(raw):
    for spec in (ENVELOPE, SEEN_RESULT, ECHO_ARGS):
        try:
            value = decode(raw, spec)
        except DecodeError:
            continue
        assert isinstance(value, spec[0])


@modest
@given(st.lists(i64, max_size=50), st.data())
def test_truncated_body_is_a_decode_error(values, data):
    raw = encode(Echo.seen_result(success=values), SEEN_RESULT)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(DecodeError):
        decode(raw[:cut], SEEN_RESULT)


def _peak_bytes_while(fn) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def forged_list(count: int) -> bytes:
    """A seen_result whose `success` list (i64) claims `count` elements; 8 bytes follow."""
    return b"\x0f\x00\x00" + b"\x0a" + struct.pack(">i", count) + b"\x00" * 8 + b"\x00"


# Envelope field 2 "method": a string claiming 2 GiB, 3 bytes follow.
FORGED_STRING = b"\x08\x00\x01\x00\x00\x00\x01" + b"\x0b\x00\x02" + struct.pack(">i", 2**31 - 1) + b"abc\x00"


@pytest.mark.parametrize(
    "raw, spec",
    [
        pytest.param(forged_list(50_000_000), SEEN_RESULT, id="list"),
        pytest.param(FORGED_STRING, ENVELOPE, id="string"),
    ],
)
def test_forged_huge_lengths_are_refused_before_allocating(raw, spec):
    def attempt() -> None:
        with pytest.raises(DecodeError) as info:
            decode(raw, spec)
        # Refused by the length limit, not by running out of input (or memory) later.
        assert "exceeded specified limit" in str(info.value)

    # Without the limit the list alone would be 400 MB of item pointers before the first read.
    assert _peak_bytes_while(attempt) < 200_000


def test_the_length_limit_follows_each_message():
    values = list(range(10_000))
    big = encode(Echo.seen_result(success=values), SEEN_RESULT)
    assert decode(big, SEEN_RESULT).success == values

    # 50,000 elements is under the last message's size (a stale limit would let it through and
    # allocate 400 kB of list) but far over this message's own.
    def attempt() -> None:
        with pytest.raises(DecodeError):
            decode(forged_list(50_000), SEEN_RESULT)

    assert len(big) > 50_000
    assert _peak_bytes_while(attempt) < 200_000


def test_fastbinary_is_the_c_extension():
    from thrift.protocol import fastbinary

    assert fastbinary.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert _codec._encode_binary is fastbinary.encode_binary
    assert _codec._decode_binary is fastbinary.decode_binary


def test_an_idl_reads_as_tables():
    echo = load_idl(Echo)
    assert load_idl("echo") is echo
    assert echo.methods["echo"].arg_names == ("payload",)
    assert echo.methods["health"].returns_value  # inherited from hn_runtime.thrift's Runtime
    assert echo.methods["record"].oneway and not echo.methods["seen"].oneway


def test_the_codec_loads_without_the_server():
    # What a game client imports: thrift and the codec, never ZeroMQ, Prometheus or the runtime.
    code = (
        "import sys, hn_codec; hn_codec.load_idl('echo'); "
        "print(sorted(m for m in ('zmq', 'prometheus_client', 'hn_runtime') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
