"""Drive a plain (non-green) ZeroMQ socket from gevent's hub.

Why not `zmq.green`: one greenlet per socket doing recv->send takes turns with the hub on every
message; measured on the project's 2-core machines, that reached about a quarter of raw pyzmq's
round trips per second. Instead the socket's ZMQ_FD is watched by the hub itself, and each wakeup
drains a batch with NOBLOCK, calling `on_message` straight from the loop.

The ZMQ_FD is edge-like: it only signals that zmq's internal command mailbox changed. Any send
can process those commands and swallow the "readable" signal with messages still queued; so after
every send made outside a drain we re-check ZMQ_EVENTS and schedule a drain ourselves. (Without
it, a prototype's socket stalled with replies waiting, and every call timed out.)
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import gevent
import zmq

from hn_runtime._sockopt import speed_up_getsockopt

if TYPE_CHECKING:
    from hn_runtime._workers import Workers

__all__ = ["Pump", "tune_context"]

# pyzmq's Python-level Socket methods (and recv_multipart) cost several times the Cython calls
# they wrap; this module is on every message's path, so it calls the backend methods directly.
_send_frame = zmq.backend.Socket.send
_recv_frame = zmq.backend.Socket.recv
_frame_property: Any = zmq.backend.Frame.get
_getsockopt = zmq.backend.Socket.get
# RCVMORE after every frame, EVENTS at every drain: each get() cost an enum lookup first.
speed_up_getsockopt()
_RCVMORE = int(zmq.RCVMORE)
_NOBLOCK = int(zmq.NOBLOCK)
_SNDMORE = int(zmq.SNDMORE)
_NOBLOCK_MORE = _NOBLOCK | _SNDMORE
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)
_POLLOUT = int(zmq.POLLOUT)
_FD = int(zmq.FD)
_READ = 1  # libev EV_READ
_Again = zmq.Again


def tune_context(context: zmq.Context[Any]) -> zmq.Context[Any]:
    """Run the context's I/O threads under SCHED_BATCH (Linux); effective before its first socket.

    A send that finds zmq's pipe idle wakes the I/O thread, and a normally scheduled thread that
    wakes up preempts the thread that woke it. With the host's cores busy, every burst of sends
    then costs a preemption and a context switch per wake-up; a SCHED_BATCH thread waits for the
    next free slice instead, and carries the whole burst in one go.
    """
    if _IO_THREAD_POLICY is not None:
        context.set(zmq.THREAD_SCHED_POLICY, _IO_THREAD_POLICY)
    return context


# libzmq aborts if it cannot apply the policy: only where SCHED_BATCH exists for sure.
_IO_THREAD_POLICY = getattr(os, "SCHED_BATCH", None) if sys.platform.startswith("linux") else None


def _user_id(frame: Any) -> str:
    try:
        return str(_frame_property(frame, "User-Id"))
    except zmq.ZMQError:
        return ""  # a connection without ZAP (NULL mechanism): no identity


class Pump:
    """Calls `on_message(frames)` for every message `sock` receives; sends without blocking.

    Messages that cannot be sent at once (high-water mark reached) wait in an outbox, in order,
    until the socket is writable again. `on_undeliverable(frames, error)` hears about messages
    zmq refuses outright (a ROUTER peer that left, or an outbox over its bound).

    `identify`: call `on_message(frames, user_id)` instead, with the ZAP User-Id of the connection
    the message came on (the service a CURVE authority names for its key; "" for none). It is
    read from the first frame, received as a zmq Frame rather than bytes: that costs about a
    microsecond per message, so only servers that apply identity rules ask for it.
    """

    def __init__(
        self,
        sock: zmq.Socket[Any],
        on_message: Callable[..., None],
        *,
        on_undeliverable: Callable[[Sequence[bytes], Exception], None] | None = None,
        batch: int = 256,
        flush_every: int = 64,
        max_outbox: int = 100_000,
        workers: Workers | None = None,
        identify: bool = False,
    ) -> None:
        self.sock = sock
        self._identify = identify
        # Asking RCVMORE costs as much as a recv (pyzmq converts the option to an enum first);
        # a ROUTER's identity frame is always followed by another, so that one is not asked.
        self._lead = 1 if sock.type == zmq.ROUTER else 0
        self._on_message = on_message
        self._on_undeliverable = on_undeliverable
        self._batch = batch
        self._flush_every = flush_every
        self._max_outbox = max_outbox
        self._outbox: deque[Sequence[bytes]] = deque()
        self._loop = gevent.get_hub().loop
        self._watcher = self._loop.io(sock.getsockopt(_FD), _READ)
        #: With `workers`, each batch is drained in one of their greenlets instead of the hub, so
        #: `on_message` may run a handler to completion right there; a handler that blocks keeps
        #: that greenlet, and another one drains the rest of the batch.
        self._workers = workers
        #: The token of the drain in progress, None when there is none.
        self._drainer: int | None = None
        self._drains = 0
        self._paused = False
        self._scheduled = False
        self.closed = False
        self._watcher.start(self._ready)
        # Messages may have arrived before the watcher existed.
        self._schedule()

    # -- reading -----------------------------------------------------------------------------

    def _schedule(self) -> None:
        if not self._scheduled and not self.closed:
            self._scheduled = True
            self._loop.run_callback(self._ready)

    def _ready(self) -> None:
        self._scheduled = False
        if self.closed:
            return
        if self._outbox:
            self._flush()
        if not self._paused and int(_getsockopt(self.sock, _EVENTS)) & _POLLIN:
            self._drains += 1
            token = self._drains
            if self._workers is None:
                self._drain(token)
                return
            # Returns when the drain is over, or as soon as a handler it runs blocks.
            self._workers.spawn(self._drain, token)
            if self._drainer == token:
                # A handler blocked: it keeps that greenlet; the batch goes on in another.
                self._drainer = None
                self._schedule()

    def _drain(self, token: int) -> None:
        sock = self.sock
        on_message = self._on_message
        outbox = self._outbox
        # Replies produced while draining leave in bursts of `flush_every`, not all at the end of
        # the batch: the peer starts on the first ones while this side works on the rest,
        # instead of the two processes taking turns on whole batches.
        flush_every = self._flush_every
        lead = self._lead
        identify = self._identify
        self._drainer = token
        try:
            for n in range(self._batch):
                if self.closed or self._paused or self._drainer != token:
                    break
                try:
                    if identify:
                        first: Any = _recv_frame(sock, _NOBLOCK, False)
                        user_id = _user_id(first)
                        frames = [first.bytes]
                    else:
                        frames = [_recv_frame(sock, _NOBLOCK)]
                except _Again:
                    break
                # The parts of a multipart message arrive together: the rest never blocks.
                if lead:
                    frames.append(_recv_frame(sock, 0))
                while _getsockopt(sock, _RCVMORE):
                    frames.append(_recv_frame(sock, 0))
                if identify:
                    on_message(frames, user_id)
                else:
                    on_message(frames)
                if n == 0 and outbox:
                    # Maybe a quiet socket (a lone caller): what the first message produced leaves
                    # now, and the ZMQ_EVENTS below (a system call: the costliest step of a lone
                    # request) then says both whether more waits and whether these sends took in
                    # the readable signal of a message that arrived meanwhile: the drain ends
                    # without asking it a second time after its burst.
                    if not self._flush():
                        flush_every = self._max_outbox  # at the high-water mark: wait for the end
                elif len(outbox) >= flush_every and not self._flush():
                    flush_every = self._max_outbox
                # A drain of one or two messages (a quiet socket, a lone caller) ends cheaper by
                # asking ZMQ_EVENTS than by provoking the EAGAIN (an exception, ~6 us here).
                if n < 2 and not int(_getsockopt(sock, _EVENTS)) & _POLLIN:
                    break
            else:
                # A full batch: more may be waiting. Let the rest of the loop have a turn first.
                self._schedule()
        finally:
            if self._drainer == token:
                self._drainer = None
        # Replies (or follow-up requests) produced while draining leave in one burst (unless
        # they left already, followed by the ZMQ_EVENTS that ended the drain).
        if self._outbox and not self.closed:
            self._flush()
            # A send can swallow the "readable" signal of messages that arrived meanwhile.
            if int(_getsockopt(self.sock, _EVENTS)) & _POLLIN:
                self._schedule()

    # -- writing -----------------------------------------------------------------------------

    def send(self, frames: Sequence[bytes]) -> None:
        """Queue `frames` as one message; it leaves when the current loop turn ends.

        Why not at once: every send that finds zmq's pipe idle wakes its I/O thread, and on a
        busy 2-core host that wake-up costs more than the rest of a request's work. Messages
        produced in one loop turn go out back to back and share one wake-up.
        """
        if self.closed:
            self._undeliverable(frames, zmq.ZMQError(zmq.ENOTSOCK, "socket closed"))
            return
        if len(self._outbox) >= self._max_outbox:
            self._undeliverable(frames, OverflowError("outbox full"))
            return
        self._outbox.append(frames)
        if self._drainer is None:
            self._schedule()

    def _send(self, frames: Sequence[bytes]) -> None:
        sock = self.sock
        # Only the first part can fail (EAGAIN at the high-water mark): zmq queues the rest
        # of a message it has begun. The runtime's messages have 2 or 3 parts: no loop for them.
        n = len(frames)
        if n == 2:
            _send_frame(sock, frames[0], _NOBLOCK_MORE)
            _send_frame(sock, frames[1], _NOBLOCK)
        elif n == 3:
            _send_frame(sock, frames[0], _NOBLOCK_MORE)
            _send_frame(sock, frames[1], _NOBLOCK_MORE)
            _send_frame(sock, frames[2], _NOBLOCK)
        else:
            last = n - 1
            for i, frame in enumerate(frames):
                _send_frame(sock, frame, _NOBLOCK_MORE if i < last else _NOBLOCK)

    def _flush(self) -> bool:
        """Hand the outbox to zmq; False if the high-water mark stopped it."""
        outbox = self._outbox
        while outbox:
            frames = outbox[0]
            try:
                self._send(frames)
            except _Again:
                return False
            except zmq.ZMQError as exc:
                self._undeliverable(frames, exc)
            outbox.popleft()
        return True

    def _undeliverable(self, frames: Sequence[bytes], exc: Exception) -> None:
        if self._on_undeliverable is not None:
            self._on_undeliverable(frames, exc)

    def discard_outbox(self) -> int:
        """Forget messages not yet handed to zmq (their peer is gone); returns how many."""
        dropped = len(self._outbox)
        self._outbox.clear()
        return dropped

    def pause(self) -> None:
        """Stop reading (messages stay queued in zmq) until `resume()`."""
        self._watcher.stop()
        self._paused = True

    def resume(self) -> None:
        if self._paused and not self.closed:
            self._paused = False
            self._watcher.start(self._ready)
            self._schedule()

    @property
    def backlog(self) -> int:
        return len(self._outbox)

    def close(self, linger_ms: int = 0) -> None:
        if self.closed:
            return
        self.closed = True
        self._watcher.stop()
        self._watcher.close()
        self.sock.close(linger=linger_ms)
