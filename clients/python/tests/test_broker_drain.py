"""What a client sees when its broker drains (a deploy, or the autoscaler's scale-in).

Today's broker (services/broker `Broker.stop`) tells every connection BROKER_UNAVAILABLE and
closes it at once, with requests possibly in flight. These tests put the SDK in front of a
broker that does exactly that, over real sockets, speaking the client protocol (a stand-in at
the network seam: the real broker's drain is exercised by e2e/test_autoscale.py):

* a request the broker refused unread (BROKER_UNAVAILABLE for that request) never ran: it is
  sent again on the next broker once the session is resumed, whatever the method;
* a request in flight when the connection closed may or may not have run: it is sent again
  only if that is safe (an IDEMPOTENT method, a login); any other raises ConnectionLost, the
  player's call fails. The broker can prevent that by finishing in-flight requests before it
  closes (see libs/hn-autoscale/README.md and the autoscaling issue).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gevent
import pytest
from gevent.pywsgi import WSGIServer
from gevent.server import StreamServer

from hn_client import ConnectionLost, GameClient
from hn_idl.broker.ttypes import Resumed
from hn_idl.client.constants import PACKET_VERSION
from hn_idl.client.ttypes import ClientError, Packet, PacketKind
from hn_idl.match.ttypes import QueueState, QueueStatus
from hn_runtime.wire import decode, encode, load_idl, spec_of

_PACKET = spec_of(Packet)


def _frame(packet: Packet) -> bytes:
    data = encode(packet, _PACKET)
    return len(data).to_bytes(4, "big") + data


def _error(code: int, seq: int = 0) -> bytes:
    return _frame(
        Packet(
            version=PACKET_VERSION,
            kind=PacketKind.ERROR,
            type="",
            seq=seq,
            error_code=code,
            error_message="broker shutting down: reconnect through brokerlist",
        )
    )


def _reply(request: Packet, value: Any) -> bytes:
    service, _, name = request.type.partition(".")
    method = load_idl(service).methods[name]
    result = method.result_cls(success=value) if method.returns_value else method.result_cls()  # type: ignore[misc]
    body = encode(result, method.result_spec)  # type: ignore[arg-type]
    return _frame(Packet(version=PACKET_VERSION, kind=PacketKind.REPLY, type=request.type, seq=request.seq, body=body))


@dataclass
class FakeBroker:
    """Speaks the client protocol. `drain`: what it does with the first request it reads."""

    drain: str | None = None  # "in_flight": notice + close with it unanswered; "refuse": refuse it, then close
    seen: list[str] = field(default_factory=list)
    server: StreamServer | None = None

    def handle(self, sock: Any, _address: Any) -> None:
        buf = b""
        while True:
            data = sock.recv(65536)
            if not data:
                return
            buf += data
            while len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[:4], "big"):
                size = int.from_bytes(buf[:4], "big")
                request, buf = decode(buf[4 : 4 + size], _PACKET), buf[4 + size :]
                if request.kind != PacketKind.REQUEST:
                    continue
                self.seen.append(request.type)
                if self.drain == "in_flight":
                    sock.sendall(_error(ClientError.BROKER_UNAVAILABLE))  # as Broker.stop: notice, close
                    sock.close()
                    return
                if self.drain == "refuse":
                    sock.sendall(
                        _error(ClientError.BROKER_UNAVAILABLE, request.seq) + _error(ClientError.BROKER_UNAVAILABLE)
                    )
                    sock.close()
                    return
                if request.type == "broker.resume":
                    sock.sendall(_reply(request, Resumed(account_id=7, display_name="harry", pushes_waiting=0)))
                elif request.type == "match.status":
                    sock.sendall(_reply(request, QueueStatus(state=QueueState.IDLE, mode="duel", rating=1200)))
                else:
                    sock.sendall(_reply(request, None))

    def start(self) -> str:
        self.server = StreamServer(("127.0.0.1", 0), self.handle)
        self.server.start()
        return f"127.0.0.1:{self.server.server_port}"


@pytest.fixture
def brokers() -> Iterator[Callable[[str], tuple[GameClient, FakeBroker, FakeBroker]]]:
    started: list[Any] = []

    def make(drain: str) -> tuple[GameClient, FakeBroker, FakeBroker]:
        leaving, staying = FakeBroker(drain=drain), FakeBroker()
        # The other reports itself full: tried only after the one about to drain.
        listed = {leaving.start(): 0.0, staying.start(): 1.0}
        started.extend([leaving.server, staying.server])

        def brokerlist(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"version": "0.1.0", "brokerList": listed}).encode()]

        http = WSGIServer(("127.0.0.1", 0), brokerlist, log=None)
        http.start()
        started.append(http)
        client = GameClient(f"http://127.0.0.1:{http.server_port}/", timeout=5)
        client.connect()  # to the one with room: the one about to drain
        client.token = "token"  # logged in (the fake brokers take any token)
        # Once it drains, brokerlist stops listing it (its state is "draining" in yellow).
        first = client.connection.address if client.connection else ""
        listed.pop(first, None)
        return client, leaving, staying

    yield make
    for server in started:
        server.stop()


def test_an_idempotent_call_in_flight_is_sent_again_after_the_resume(
    brokers: Callable[[str], tuple[GameClient, FakeBroker, FakeBroker]],
) -> None:
    client, leaving, staying = brokers("in_flight")
    status = client.call("match.status")
    assert status.state == QueueState.IDLE
    assert leaving.seen == ["match.status"] and staying.seen == ["broker.resume", "match.status"]
    assert (client.resumes, client.resent) == (1, 1)
    client.close()


def test_a_refused_call_never_ran_so_any_call_is_sent_again(
    brokers: Callable[[str], tuple[GameClient, FakeBroker, FakeBroker]],
) -> None:
    client, leaving, staying = brokers("refuse")
    client.call("match.duel_shoot", match_id="m1", reaction_ms=250)
    assert leaving.seen == ["match.duel_shoot"] and staying.seen == ["broker.resume", "match.duel_shoot"]
    client.close()


def test_a_non_idempotent_call_in_flight_fails_with_connection_lost(
    brokers: Callable[[str], tuple[GameClient, FakeBroker, FakeBroker]],
) -> None:
    """The precise failure a broker drain can still cause: the shot may have landed, or not."""
    client, leaving, staying = brokers("in_flight")
    with pytest.raises(ConnectionLost):
        client.call("match.duel_shoot", match_id="m1", reaction_ms=250)
    assert leaving.seen == ["match.duel_shoot"]
    # The session itself moves on: the next calls go to the other broker.
    gevent.sleep(0)
    assert client.call("match.status").state == QueueState.IDLE
    assert client.resumes == 1 and staying.seen[0] == "broker.resume"
    client.close()
