"""CURVE for inter-service traffic: key pairs, server settings, this process's client identity.

    python -m hn_runtime.curve keygen DIR NAME    # DIR/NAME.key (public) + DIR/NAME.key_secret
    python -m hn_runtime.curve public FILE        # the Z85 public key of a certificate file

A server turns CURVE on with `RuntimeConfig(curve=CurveConfig(keys, allowed=...))`, or from the
environment (HN_CURVE_SECRET_KEY or HN_CURVE_KEY_FILE, plus HN_CURVE_ALLOWED_KEYS or
HN_CURVE_ALLOWED_DIR); it registers its public key in discovery, where clients find it. See
docs/security.md for key generation, distribution and rotation.
"""

from __future__ import annotations

import os
import sys

import zmq.auth

from hn_runtime._curve import (
    CURVE_HANDSHAKES,
    AllowList,
    CurveConfig,
    CurveKeys,
    client_keys,
    configure_client_socket,
    set_client_keys,
)

__all__ = [
    "CURVE_HANDSHAKES",
    "AllowList",
    "CurveConfig",
    "CurveKeys",
    "client_keys",
    "configure_client_socket",
    "set_client_keys",
    "main",
]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 3 and args[0] == "keygen":
        directory, name = args[1], args[2]
        os.makedirs(directory, exist_ok=True)
        old = os.umask(0o077)  # the secret file readable by its owner only
        try:
            public_file, secret_file = zmq.auth.create_certificates(directory, name)
        finally:
            os.umask(old)
        keys = CurveKeys.load(secret_file)
        print(f"public key {keys.public}\npublic certificate {public_file}\nsecret certificate {secret_file}")
        return 0
    if len(args) == 2 and args[0] == "public":
        public, _ = zmq.auth.load_certificate(args[1])
        print(public.decode("ascii"))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
