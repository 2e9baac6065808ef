"""TLS at the broker on real sockets: with a certificate, the client port speaks TLS and the
WebSocket port wss; clients that trust the local CA are served, others and slow handshakes are cut."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest

from hn_broker import BrokerConfig, BrokerService, LocalCa, make_local_ca
from hn_client.testing import RawClient
from hn_datatier.local import DataTier
from hn_idl.client.ttypes import ClientError, PacketKind
from hn_runtime.testing import RunningService, running, unreachable, wait_for

from _metrics import delta, metrics

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCa:
    return make_local_ca(str(tmp_path_factory.mktemp("tls")))


def _config(tier: DataTier, ca: LocalCa, **options: object) -> BrokerConfig:
    fields: dict[str, object] = {"ws_port": 0, "tls_cert": ca.cert_file, "tls_key": ca.key_file, **options}
    return BrokerConfig(redis_url=tier.env["HN_REDIS_URL"], **fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def broker(data_tier: DataTier, ca: LocalCa) -> Iterator[RunningService]:
    with running(BrokerService(_config(data_tier, ca), directory=unreachable("sso")), metrics_port=0) as service:
        yield service


def _trusting(ca: LocalCa) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca.ca_file)


def test_with_a_certificate_both_listeners_speak_tls(broker: RunningService) -> None:
    endpoints = broker.endpoints
    assert endpoints["tls"] == endpoints["client"], "brokerlist's seed document lists the TLS port"
    assert endpoints["wss"].startswith("wss://") and endpoints["wss"].endswith("/")
    assert "tcp" not in endpoints and "ws" not in endpoints, "no plain listener beside them"


@pytest.mark.parametrize("scheme", ["tls", "wss"])
def test_a_client_that_trusts_the_local_ca_is_served(broker: RunningService, ca: LocalCa, scheme: str) -> None:
    client = RawClient(broker.endpoints[scheme], tls=_trusting(ca))
    assert isinstance(client.sock, ssl.SSLSocket) and client.sock.version() in ("TLSv1.2", "TLSv1.3")
    client.ping()
    # Several packets in one TLS record, answered in order.
    client.send(client.packet(kind=PacketKind.PING) + client.packet("sso.logout"))
    answers = [client.read() for _ in range(2)]
    assert [(p.kind, p.error_code) for p in answers if p is not None] == [
        (PacketKind.PONG, None),
        (PacketKind.ERROR, ClientError.UNAUTHENTICATED),
    ]
    # A packet larger than a TLS record (16 KiB): split over records, whole again at the broker.
    client.send(client.packet("t" * 40_000))
    answer = client.read()
    assert answer is not None and answer.error_code == ClientError.UNKNOWN_MESSAGE
    client.close()


@pytest.mark.parametrize("scheme", ["tls", "wss"])
def test_a_client_that_does_not_trust_the_ca_is_refused(broker: RunningService, scheme: str) -> None:
    before = metrics(broker)
    with pytest.raises(ssl.SSLCertVerificationError):
        RawClient(broker.endpoints[scheme], tls=ssl.create_default_context())  # the system's CAs only
    # The client's alert reaches the broker after the client has given up: waited for.
    wait_for(
        lambda: delta(before, metrics(broker), "hn_broker_disconnects_total", reason="tls handshake failed") == 1,
        message="the broker counts the refused handshake",
    )


def test_plain_packets_on_the_tls_port_get_nothing(broker: RunningService) -> None:
    client = RawClient(broker.endpoints["tls"])  # no TLS
    client.send(client.packet(kind=PacketKind.PING))
    assert client.read() is None, "no packet answers a client that skipped the handshake"
    client.close()


def test_a_silent_tls_handshake_is_cut(data_tier: DataTier, ca: LocalCa) -> None:
    config = _config(data_tier, ca, handshake_timeout_s=1.0)
    with running(BrokerService(config, directory=unreachable("sso")), metrics_port=0) as strict:
        before = metrics(strict)
        served = RawClient(strict.endpoints["wss"], tls=_trusting(ca))
        for scheme in ("tls", "wss"):
            host, port = strict.endpoints[scheme].removeprefix("wss://").rstrip("/").rsplit(":", 1)
            with socket.create_connection((host, int(port))) as silent:
                assert silent.recv(65536) == b"", "closed without a word"
        assert delta(before, metrics(strict), "hn_broker_disconnects_total", reason="handshake timeout") == 2
        served.ping()  # shook hands before them: not cut
        served.close()


def test_a_tls_newcomer_past_a_limit_is_closed_before_any_handshake(data_tier: DataTier, ca: LocalCa) -> None:
    config = _config(data_tier, ca, max_connections_per_address=1)
    with running(BrokerService(config, directory=unreachable("sso")), metrics_port=0) as small:
        before = metrics(small)
        kept = RawClient(small.endpoints["tls"], tls=_trusting(ca))
        kept.ping()
        with pytest.raises((ssl.SSLError, OSError)):
            RawClient(small.endpoints["wss"], tls=_trusting(ca))
        kept.ping()
        after = metrics(small)
        assert delta(before, after, "hn_broker_refusals_total", code="too_many_connections") == 1
        kept.close()
