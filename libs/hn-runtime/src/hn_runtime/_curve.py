"""ZeroMQ CURVE for inter-service traffic: keys, allow-lists, and a ZAP handler driven by the hub.

With CURVE on, a server's ROUTER, PULL and PUB sockets are CURVE servers under one key pair (the
service's), and libzmq asks a ZAP handler about every client key during the handshake. The
handler here is a ROUTER bound at `inproc://zeromq.zap.01` and read by a `Pump` like every other
socket of the runtime: no thread, and nothing on the hub between handshakes. One handler serves
a zmq context; each server registers its allow-list under a ZAP domain of its own, so servers
sharing a context (tests, a process with several services) keep separate lists.

With an authority (`_authority`), the handler also tells libzmq which service a client key acts
as: the ZAP User-Id, which every message of that connection carries and the server reads (see
`Server`). Keys let in by an allow-list alone get an empty User-Id: no service identity.

With CURVE off nothing here runs: no handler is bound, no socket gets a ZAP domain, and libzmq
skips ZAP for NULL-mechanism sockets without one. Messages cost the same either way once the
handshake is over, except for the encryption itself.

Keys are Z85 text (40 characters), as `zmq.curve_keypair()` makes them; key files are zmq's
certificate format (`python -m hn_runtime.curve keygen DIR NAME`, or `zmq.auth.create_certificates`),
or a file holding the Z85 secret key alone (as a deploy writes it from a secret store).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import zmq
import zmq.auth
import zmq.utils.z85
from prometheus_client import Counter

from hn_runtime._authority import Authority, check_key
from hn_runtime._logging import get_logger
from hn_runtime._pump import Pump
from hn_runtime._throttle import LogThrottle

__all__ = [
    "CurveKeys",
    "CurveConfig",
    "AllowList",
    "ZapHandler",
    "zap_handler",
    "client_keys",
    "set_client_keys",
    "configure_server_socket",
    "configure_client_socket",
    "CURVE_HANDSHAKES",
]

ZAP_ENDPOINT = "inproc://zeromq.zap.01"

CURVE_HANDSHAKES = Counter(
    "hn_curve_handshakes_total",
    "CURVE handshakes a server's ZAP handler decided, by outcome (accepted, unknown_key, bad_request).",
    ["service", "outcome"],
)

_log = get_logger("hn.curve")
z85_encode: Any = zmq.utils.z85.encode


@dataclass(frozen=True)
class CurveKeys:
    """One CURVE key pair, Z85 text. The secret never shows in a repr (logs, tracebacks)."""

    public: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        check_key(self.public, "the CURVE public key")
        check_key(self.secret, "the CURVE secret key")
        if zmq.curve_public(self.secret.encode("ascii")).decode("ascii") != self.public:
            raise ValueError("the CURVE public key does not belong to the secret key")

    @classmethod
    def generate(cls) -> CurveKeys:
        public, secret = zmq.curve_keypair()
        return cls(public.decode("ascii"), secret.decode("ascii"))

    @classmethod
    def from_secret(cls, secret: str) -> CurveKeys:
        secret = check_key(secret.strip(), "the CURVE secret key")
        return cls(zmq.curve_public(secret.encode("ascii")).decode("ascii"), secret)

    @classmethod
    def load(cls, path: str) -> CurveKeys:
        """From a zmq secret certificate file (`NAME.key_secret`), or a file holding only the Z85
        secret key (one line of 40 characters)."""
        with open(path, "rb") as fh:
            text = fh.read().strip()
        if len(text) == 40 and b"\n" not in text:
            return cls.from_secret(text.decode("ascii", errors="replace"))
        public, secret = zmq.auth.load_certificate(path)
        if not secret:
            raise ValueError(f"{path} holds no secret key (a `.key_secret` file is needed, not `.key`)")
        return cls(public.decode("ascii"), secret.decode("ascii"))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CurveKeys | None:
        """HN_CURVE_KEY_FILE, or HN_CURVE_SECRET_KEY (HN_CURVE_PUBLIC_KEY, if set, must match)."""
        path = env.get("HN_CURVE_KEY_FILE", "")
        secret = env.get("HN_CURVE_SECRET_KEY", "")
        if path and secret:
            raise ValueError("set HN_CURVE_KEY_FILE or HN_CURVE_SECRET_KEY, not both")
        if not path and not secret:
            if env.get("HN_CURVE_PUBLIC_KEY"):
                raise ValueError("HN_CURVE_PUBLIC_KEY is set without HN_CURVE_SECRET_KEY")
            return None
        keys = cls.load(path) if path else cls.from_secret(secret)
        public = env.get("HN_CURVE_PUBLIC_KEY", "").strip()
        if public and public != keys.public:
            raise ValueError("HN_CURVE_PUBLIC_KEY does not belong to the configured secret key")
        return keys


def read_public_keys(directory: str) -> frozenset[str]:
    """Every public key of the zmq certificate files (`*.key`) in `directory`."""
    if not os.path.isdir(directory):
        raise ValueError(f"CURVE allow-list directory {directory!r} does not exist")
    return frozenset(key.decode("ascii") for key in zmq.auth.load_certificates(directory))


@dataclass(frozen=True)
class CurveConfig:
    """A server's CURVE settings: its key pair and which client keys it lets in.

    `authority`: the CURVE authority file (see `_authority`): its keys get in, each with the
    service identity it names, and the server applies the identity rules (session ids only from
    holders of the session grant, `Service.required_grants`). `allowed`: client public keys;
    `allowed_dir`: a directory of public certificate files, read again whenever an entry is added,
    removed or renamed in it (key rotation without a restart); `allow_any`: encryption without
    client authentication (any key gets in; explicit opt-in). Keys let in by these three have no
    service identity.
    """

    keys: CurveKeys
    allowed: frozenset[str] = frozenset()
    allowed_dir: str = ""
    allow_any: bool = False
    authority: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed", frozenset(check_key(k, "an allowed key") for k in self.allowed))
        if not self.allowed and not self.allowed_dir and not self.allow_any and not self.authority:
            raise ValueError(
                "CURVE is on but no client may connect: set HN_CURVE_AUTHORITY (or HN_CURVE_ALLOWED_KEYS, "
                "HN_CURVE_ALLOWED_DIR, or HN_CURVE_ALLOW_ANY=1 for encryption without client authentication)"
            )
        if self.allowed_dir:
            read_public_keys(self.allowed_dir)  # fail at start, not at the first handshake
        if self.authority:
            Authority(self.authority)  # likewise

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CurveConfig | None:
        """None (CURVE off) unless a key pair is configured; see `RuntimeConfig` for the variables."""
        keys = CurveKeys.from_env(env)
        allowed = frozenset(k.strip() for k in env.get("HN_CURVE_ALLOWED_KEYS", "").split(",") if k.strip())
        allowed_dir = env.get("HN_CURVE_ALLOWED_DIR", "")
        allow_any = env.get("HN_CURVE_ALLOW_ANY", "") not in ("", "0")
        authority = env.get("HN_CURVE_AUTHORITY", "")
        if keys is None:
            if allowed or allowed_dir or allow_any or authority:
                raise ValueError(
                    "a CURVE authority or allow-list is set but no key pair (HN_CURVE_SECRET_KEY or HN_CURVE_KEY_FILE)"
                )
            return None
        return cls(keys, allowed, allowed_dir, allow_any, authority)


class AllowList:
    """Which client keys one server accepts, and as which service (asked once per handshake,
    never per message)."""

    def __init__(self, config: CurveConfig, authority: Authority | None = None) -> None:
        self._static = config.allowed
        self._dir = config.allowed_dir
        self._any = config.allow_any
        self._authority = authority or (Authority(config.authority) if config.authority else None)
        self._dir_keys: frozenset[str] = frozenset()
        self._dir_stamp: tuple[int, int] | None = None

    def identify(self, key: str) -> str | None:
        """The service `key` acts as ("" when it is let in without an identity), or None: refused."""
        if self._authority is not None:
            service = self._authority.service_of(key)
            if service is not None:
                return service
        return "" if self.allows(key) else None

    def allows(self, key: str) -> bool:
        """Whether the allow-list alone (not the authority) lets `key` in."""
        if self._any or key in self._static:
            return True
        if not self._dir:
            return False
        try:
            st = os.stat(self._dir)
            stamp = (st.st_mtime_ns, st.st_ino)
            if stamp != self._dir_stamp:
                self._dir_keys = read_public_keys(self._dir)
                self._dir_stamp = stamp
        except (OSError, ValueError) as exc:
            # Keep the last list read rather than let everyone in or lock everyone out.
            _log.error("cannot read the CURVE allow-list directory", directory=self._dir, error=str(exc))
        return key in self._dir_keys


@dataclass
class _Domain:
    service: str
    allow: AllowList
    accepted: Any
    unknown_key: Any
    bad_request: Any


class ZapHandler:
    """Answers libzmq's ZAP requests for one context (RFC 27), per ZAP domain, from the hub.

    A ROUTER, not the REP the RFC shows: the pump drains many requests per wakeup and replies
    after the drain, which a REP's strict recv/send alternation would refuse.
    """

    def __init__(self, context: zmq.Context[Any]) -> None:
        self._context = context
        self._domains: dict[bytes, _Domain] = {}
        self._throttle = LogThrottle()
        sock = context.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.bind(ZAP_ENDPOINT)
        except zmq.ZMQError as exc:
            sock.close()
            raise RuntimeError(
                f"cannot serve ZAP for CURVE: {ZAP_ENDPOINT} is taken in this zmq context "
                f"(another authenticator, e.g. zmq.auth, runs in it): {exc}"
            ) from None
        self._pump = Pump(sock, self._on_request)

    def register(self, domain: str, service: str, allow: AllowList) -> None:
        key = domain.encode()
        if key in self._domains:
            raise ValueError(f"ZAP domain {domain!r} is registered already")
        self._domains[key] = _Domain(
            service,
            allow,
            CURVE_HANDSHAKES.labels(service, "accepted"),
            CURVE_HANDSHAKES.labels(service, "unknown_key"),
            CURVE_HANDSHAKES.labels(service, "bad_request"),
        )

    def unregister(self, domain: str) -> None:
        self._domains.pop(domain.encode(), None)
        if not self._domains:
            # Nothing left to authenticate: an open socket would keep `context.term()` waiting.
            # Unbound first: a closed socket's inproc name is released only when libzmq reaps it,
            # and the next CURVE server in this context would find it taken.
            _handlers.pop(self._context, None)
            self._pump.sock.unbind(ZAP_ENDPOINT)
            self._pump.close()

    def _on_request(self, frames: list[bytes]) -> None:
        # [peer, b"", version, request id, domain, address, routing id, mechanism, *credentials]
        if len(frames) < 8 or frames[1] != b"":
            return  # not a ZAP request: there is no one to answer
        peer, _, version, request_id, domain, address, _routing_id, mechanism, *credentials = frames
        entry = self._domains.get(domain)
        status, text, user = b"400", b"", b""
        if version != b"1.0" or entry is None or mechanism != b"CURVE" or len(credentials) != 1:
            reason = "bad_request"
            text = b"unsupported ZAP request"
            if entry is not None:
                entry.bad_request.inc()
            client_key = ""
        else:
            raw_key = credentials[0]
            client_key = z85_encode(raw_key).decode("ascii") if len(raw_key) == 32 else ""
            identity = entry.allow.identify(client_key) if client_key else None
            if identity is not None:
                entry.accepted.inc()
                # The User-Id every message of this connection carries: the service it acts as.
                status, text, user = b"200", b"OK", identity.encode("ascii")
                reason = ""
            else:
                entry.unknown_key.inc()
                reason = "unknown_key"
                text = b"client key not allowed"
        if reason:
            suppressed = self._throttle.allow((domain, reason))
            if suppressed is not None:
                _log.warning(
                    "curve handshake refused",
                    service=entry.service if entry is not None else "?",
                    zap_domain=domain.decode(errors="replace"),
                    reason=reason,
                    client_key=client_key,
                    peer_address=address.decode(errors="replace"),
                    mechanism=mechanism.decode(errors="replace"),
                    suppressed=suppressed,
                )
        self._pump.send((peer, b"", b"1.0", request_id, status, text, user, b""))


_handlers: weakref.WeakKeyDictionary[zmq.Context[Any], ZapHandler] = weakref.WeakKeyDictionary()


def zap_handler(context: zmq.Context[Any]) -> ZapHandler:
    """The context's ZAP handler, started on first use (from the thread whose hub will drive it)."""
    handler = _handlers.get(context)
    if handler is None or handler._pump.closed:
        handler = _handlers[context] = ZapHandler(context)
    return handler


# -- this process as a client -----------------------------------------------------------------

_client_keys: CurveKeys | None = None


def set_client_keys(keys: CurveKeys | None) -> None:
    """The key pair this process presents to CURVE servers (a service: its own key pair)."""
    global _client_keys
    _client_keys = keys


def client_keys() -> CurveKeys:
    """This process's client key pair: as set, else from HN_CURVE_* variables, else a fresh one.

    A fresh key is on no allow-list: it reaches only servers that allow any key.
    """
    global _client_keys
    if _client_keys is None:
        _client_keys = CurveKeys.from_env(os.environ) or CurveKeys.generate()
    return _client_keys


def configure_server_socket(sock: zmq.Socket[Any], keys: CurveKeys, domain: str) -> None:
    """Make `sock` a CURVE server whose handshakes ZAP decides under `domain` (before bind)."""
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, keys.secret.encode("ascii"))
    sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.public.encode("ascii"))
    sock.setsockopt(zmq.ZAP_DOMAIN, domain.encode())


def configure_client_socket(sock: zmq.Socket[Any], server_key: str, keys: CurveKeys | None = None) -> None:
    """Make the next `connect()`s of `sock` CURVE clients of the server holding `server_key`.

    libzmq copies the options at `connect()`: a socket may reach servers with different keys by
    setting the server key before each connect.
    """
    keys = keys or client_keys()
    sock.setsockopt(zmq.CURVE_SERVERKEY, server_key.encode("ascii"))
    sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.public.encode("ascii"))
    sock.setsockopt(zmq.CURVE_SECRETKEY, keys.secret.encode("ascii"))
