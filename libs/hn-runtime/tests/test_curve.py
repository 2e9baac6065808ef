"""CURVE between services: allowed keys get in, unknown keys get no answer, nothing readable on the wire.

Real sockets throughout: servers on loopback, clients through the runtime's proxies, and a TCP
relay written here that records every byte crossing between client and server.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator

import gevent
import gevent.server
import pytest
import zmq

from hn_idl.echo import Echo  # pants: no-infer-dep (generated service module)
from hn_runtime import RuntimeConfig, ServiceUnavailable, get_service, subscribe
from hn_runtime._curve import _handlers
from hn_runtime.curve import CurveConfig, CurveKeys
from hn_runtime.curve import main as curve_cli
from hn_runtime.testing import capture_logs, running, spawn_service, wait_for
from hn_runtime.testing.echo import EchoService

from _runtime_helpers import metric, scaled, served

SERVER = CurveKeys.generate()
FRIEND = CurveKeys.generate()
STRANGER = CurveKeys.generate()


def handshakes(outcome: str) -> float:
    return metric("hn_curve_handshakes_total", service="echo", outcome=outcome)


@contextlib.contextmanager
def curve_echo(**curve: object) -> Iterator[object]:
    """An Echo server with CURVE on, FRIEND's key allowed unless `curve` says otherwise."""
    curve.setdefault("allowed", frozenset({FRIEND.public}))
    with running(EchoService(), curve=CurveConfig(SERVER, **curve)) as svc:  # type: ignore[arg-type]
        yield svc


# -- a relay that records what crosses the wire ----------------------------------------------


class Relay:
    """Listens on a free loopback port, forwards every connection to `target`, keeps every byte."""

    def __init__(self, target: str) -> None:
        host, _, port = target.removeprefix("tcp://").rpartition(":")
        self._target = (host, int(port))
        self.upstream = bytearray()  # client -> server
        self.downstream = bytearray()  # server -> client
        self.connections = 0
        self._server = gevent.server.StreamServer(("127.0.0.1", 0), self._handle)
        self._server.start()
        self.endpoint = f"tcp://127.0.0.1:{self._server.server_port}"

    def _handle(self, client: socket.socket, _address: object) -> None:
        self.connections += 1
        with contextlib.closing(socket.create_connection(self._target)) as server:
            pipes = [
                gevent.spawn(self._pipe, client, server, self.upstream),
                gevent.spawn(self._pipe, server, client, self.downstream),
            ]
            gevent.joinall(pipes, count=1)
            gevent.killall(pipes)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, record: bytearray) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                record += data
                dst.sendall(data)

    def close(self) -> None:
        self._server.stop(timeout=1)


@contextlib.contextmanager
def relay_to(target: str) -> Iterator[Relay]:
    relay = Relay(target)
    try:
        yield relay
    finally:
        relay.close()


# -- who gets in -------------------------------------------------------------------------------


def test_a_client_with_an_allowed_key_calls_a_curve_server() -> None:
    accepted = handshakes("accepted")
    with curve_echo() as svc:
        assert svc.server.curve_public_key == SERVER.public
        assert svc.instance.curve_key == SERVER.public  # what discovery hands to clients
        client = svc.proxy(curve_keys=FRIEND)
        assert client.echo(payload=b"hello over curve") == b"hello over curve"
        assert client.health().instance == svc.server.instance
    assert handshakes("accepted") > accepted


def test_an_unknown_key_gets_no_answer_and_the_refusal_is_counted_and_logged() -> None:
    with curve_echo() as svc:
        refused, answered = handshakes("unknown_key"), served("echo", "ok")
        with capture_logs() as logs:
            with pytest.raises(ServiceUnavailable, match="refused this client's CURVE key"):
                svc.proxy(curve_keys=STRANGER, timeout=scaled(5)).echo(payload=b"let me in")
            wait_for(lambda: [e for e in logs if e["event"] == "curve handshake refused"], message="the refusal log")
        assert handshakes("unknown_key") > refused
        assert served("echo", "ok") == answered, "the handler never ran"
        refusal = next(e for e in logs if e["event"] == "curve handshake refused")
        assert refusal["client_key"] == STRANGER.public and refusal["service"] == "echo"
        assert refusal["reason"] == "unknown_key" and refusal["peer_address"] == "127.0.0.1"
        # The allowed client is unaffected, on the same server at the same time.
        assert svc.proxy(curve_keys=FRIEND).echo(payload=b"still serving") == b"still serving"


def test_a_plaintext_client_gets_no_answer_from_a_curve_server() -> None:
    with curve_echo() as svc:
        answered = served("echo", "ok")
        plain = get_service(Echo, endpoints=[svc.endpoints["rep"]], timeout=scaled(2))
        with pytest.raises(ServiceUnavailable, match="cannot connect"):
            plain.echo(payload=b"no curve")
        # ...nor does one that expects another server key (a man in the middle's, say).
        wrong = get_service(
            Echo, endpoints=[svc.endpoints["rep"]], curve_server_key=STRANGER.public, curve_keys=FRIEND, timeout=2
        )
        with pytest.raises(ServiceUnavailable):
            wrong.echo(payload=b"wrong server key")
        assert served("echo", "ok") == answered


def test_servers_in_one_process_keep_their_own_allow_lists() -> None:
    with curve_echo() as a, curve_echo(allowed=frozenset({STRANGER.public})) as b:
        assert a.proxy(curve_keys=FRIEND).echo(payload=b"a") == b"a"
        assert b.proxy(curve_keys=STRANGER).echo(payload=b"b") == b"b"
        with pytest.raises(ServiceUnavailable, match="CURVE key"):
            b.proxy(curve_keys=FRIEND, timeout=scaled(5)).echo(payload=b"not on b's list")


def test_the_allow_list_directory_is_read_again_when_it_changes(tmp_path: object) -> None:
    keys_dir = os.path.join(str(tmp_path), "allowed")
    os.makedirs(keys_dir)
    assert curve_cli(["keygen", keys_dir, "friend"]) == 0
    friend = CurveKeys.load(os.path.join(keys_dir, "friend.key_secret"))
    newcomer_dir = os.path.join(str(tmp_path), "newcomer")
    assert curve_cli(["keygen", newcomer_dir, "newcomer"]) == 0
    newcomer = CurveKeys.load(os.path.join(newcomer_dir, "newcomer.key_secret"))
    with curve_echo(allowed=frozenset(), allowed_dir=keys_dir) as svc:
        assert svc.proxy(curve_keys=friend).echo(payload=b"on file") == b"on file"
        with pytest.raises(ServiceUnavailable, match="CURVE key"):
            svc.proxy(curve_keys=newcomer, timeout=scaled(5)).echo(payload=b"not yet")
        # Rotation: the new key's public certificate lands in the directory; no restart.
        os.rename(os.path.join(newcomer_dir, "newcomer.key"), os.path.join(keys_dir, "newcomer.key"))

        def newcomer_gets_in() -> bool:
            with contextlib.suppress(ServiceUnavailable):
                return bool(svc.proxy(curve_keys=newcomer, timeout=scaled(5)).echo(payload=b"now") == b"now")
            return False

        wait_for(newcomer_gets_in, timeout=30, interval=0.2, message="the newly allowed key to get in")


def test_push_pull_and_pub_sub_run_over_curve_too() -> None:
    with curve_echo() as svc:
        pusher = svc.proxy("PUSH", curve_keys=FRIEND)
        for n in range(10):
            pusher.record(n=n)
        echo = svc.proxy(curve_keys=FRIEND)
        wait_for(lambda: echo.seen() == list(range(10)), message="10 pushed items")
        events: list[int] = []
        sub = subscribe(
            Echo,
            "ticks",
            lambda topic, tick: events.append(tick.n),
            endpoints=[svc.endpoints["pub"]],
            curve_server_key=SERVER.public,
            curve_keys=FRIEND,
        )
        try:

            def delivered() -> bool:
                echo.emit(topic="ticks", count=1)
                return bool(events)

            wait_for(delivered, message="an event over curve")
        finally:
            sub.close()


# -- what crosses the wire ---------------------------------------------------------------------


@pytest.mark.parametrize("curve", [False, True], ids=["curve-off", "curve-on"])
def test_captured_traffic_holds_no_plaintext_with_curve(curve: bool) -> None:
    """The payload crosses a recording relay: readable with CURVE off, never with it on.

    The CURVE-off case proves the capture would catch plaintext: the test can fail.
    """
    marker = b"PLAINTEXT-" + os.urandom(12).hex().encode() + b"-MARKER"
    config = {"curve": CurveConfig(SERVER, allowed=frozenset({FRIEND.public}))} if curve else {}
    with running(EchoService(), **config) as svc, relay_to(svc.endpoints["rep"]) as relay:  # type: ignore[arg-type]
        client = get_service(
            Echo,
            endpoints=[relay.endpoint],
            curve_server_key=SERVER.public if curve else None,
            curve_keys=FRIEND,
        )
        trace = client.whoami().rpartition("|")[2]
        for _ in range(3):
            assert client.echo(payload=marker) == marker
        assert relay.connections >= 1
        upstream, downstream = bytes(relay.upstream), bytes(relay.downstream)
        assert len(upstream) > 3 * len(marker) and len(downstream) > 3 * len(marker)
        if curve:
            assert marker not in upstream, "request payload readable on the wire"
            assert marker not in downstream, "reply payload readable on the wire"
            assert trace.encode() not in upstream + downstream, "envelope readable on the wire"
            assert b"whoami" not in upstream and b"CURVE" in upstream  # the greeting names the mechanism only
        else:
            assert marker in upstream and marker in downstream
            assert trace.encode() in downstream


# -- CURVE off costs nothing --------------------------------------------------------------------


def test_curve_off_binds_no_zap_handler_and_sets_no_socket_option() -> None:
    with running(EchoService()) as svc:
        assert svc.server.curve_public_key == "" and svc.instance.curve_key == ""
        assert zmq.Context.instance() not in _handlers
        rep = svc.server._rep
        assert rep is not None
        assert rep.sock.getsockopt(zmq.MECHANISM) == zmq.NULL
        assert rep.sock.getsockopt(zmq.ZAP_DOMAIN) == b""
        assert svc.proxy().echo(payload=b"plain") == b"plain"
    # With CURVE on the handler exists only while a CURVE server runs in the context.
    with curve_echo():
        assert zmq.Context.instance() in _handlers
    assert zmq.Context.instance() not in _handlers


# -- configuration -------------------------------------------------------------------------------


def test_curve_configuration_from_the_environment(tmp_path: object) -> None:
    assert RuntimeConfig.from_env("svc", {}).curve is None
    env = {
        "HN_CURVE_SECRET_KEY": SERVER.secret,
        "HN_CURVE_PUBLIC_KEY": SERVER.public,
        "HN_CURVE_ALLOWED_KEYS": f"{FRIEND.public}, {STRANGER.public}",
    }
    curve = RuntimeConfig.from_env("svc", env).curve
    assert curve is not None and curve.keys == SERVER
    assert curve.allowed == {FRIEND.public, STRANGER.public} and not curve.allow_any
    assert SERVER.secret not in repr(curve), "secrets stay out of reprs (and so out of logs)"
    # A key file instead of the key itself.
    assert curve_cli(["keygen", str(tmp_path), "svc"]) == 0
    from_file = RuntimeConfig.from_env(
        "svc", {"HN_CURVE_KEY_FILE": os.path.join(str(tmp_path), "svc.key_secret"), "HN_CURVE_ALLOW_ANY": "1"}
    ).curve
    assert from_file is not None and from_file.allow_any
    assert os.stat(os.path.join(str(tmp_path), "svc.key_secret")).st_mode & 0o077 == 0
    refused = [
        ({"HN_CURVE_SECRET_KEY": SERVER.secret}, "no client may connect"),
        ({**env, "HN_CURVE_PUBLIC_KEY": FRIEND.public}, "does not belong"),
        ({"HN_CURVE_ALLOWED_KEYS": FRIEND.public}, "no key pair"),
        ({"HN_CURVE_SECRET_KEY": "short", "HN_CURVE_ALLOW_ANY": "1"}, "40-character"),
        ({**env, "HN_CURVE_ALLOWED_KEYS": "not a key"}, "40-character"),
        ({**env, "HN_CURVE_ALLOWED_KEYS": "~" * 40}, "not a Z85"),
        ({"HN_CURVE_SECRET_KEY": SERVER.secret, "HN_CURVE_ALLOWED_DIR": "/nonexistent/keys"}, "does not exist"),
    ]
    for bad, reason in refused:
        with pytest.raises(ValueError, match=reason):
            RuntimeConfig.from_env("svc", bad)


def test_a_service_process_configured_by_environment_serves_over_curve() -> None:
    env = {"HN_CURVE_SECRET_KEY": SERVER.secret, "HN_CURVE_ALLOWED_KEYS": FRIEND.public}
    with spawn_service("hn_runtime.testing.echo", service="echo", env=env) as proc:
        assert proc.curve_public_key == SERVER.public
        friend = get_service(Echo, endpoints=[proc.endpoints["rep"]], curve_server_key=SERVER.public, curve_keys=FRIEND)
        assert friend.echo(payload=b"process") == b"process"
        stranger = get_service(
            Echo, endpoints=[proc.endpoints["rep"]], curve_server_key=SERVER.public, curve_keys=STRANGER, timeout=5
        )
        with pytest.raises(ServiceUnavailable, match="CURVE key"):
            stranger.echo(payload=b"process")
        assert proc.terminate() == 0
        assert any(line.get("event") == "curve handshake refused" for line in proc.logs())
