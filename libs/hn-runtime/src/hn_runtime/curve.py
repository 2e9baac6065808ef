"""CURVE for inter-service traffic: key pairs, the authority, server settings, client identity.

    python -m hn_runtime.curve keygen DIR NAME    # DIR/NAME.key (public) + DIR/NAME.key_secret
    python -m hn_runtime.curve public FILE        # the Z85 public key of a certificate file
    python -m hn_runtime.curve secret FILE        # its Z85 secret key (for a secret store)
    python -m hn_runtime.curve check AUTHORITY    # read an authority file as a server would

A server turns CURVE on with `RuntimeConfig(curve=CurveConfig(keys, authority=path))`, or from
the environment (HN_CURVE_SECRET_KEY or HN_CURVE_KEY_FILE, plus HN_CURVE_AUTHORITY, or the
allow-lists HN_CURVE_ALLOWED_KEYS / HN_CURVE_ALLOWED_DIR); it registers its public key in
discovery, where clients find it. The authority (`Authority`) says which keys act as which
service and what each service may do. See docs/security.md for keys, the authority, rotation.
"""

from __future__ import annotations

import os
import sys

import zmq.auth

from hn_runtime._authority import SESSION_GRANT, Authority, AuthorityDocument, write_authority
from hn_runtime._curve import (
    CURVE_HANDSHAKES,
    AllowList,
    CurveConfig,
    CurveKeys,
    client_keys,
    configure_client_socket,
    set_client_keys,
)
from hn_runtime._identities import LocalIdentities

__all__ = [
    "CURVE_HANDSHAKES",
    "SESSION_GRANT",
    "AllowList",
    "Authority",
    "AuthorityDocument",
    "LocalIdentities",
    "write_authority",
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
    if len(args) == 2 and args[0] == "secret":
        print(CurveKeys.load(args[1]).secret)
        return 0
    if len(args) == 2 and args[0] == "check":
        document = AuthorityDocument.read(args[1])
        for key, service in sorted(document.services_by_key.items(), key=lambda item: (item[1], item[0])):
            print(f"{service:<16} {key}")
        for grant, holders in sorted(document.grants.items()):
            print(f"grant {grant}: {', '.join(sorted(holders)) or '(nobody)'}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
