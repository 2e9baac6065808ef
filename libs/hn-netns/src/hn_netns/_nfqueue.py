"""The kernel's NFQUEUE over netlink: enough of it to hold packets and let them go later.

An iptables `NFQUEUE` rule hands each matching packet to the process bound to its queue number
(in that network namespace) and holds the packet until the process gives a verdict. Written
against the netlink structures in `linux/netfilter/nfnetlink_queue.h`, standard library only, so
the shaper needs no C library (libnetfilter_queue) and no third-party package.

Packets are asked for without their payload (`NFQNL_COPY_META`): the shaper decides by time,
never by content. Ids grow within a queue, so one batch verdict ("accept every id up to N")
releases a whole run of packets; a notification the socket dropped under load is released by
the next batch instead of being held forever.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator
from typing import NamedTuple

__all__ = ["NF_ACCEPT", "NF_DROP", "Queued", "QueueSocket"]

NETLINK_NETFILTER = 12
_SOL_NETLINK = 270
_NETLINK_NO_ENOBUFS = 5
_SO_RCVBUFFORCE = 33

_NFNL_SUBSYS_QUEUE = 3
_MSG_PACKET = 0
_MSG_VERDICT = 1
_MSG_CONFIG = 2
_MSG_VERDICT_BATCH = 3

_NLM_F_REQUEST = 0x1
_NLM_F_ACK = 0x4
_NLMSG_ERROR = 2

_CFG_CMD = 1
_CFG_PARAMS = 2
_CFG_QUEUE_MAXLEN = 3
_CFG_MASK = 4
_CFG_FLAGS = 5
_CMD_BIND = 1
_COPY_META = 1
_F_FAIL_OPEN = 0x1  # a full queue lets packets through rather than dropping them

_ATTR_PACKET_HDR = 1
_ATTR_VERDICT_HDR = 2

NF_DROP = 0
NF_ACCEPT = 1

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid (host order)
_NFGENMSG = struct.Struct("!BBH")  # family, version, queue number (network order)
_NLATTR = struct.Struct("=HH")  # len, type (host order)
_PACKET_HDR = struct.Struct("!IHB")  # packet id, hw protocol, hook
_VERDICT_HDR = struct.Struct("!II")  # verdict, packet id


class Queued(NamedTuple):
    """A packet the kernel holds for a verdict."""

    queue: int
    packet_id: int


def _attr(kind: int, payload: bytes) -> bytes:
    length = _NLATTR.size + len(payload)
    return _NLATTR.pack(length, kind) + payload + b"\0" * (-length % 4)


class QueueSocket:
    """A netlink socket bound to some NFQUEUE queues of the namespace it was opened in."""

    def __init__(self, queues: list[int], *, max_len: int = 10_000) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self._sock.bind((0, 0))
        # Root may raise the buffer past rmem_max: bursts of notifications then fit.
        for option in (_SO_RCVBUFFORCE, socket.SO_RCVBUF):
            try:
                self._sock.setsockopt(socket.SOL_SOCKET, option, 8 << 20)
                break
            except OSError:
                continue
        self._sock.setsockopt(_SOL_NETLINK, _NETLINK_NO_ENOBUFS, 1)
        self._seq = 0
        for queue in queues:
            self._configure(queue, _attr(_CFG_CMD, struct.pack("!BxH", _CMD_BIND, 0)))
            self._configure(queue, _attr(_CFG_PARAMS, struct.pack("!IB", 0, _COPY_META)))
            self._configure(queue, _attr(_CFG_QUEUE_MAXLEN, struct.pack("!I", max_len)))
            self._configure(
                queue,
                _attr(_CFG_MASK, struct.pack("!I", _F_FAIL_OPEN)) + _attr(_CFG_FLAGS, struct.pack("!I", _F_FAIL_OPEN)),
            )
        self._sock.setblocking(False)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def _message(self, kind: int, flags: int, queue: int, body: bytes) -> bytes:
        self._seq += 1
        payload = _NFGENMSG.pack(socket.AF_UNSPEC, 0, queue) + body
        header = _NLMSGHDR.pack(_NLMSGHDR.size + len(payload), (_NFNL_SUBSYS_QUEUE << 8) | kind, flags, self._seq, 0)
        return header + payload

    def _configure(self, queue: int, attrs: bytes) -> None:
        self._sock.send(self._message(_MSG_CONFIG, _NLM_F_REQUEST | _NLM_F_ACK, queue, attrs))
        while True:
            data = self._sock.recv(65536)
            length, kind, _flags, seq, _pid = _NLMSGHDR.unpack_from(data)
            if kind == _NLMSG_ERROR and seq == self._seq:
                (code,) = struct.unpack_from("=i", data, _NLMSGHDR.size)
                if code:
                    raise OSError(-code, f"NFQUEUE {queue}: {os.strerror(-code)}")
                return

    def verdict(self, packet: Queued, verdict: int) -> None:
        """One packet's fate."""
        self._send(self._message(_MSG_VERDICT, _NLM_F_REQUEST, packet.queue, _verdict_attr(verdict, packet.packet_id)))

    def accept_through(self, packet: Queued) -> None:
        """Accept every packet of its queue up to and including this one."""
        body = _verdict_attr(NF_ACCEPT, packet.packet_id)
        self._send(self._message(_MSG_VERDICT_BATCH, _NLM_F_REQUEST, packet.queue, body))

    def _send(self, message: bytes) -> None:
        while True:
            try:
                self._sock.send(message)
                return
            except BlockingIOError:  # the kernel's side is busy for an instant: retry
                continue

    def received(self) -> Iterator[Queued]:
        """Every packet notification waiting on the socket now (never blocks)."""
        while True:
            try:
                data = self._sock.recv(65536)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # notifications lost: the next batch releases them
                    continue
                raise
            yield from _parse(data)


def _verdict_attr(verdict: int, packet_id: int) -> bytes:
    return _attr(_ATTR_VERDICT_HDR, _VERDICT_HDR.pack(verdict, packet_id))


def _parse(data: bytes) -> Iterator[Queued]:
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            return
        end = offset + length
        if kind == (_NFNL_SUBSYS_QUEUE << 8) | _MSG_PACKET:
            _family, _version, queue = _NFGENMSG.unpack_from(data, offset + _NLMSGHDR.size)
            attr = offset + _NLMSGHDR.size + _NFGENMSG.size
            while attr + _NLATTR.size <= end:
                attr_len, attr_type = _NLATTR.unpack_from(data, attr)
                if attr_len < _NLATTR.size:
                    break
                if attr_type & 0x3FFF == _ATTR_PACKET_HDR:
                    packet_id, _proto, _hook = _PACKET_HDR.unpack_from(data, attr + _NLATTR.size)
                    yield Queued(queue, packet_id)
                    break
                attr += (attr_len + 3) & ~3
        offset += (length + 3) & ~3
