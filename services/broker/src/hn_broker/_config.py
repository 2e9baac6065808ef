"""The broker's settings, from HN_BROKER_* variables (the runtime's HN_* ones apply too)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["BrokerConfig", "ClientLimits"]


@dataclass(frozen=True)
class ClientLimits:
    """What one game-client connection may do; every packet it sends is checked against these."""

    max_packet_bytes: int = 64 * 1024
    #: packets per second (token bucket), and the burst allowed
    rate: float = 100.0
    burst: float = 200.0
    #: Times the bucket may run dry within `strike_window_s` before the connection is closed.
    #: Each time, the packet that found it empty is refused RATE_LIMITED (the first refusal is
    #: the warning) and the connection is not read until its bucket is half full again: the
    #: excess waits in the client's own socket buffers, which costs the broker nothing.
    max_rate_strikes: int = 3
    strike_window_s: float = 60.0
    #: requests forwarded and not yet answered
    max_in_flight: int = 64
    #: bytes waiting to be written to the client before it is cut off as a slow reader
    max_outgoing_bytes: int = 512 * 1024
    #: malformed packets tolerated (each answered with an error) before the broker disconnects
    max_malformed: int = 3


@dataclass(frozen=True)
class BrokerConfig:
    redis_url: str = ""
    bind_host: str = "127.0.0.1"
    #: game clients connect here (0: any free port)
    port: int = 0
    #: the address registered for brokerlist (defaults to bind host)
    public_host: str = ""
    #: connections held at most; load = connections / capacity
    capacity: int = 20_000
    #: Connections held at most from one IP address (0: no cap). A mobile carrier's NAT (CGNAT)
    #: puts tens to a few hundred subscribers behind one public IPv4 address, so does a venue's
    #: Wi-Fi: 256 lets all of them play on one broker at once, while one address can hold no
    #: more than about 1% of a broker's 20,000.
    max_connections_per_address: int = 256
    limits: ClientLimits = field(default_factory=ClientLimits)
    idle_timeout_s: float = 60.0
    call_timeout_s: float = 10.0
    #: Game clients' WebSocket port (one Packet per binary message): None, no WebSocket
    #: listener (HN_BROKER_WS_PORT unset or empty); 0, any free port.
    ws_port: int | None = None
    #: PEM certificate chain and key: with both, the client port speaks TLS and the WebSocket
    #: port wss (empty: plain TCP and ws)
    tls_cert: str = ""
    tls_key: str = ""
    #: how long a connection's TLS and WebSocket handshakes may take before it is closed
    handshake_timeout_s: float = 10.0
    #: The fence (_fence.py): seconds this broker may go without reaching yellow, or any instance
    #: of a service its players need that yellow lists up, before it turns its players away to
    #: other brokers and leaves brokerlist (0: never fence).
    fence_after_s: float = 5.0
    #: seconds reachability must hold, unbroken, before a fenced broker takes players again
    #: (doubled for each fence soon after the last lift, up to a minute: a flapping link)
    fence_hold_s: float = 3.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BrokerConfig:
        env = os.environ if env is None else env

        def get(name: str, default: object) -> str:
            return env.get(f"HN_BROKER_{name}", str(default))

        defaults = cls()
        limits = defaults.limits
        return cls(
            redis_url=env.get("HN_REDIS_URL", ""),
            bind_host=env.get("HN_BIND_HOST", defaults.bind_host),
            port=int(get("PORT", defaults.port)),
            public_host=get("PUBLIC_HOST", ""),
            capacity=int(get("CAPACITY", defaults.capacity)),
            max_connections_per_address=int(get("MAX_CONNECTIONS_PER_ADDRESS", defaults.max_connections_per_address)),
            limits=ClientLimits(
                max_packet_bytes=int(get("MAX_PACKET_BYTES", limits.max_packet_bytes)),
                rate=float(get("RATE", limits.rate)),
                burst=float(get("BURST", limits.burst)),
                max_rate_strikes=int(get("MAX_RATE_STRIKES", limits.max_rate_strikes)),
                strike_window_s=float(get("STRIKE_WINDOW_S", limits.strike_window_s)),
                max_in_flight=int(get("MAX_IN_FLIGHT", limits.max_in_flight)),
                max_outgoing_bytes=int(get("MAX_OUTGOING_BYTES", limits.max_outgoing_bytes)),
                max_malformed=int(get("MAX_MALFORMED", limits.max_malformed)),
            ),
            idle_timeout_s=float(get("IDLE_TIMEOUT_S", defaults.idle_timeout_s)),
            call_timeout_s=float(get("CALL_TIMEOUT_S", defaults.call_timeout_s)),
            ws_port=int(get("WS_PORT", "")) if get("WS_PORT", "") else None,
            tls_cert=get("TLS_CERT", ""),
            tls_key=get("TLS_KEY", ""),
            handshake_timeout_s=float(get("HANDSHAKE_TIMEOUT_S", defaults.handshake_timeout_s)),
            fence_after_s=float(get("FENCE_AFTER_S", defaults.fence_after_s)),
            fence_hold_s=float(get("FENCE_HOLD_S", defaults.fence_hold_s)),
        )
