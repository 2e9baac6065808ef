"""The provider side: heartbeat this instance's registration to every yellow, from a real thread.

A greenlet would stop beating whenever a handler hogs the CPU, and yellow would declare a busy
instance dead. An OS thread keeps beating: CPython hands it the GIL every few milliseconds
however busy the handlers are. It speaks the runtime's wire format over its own plain sockets
and touches no gevent object.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Sequence

import gevent
import zmq
from gevent import monkey

from hn_idl.yellow import Yellow  # pants: no-infer-dep (generated service module)
from hn_idl.yellow.ttypes import InstanceInfo
from hn_runtime import get_logger, new_trace_id
from hn_runtime.curve import CurveKeys, configure_client_socket
from hn_runtime.discovery import DOWN, Instance
from hn_runtime.wire import (
    REPLY,
    REQUEST,
    DecodeError,
    Envelope,
    decode,
    decode_envelope,
    encode,
    encode_envelope,
    load_idl,
)

__all__ = ["YellowRegistration"]

_log = get_logger("hn.yellow_client")
# A real OS thread even after gevent patched `threading` (whose Thread would be a greenlet).
_start_thread = monkey.get_original("_thread", "start_new_thread")
_ids = itertools.count(1)


class YellowRegistration:
    """Heartbeats `describe()` to every yellow every `interval` seconds until closed."""

    def __init__(
        self,
        addresses: Sequence[str],
        describe: Callable[[], Instance],
        *,
        interval: float = 1.0,
        context: zmq.Context | None = None,  # type: ignore[type-arg]
        curve_server_key: str | None = None,
        curve_keys: CurveKeys | None = None,
    ) -> None:
        self._addresses = list(addresses)
        #: Yellow's CURVE public key, and the key pair presented to it (default: the process's).
        self._curve_key = curve_server_key
        self._curve_keys = curve_keys
        self._describe = describe
        self._interval = interval
        self._context = context or zmq.Context.instance()
        self._method = load_idl(Yellow).methods["heartbeat"]
        self._state: str | None = None
        self._closing = False
        self._beat = 0
        self.beats_sent = 0
        self.acks = 0
        wake = f"inproc://hn-yellow-registration-{os.getpid()}-{next(_ids)}"
        self._wake_rx = self._context.socket(zmq.PAIR)
        self._wake_rx.bind(wake)
        self._wake_tx = self._context.socket(zmq.PAIR)
        self._wake_tx.connect(wake)
        self._running = True
        _start_thread(self._run, ())

    # -- called from the service's greenlets ------------------------------------------------

    def set_state(self, state: str) -> None:
        """Override the described state (e.g. "draining") and heartbeat it at once."""
        self._state = state
        self._poke()

    def close(self, timeout: float = 2.0) -> None:
        """Heartbeat "down" to every yellow (waiting up to `timeout` for them to hear it), stop."""
        self._state = DOWN
        self._closing = True
        self._poke()
        deadline = time.monotonic() + timeout
        while self._running and time.monotonic() < deadline:
            gevent.sleep(0.01)  # called from the service's greenlets: wait without blocking the hub
        self._wake_tx.close(linger=0)

    def _poke(self) -> None:
        if not self._wake_tx.closed:
            self._wake_tx.send(b"", zmq.NOBLOCK)

    # -- the heartbeat thread ----------------------------------------------------------------

    def _info(self) -> InstanceInfo:
        described = self._describe()
        # Wall-clock microseconds, kept increasing: a process restarted under the same instance id
        # (a supervisor, systemd) beats above its predecessor, which a counter from 1 would not,
        # and yellow would drop its heartbeats as older news for as long as the first had run.
        self._beat = max(self._beat + 1, time.time_ns() // 1000)
        return InstanceInfo(
            service_name=described.service,
            instance_id=described.instance_id,
            endpoints=dict(described.endpoints),
            version=described.version,
            load=float(described.load),
            state=self._state or described.state,
            beat=self._beat,
            curve_public_key=described.curve_key or None,
        )

    def _send_beat(self, sockets: list[zmq.Socket]) -> None:  # type: ignore[type-arg]
        method = self._method
        body = encode(method.args_cls(instance=self._info()), method.args_spec)
        deadline_ms = int((time.time() + self._interval * 3) * 1000)
        for sock in sockets:
            head = encode_envelope(
                Envelope(REQUEST, method.name, next(_ids), None, new_trace_id(), deadline_ms, "yellow-registration")
            )
            try:
                sock.send_multipart([head, body], zmq.NOBLOCK)
                self.beats_sent += 1
            except zmq.Again:
                pass  # that yellow is not connected: the next beat will try again

    def _on_reply(self, frames: list[bytes], address: str) -> None:
        try:
            env = decode_envelope(frames[0])
            if env.kind != REPLY:
                _log.warning("yellow refused a heartbeat", yellow=address, code=env.error_code, error=env.error_message)
                return
            result = decode(frames[1], self._method.result_spec)  # type: ignore[arg-type]
        except (DecodeError, IndexError) as exc:
            _log.warning("undecodable heartbeat reply", yellow=address, error=str(exc))
            return
        if result.invalid is not None:
            _log.error("yellow rejected this registration", yellow=address, reason=result.invalid.reason)
            return
        self.acks += 1
        if result.success:
            self._interval = max(0.05, result.success / 1000.0)

    def _run(self) -> None:
        sockets: list[zmq.Socket] = []  # type: ignore[type-arg]
        poller = zmq.Poller()
        poller.register(self._wake_rx, zmq.POLLIN)
        for address in self._addresses:
            sock = self._context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.IMMEDIATE, 1)  # no stale beats queued for an absent yellow
            sock.setsockopt(zmq.SNDHWM, 4)
            if self._curve_key:
                configure_client_socket(sock, self._curve_key, self._curve_keys)
            sock.connect(address)
            poller.register(sock, zmq.POLLIN)
            sockets.append(sock)
        by_socket = dict(zip(sockets, self._addresses, strict=False))
        next_beat = 0.0
        final_deadline: float | None = None
        acks_before = 0
        try:
            while True:
                now = time.monotonic()
                if now >= next_beat:
                    try:
                        self._send_beat(sockets)
                    except Exception as exc:  # noqa: BLE001 - a bad describe() must not end the presence
                        _log.error("heartbeat failed", error=repr(exc))
                    next_beat = now + self._interval
                    if self._closing and final_deadline is None:
                        final_deadline = now + 1.0
                        acks_before = self.acks
                if final_deadline is not None and (now >= final_deadline or self.acks >= acks_before + len(sockets)):
                    return
                wait_ms = max(0, int((min(next_beat, final_deadline or next_beat) - now) * 1000))
                for sock, _ in poller.poll(wait_ms):
                    if sock is self._wake_rx:
                        while self._wake_rx.poll(0):
                            self._wake_rx.recv()
                        next_beat = 0.0  # state changed: tell yellow now
                    else:
                        while sock.poll(0):
                            self._on_reply(sock.recv_multipart(), by_socket[sock])
        finally:
            for sock in sockets:
                sock.close(linger=0)
            self._wake_rx.close(linger=0)
            self._running = False
