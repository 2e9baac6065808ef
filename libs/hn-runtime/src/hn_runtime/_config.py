"""Process configuration read from the environment into one typed object (thin `main()`s)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from hn_runtime._curve import CurveConfig

__all__ = ["RuntimeConfig"]


def _instance_id(service: str) -> str:
    return f"{service}-{socket.gethostname()}-{os.getpid()}-{os.urandom(2).hex()}"


@dataclass(frozen=True)
class RuntimeConfig:
    """How one service process binds, sizes itself and shuts down.

    Environment (all optional): HN_INSTANCE, HN_BIND_HOST, HN_ADVERTISE_HOST, HN_REP_PORT,
    HN_PULL_PORT, HN_PUB_PORT, HN_METRICS_PORT (0 = any free port, -1 = no metrics server),
    HN_HTTP_PORT,
    HN_POOL_SIZE, HN_DRAIN_SECONDS, HN_CALL_TIMEOUT, HN_MAX_MESSAGE_BYTES, HN_LOG_LEVEL,
    HN_READY_FILE, HN_TRACE_SAMPLE (share of trace ids every hop logs, 0..1; see _tracing).

    CURVE (off unless a key pair is set; see docs/security.md): HN_CURVE_SECRET_KEY (Z85; with
    HN_CURVE_PUBLIC_KEY optional, checked against it) or HN_CURVE_KEY_FILE (a zmq secret
    certificate, or a file holding the Z85 secret key alone), and the client keys let in:
    HN_CURVE_AUTHORITY (the authority file: keys, the service each acts as, grants; re-read when
    it changes), HN_CURVE_ALLOWED_KEYS (comma-separated Z85), HN_CURVE_ALLOWED_DIR (public
    certificates, re-read when the directory changes), or HN_CURVE_ALLOW_ANY=1 (encryption
    without client authentication). The last three give no service identity.
    """

    service: str
    instance: str = ""
    bind_host: str = "127.0.0.1"
    #: The address other hosts reach this one at; defaults to the bind host.
    advertise_host: str = ""
    rep_port: int = 0
    pull_port: int = 0
    pub_port: int = 0
    metrics_port: int = 0
    #: For services with an HTTP face (`Service.http_app`): 0 = any free port.
    http_port: int = 0
    #: Handlers that may run at once; a request beyond it is answered OVERLOADED at once.
    pool_size: int = 1000
    drain_seconds: float = 10.0
    #: Seconds this process's calls wait for a reply when their proxy was given no timeout.
    call_timeout: float = 5.0
    max_message_bytes: int = 4 * 1024 * 1024
    log_level: str = "info"
    #: Share of requests (by trace id) whose every hop logs a "handled" line: 1 locally, ~0.01 in
    #: production. The same value everywhere, or paths get holes.
    trace_sample: float = 0.0
    #: When set, the process writes its endpoints there as JSON once it serves (for supervisors).
    ready_file: str = ""
    #: CURVE encryption and client authentication of this server's sockets; None: plaintext.
    curve: CurveConfig | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.instance:
            object.__setattr__(self, "instance", _instance_id(self.service))
        if not self.advertise_host:
            host = self.bind_host if self.bind_host not in ("0.0.0.0", "*", "") else socket.gethostname()
            object.__setattr__(self, "advertise_host", host)

    @classmethod
    def from_env(cls, service: str, env: Mapping[str, str] | None = None) -> RuntimeConfig:
        env = os.environ if env is None else env

        def get(name: str, default: str) -> str:
            return env.get(f"HN_{name}", default)

        return cls(
            service=service,
            instance=get("INSTANCE", ""),
            bind_host=get("BIND_HOST", "127.0.0.1"),
            advertise_host=get("ADVERTISE_HOST", ""),
            rep_port=int(get("REP_PORT", "0")),
            pull_port=int(get("PULL_PORT", "0")),
            pub_port=int(get("PUB_PORT", "0")),
            metrics_port=int(get("METRICS_PORT", "0")),
            http_port=int(get("HTTP_PORT", "0")),
            pool_size=int(get("POOL_SIZE", "1000")),
            drain_seconds=float(get("DRAIN_SECONDS", "10")),
            call_timeout=float(get("CALL_TIMEOUT", "5")),
            max_message_bytes=int(get("MAX_MESSAGE_BYTES", str(4 * 1024 * 1024))),
            log_level=get("LOG_LEVEL", "info"),
            trace_sample=float(get("TRACE_SAMPLE", "0")),
            ready_file=get("READY_FILE", ""),
            curve=CurveConfig.from_env(env),
            extra={k: v for k, v in env.items() if k.startswith("HN_")},
        )
