"""Thrift binary encoding of structs, straight through the `fastbinary` C codec.

The generated `read`/`write` methods go through a protocol object per call; calling the codec
directly with a cached type spec is about twice as fast, and this module is on every message's path.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

try:
    from thrift.protocol import fastbinary
except ImportError as exc:  # pragma: no cover - depends on how thrift was built
    # thrift silently falls back to a pure-Python codec 2x slower when its C extension did not
    # build; a platform that quietly loses half its throughput is worse than one that refuses to start.
    raise ImportError(
        "thrift's C extension (thrift.protocol.fastbinary) is not available: reinstall thrift "
        "with a C compiler and Python headers present"
    ) from exc

from gevent.monkey import get_original

__all__ = ["DecodeError", "spec_of", "encode", "decode"]

_encode_binary = fastbinary.encode_binary
_decode_binary = fastbinary.decode_binary
_BytesIO = io.BytesIO


class DecodeError(ValueError):
    """Bytes that are not a valid encoding of the expected Thrift struct."""


def spec_of(cls: type) -> Sequence[Any]:
    """The type spec `fastbinary` wants for a generated struct class; compute once, reuse."""
    return [cls, cls.thrift_spec]  # type: ignore[attr-defined]


class _Input:
    """The minimal transport `fastbinary.decode_binary` reads from: a bytes buffer, no refill."""

    __slots__ = ("cstringio_buf",)

    def __init__(self, data: bytes) -> None:
        self.cstringio_buf = io.BytesIO(data)

    def cstringio_refill(self, partial: bytes, reqlen: int) -> io.BytesIO:
        raise EOFError(f"truncated: needed {reqlen} more bytes")


# Once gevent has patched `threading`, `threading.local` is per *greenlet*, and each attribute
# access goes through gevent's lookup (~0.3 us, four per decode). The codec never yields to
# another greenlet mid-call, so one protocol per OS thread is enough: use the unpatched class.
_thread_local: type = get_original("threading", "local")


class _Protocol(_thread_local):  # type: ignore[misc,valid-type]
    """The protocol attributes `fastbinary.decode_binary` consults; one reused per OS thread."""

    def __init__(self) -> None:
        self.trans = _Input(b"")
        self.string_length_limit = self.container_length_limit = 0


_protocol = _Protocol()


def encode(struct: Any, spec: Sequence[Any]) -> bytes:
    return _encode_binary(struct, spec)  # type: ignore[no-any-return]


def decode(data: bytes, spec: Sequence[Any]) -> Any:
    """Decode `data` into a new instance of `spec`'s class; any malformation is a DecodeError."""
    protocol = _protocol
    protocol.trans.cstringio_buf = _BytesIO(data)
    # No string or container can hold more items than the message has bytes: this stops a
    # forged length from making the decoder allocate gigabytes before it notices.
    protocol.string_length_limit = protocol.container_length_limit = len(data)
    try:
        return _decode_binary(None, protocol, spec)
    except Exception as exc:  # noqa: BLE001 - the C codec raises EOFError, TypeError, OverflowError...
        raise DecodeError(f"{spec[0].__name__}: {type(exc).__name__}: {exc}") from None
