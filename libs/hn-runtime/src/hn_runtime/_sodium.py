"""Let libzmq's CURVE use the host's libsodium rather than the copy pyzmq's wheels bundle.

The libsodium inside pyzmq's manylinux wheels (26.2 and 27.1 alike) is several times slower than
a distribution's: measured on the project's machines, one `crypto_box_easy_afternm` of 64 bytes
took about 7 us with it and 1 us with Debian 12's libsodium23 (1,000 bytes: 33 us against 2.4),
and hn-runtime round trips with CURVE ran at 0.2-0.35x of plaintext with it, 0.8x with Debian's.
CURVE encrypts every frame on libzmq's I/O thread, which that cost turns into the bottleneck.

libzmq's references to libsodium are unversioned and bound when first called, through the
process's global symbol scope before the library's own dependencies: a libsodium loaded with
RTLD_GLOBAL before libzmq itself (before the first `import zmq`) serves them. This module does
that when imported (first thing `hn_runtime` does), if the host has a libsodium and zmq is not
loaded yet. HN_SYSTEM_LIBSODIUM=0 keeps the bundled copy.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["prefer_system_libsodium", "SYSTEM_LIBSODIUM"]

#: sonames tried in turn: Debian 12 / Ubuntu 22.04+ ship libsodium.so.23 (1.0.18); later, .so.26
_SONAMES = ("libsodium.so.23", "libsodium.so.26")

#: The host libsodium CURVE uses in this process, or "" (the copy bundled with pyzmq).
SYSTEM_LIBSODIUM = ""


def prefer_system_libsodium() -> str:
    """Load the host's libsodium globally if it can still take effect; returns its soname or ""."""
    global SYSTEM_LIBSODIUM
    if SYSTEM_LIBSODIUM or os.environ.get("HN_SYSTEM_LIBSODIUM", "1") == "0" or "zmq" in sys.modules:
        return SYSTEM_LIBSODIUM
    for soname in _SONAMES:
        try:
            library = ctypes.CDLL(soname, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            continue
        if library.sodium_init() >= 0:  # 0: initialised now, 1: already
            SYSTEM_LIBSODIUM = soname
            break
    return SYSTEM_LIBSODIUM


prefer_system_libsodium()
