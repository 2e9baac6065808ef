"""One client socket to one service instance, with its liveness read from zmq's socket monitor.

Requests from any number of greenlets share the socket, matched to replies by request id. When
zmq reports the peer gone (process killed, or heartbeats unanswered), every call waiting on it
learns at once instead of waiting out its timeout.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import zmq
from greenlet import getcurrent, greenlet
from zmq.utils.monitor import parse_monitor_message

from hn_codec import DecodeError
from hn_runtime._curve import CurveKeys, configure_client_socket
from hn_runtime._directory import Instance
from hn_runtime._pump import Pump
from hn_runtime._wire import Envelope, decode_envelope

__all__ = ["Connection", "LOST", "TIMED_OUT", "CONNECTING", "UP", "DOWN"]

CONNECTING = "connecting"
UP = "up"
DOWN = "down"


class _Signal:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: What a waiting call receives instead of a reply.
LOST = _Signal("LOST")
TIMED_OUT = _Signal("TIMED_OUT")

_MONITORED = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_CONNECT_RETRIED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_MONITOR_STOPPED
)
_monitor_ids = itertools.count(1)
#: Seconds before connecting again after a CURVE refusal (libzmq itself gives up on the peer),
#: doubling up to the last: a key added to the server's allow-list is noticed within that.
_REFUSED_RETRY_FIRST = 0.5
_REFUSED_RETRY_MAX = 10.0


class Connection:
    """A DEALER (requests) or PUSH (pushed work) socket connected to one instance's endpoint."""

    def __init__(
        self,
        context: zmq.Context[Any],
        instance: Instance,
        *,
        kind: int = zmq.DEALER,
        heartbeat_ms: int = 1000,
        on_protocol_error: Callable[[str], None] | None = None,
        curve_keys: CurveKeys | None = None,
    ) -> None:
        self.instance = instance
        self.endpoint = instance.endpoints["rep" if kind == zmq.DEALER else "pull"]
        self.state = CONNECTING
        #: request id -> the waiting caller's greenlet (parked in the hub until popped from here)
        self.pending: dict[int, greenlet] = {}
        self.retired = False
        #: The instance's CURVE authentication refused this client's key at the last handshake.
        self.refused = False
        self._refused_backoff = _REFUSED_RETRY_FIRST
        self._refused_retry: Any = None
        self._changed = gevent.event.Event()
        self._on_protocol_error = on_protocol_error
        self._hub = gevent.get_hub()
        self._loop = self._hub.loop
        sock = context.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        # Never queue for a peer that is not connected: a request must not reach an instance
        # that restarted after its caller gave up.
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.SNDHWM, 100_000)
        sock.setsockopt(zmq.RCVHWM, 100_000)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        # A stopped (SIGSTOP) or partitioned peer never closes its socket; heartbeats find it.
        sock.setsockopt(zmq.HEARTBEAT_IVL, heartbeat_ms)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, heartbeat_ms * 3)
        sock.setsockopt(zmq.HEARTBEAT_TTL, heartbeat_ms * 3)
        if instance.curve_key:
            configure_client_socket(sock, instance.curve_key, curve_keys)
        monitor_addr = f"inproc://hn-monitor-{id(self)}-{next(_monitor_ids)}"
        sock.monitor(monitor_addr, _MONITORED)
        monitor = context.socket(zmq.PAIR)
        monitor.setsockopt(zmq.LINGER, 0)
        monitor.connect(monitor_addr)
        self._monitor = Pump(monitor, self._on_monitor)
        sock.connect(self.endpoint)
        self._pump = Pump(sock, self._on_reply)

    @property
    def outstanding(self) -> int:
        return len(self.pending)

    # -- liveness ----------------------------------------------------------------------------

    def _on_monitor(self, frames: list[bytes]) -> None:
        event = parse_monitor_message(frames)["event"]
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.refused = False
            self._refused_backoff = _REFUSED_RETRY_FIRST
            self._set_state(UP)
        elif event == zmq.EVENT_MONITOR_STOPPED:
            return
        else:
            if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                # Callers are told at once rather than after their timeout.
                self.refused = True
                self._retry_after_refusal()
            was_up = self.state == UP
            self._set_state(DOWN)
            if was_up:
                self._fail_pending()

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            changed, self._changed = self._changed, gevent.event.Event()
            changed.set()

    def _fail_pending(self) -> None:
        # Replies can no longer come: requests zmq still held for this peer are gone with it.
        self._pump.discard_outbox()
        # Callers are resumed from the hub only (close() can run in any greenlet), and each only
        # if it still waits for that request: one killed meanwhile may be waiting on another.
        self._loop.run_callback(self._lose, list(self.pending))

    def _lose(self, request_ids: list[int]) -> None:
        for request_id in request_ids:
            caller = self.pending.pop(request_id, None)
            if caller is not None:
                caller.switch(LOST)

    def _retry_after_refusal(self) -> None:
        # libzmq ends a session refused by the server's ZAP for good (a protocol error, not a
        # connection error): nothing would ever try again, not even once the key is allowed.
        if self._refused_retry is not None or self._pump.closed:
            return
        delay = self._refused_backoff
        self._refused_backoff = min(delay * 2, _REFUSED_RETRY_MAX)
        self._refused_retry = self._loop.timer(delay)
        self._refused_retry.start(self._reconnect)

    def _reconnect(self) -> None:
        self._refused_retry.close()
        self._refused_retry = None
        if self._pump.closed:
            return
        sock = self._pump.sock
        with contextlib.suppress(zmq.ZMQError):
            sock.disconnect(self.endpoint)
        sock.connect(self.endpoint)

    def wait_up(self, timeout: float) -> bool:
        """Wait until connected (zmq keeps retrying a lost peer); False if `timeout` passed first,
        or if the instance refused this client's CURVE key."""
        deadline = time.monotonic() + timeout
        while self.state != UP:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._pump.closed or self.refused:
                return False
            self._changed.wait(remaining)
        return True

    # -- requests ----------------------------------------------------------------------------

    def request(self, request_id: int, head: bytes, body: bytes, timeout: float) -> Any:
        """Send one request and wait for its reply: (Envelope, body), LOST or TIMED_OUT."""
        # A bare switch to the hub rather than a gevent Waiter (a third of the cost): whoever
        # first pops the caller from `pending` (its reply, its timeout, a lost connection) is
        # the only one to resume it.
        self.pending[request_id] = getcurrent()
        self._pump.send((head, body))
        timer = self._loop.timer(timeout)
        timer.start(self._expire, request_id)
        try:
            return self._hub.switch()
        finally:
            timer.close()
            self.pending.pop(request_id, None)

    def _expire(self, request_id: int) -> None:
        caller = self.pending.pop(request_id, None)
        if caller is not None:
            caller.switch(TIMED_OUT)

    def push(self, head: bytes, body: bytes) -> None:
        self._pump.send((head, body))

    def _on_reply(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            self._protocol_error("reply_frame_count")
            return
        try:
            env: Envelope = decode_envelope(frames[0])
        except DecodeError:
            self._protocol_error("bad_reply_envelope")
            return
        caller = self.pending.pop(env.request_id, None)
        if caller is None:
            # The caller timed out (or the id is foreign): nobody is left to tell.
            self._protocol_error("late_reply")
            return
        caller.switch((env, frames[1]))

    def _protocol_error(self, reason: str) -> None:
        if self._on_protocol_error is not None:
            self._on_protocol_error(reason)

    def close(self) -> None:
        if self._refused_retry is not None:
            self._refused_retry.close()
            self._refused_retry = None
        self._set_state(DOWN)
        self._fail_pending()
        if not self._pump.closed:
            # Stop the monitor before its reader closes: libzmq's I/O thread sends monitor events
            # with a blocking send, and one aimed at a closed reader hangs every socket of the
            # context for good (libzmq#3575).
            self._pump.sock.disable_monitor()
        self._pump.close()
        self._monitor.close()
