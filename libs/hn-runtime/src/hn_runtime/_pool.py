"""The connections to one service's live instances, and the choice of one for each call.

A pool follows the directory: a connection per live instance, retired (its calls left to finish)
when the instance goes or changes. `pick` balances by least outstanding requests over the
instances taking new work ("up"); a draining instance keeps its connection for calls pinned to it
(the state it still holds, e.g. a duel room, finishes there) until it is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import zmq

from hn_runtime._connection import DOWN, UP, Connection
from hn_runtime._curve import CurveKeys
from hn_runtime._directory import DRAINING, Directory, Instance
from hn_runtime._directory import UP as INSTANCE_UP
from hn_runtime._metrics import PROTOCOL_ERRORS

__all__ = ["Pool"]


def _live(instances: Sequence[Instance], endpoint: str) -> dict[str, Instance]:
    return {i.instance_id: i for i in instances if i.state in (INSTANCE_UP, DRAINING) and endpoint in i.endpoints}


class Pool:
    """The connections to one service's live instances, following the directory."""

    def __init__(
        self,
        service: str,
        directory: Directory,
        context: zmq.Context[Any],
        kind: int,
        curve_keys: CurveKeys | None = None,
    ) -> None:
        self.service = service
        self._context = context
        self._kind = kind
        self._curve_keys = curve_keys
        self._endpoint = "rep" if kind == zmq.DEALER else "pull"
        self._conns: dict[str, Connection] = {}
        self._retiring: list[Connection] = []
        #: instances draining: reached by pinned calls only
        self._draining: set[str] = set()
        self._turn = 0
        protocol_errors = PROTOCOL_ERRORS
        self._on_protocol_error: Callable[[str], None] = lambda reason: protocol_errors.labels(service, reason).inc()
        self._unwatch = directory.watch(service, self._update)

    def _update(self, instances: Sequence[Instance]) -> None:
        live = _live(instances, self._endpoint)
        self._draining = {iid for iid, instance in live.items() if instance.state == DRAINING}
        for iid, conn in list(self._conns.items()):
            instance = live.get(iid)
            if (
                instance is None
                or instance.endpoints != conn.instance.endpoints
                or instance.curve_key != conn.instance.curve_key
            ):
                # Gone or moved: no new calls; calls in flight finish (or fail) on their own.
                del self._conns[iid]
                conn.retired = True
                self._retiring.append(conn)
        for iid, instance in live.items():
            if iid not in self._conns:
                self._conns[iid] = Connection(
                    self._context,
                    instance,
                    kind=self._kind,
                    on_protocol_error=self._on_protocol_error,
                    curve_keys=self._curve_keys,
                )
        self._reap()

    def _reap(self) -> None:
        keep = []
        for conn in self._retiring:
            if conn.pending:
                keep.append(conn)
            else:
                conn.close()
        self._retiring = keep

    def pick(self, exclude: set[str], only: str | None = None) -> Connection | None:
        """Least outstanding requests among connected instances taking new work; a connecting one
        if none is.

        `only`: that instance or nothing (dynamic routing to the one holding a session's state),
        draining or not: a draining instance still serves the state it holds.
        """
        if only is not None:
            pinned = self._conns.get(only)
            return pinned if pinned is not None and only not in exclude else None
        if self._retiring:
            self._reap()
        if len(self._conns) == 1:
            # One instance (the common case of a pinned endpoint, or a one-instance service):
            # whatever its state, the scan below would pick it; skip the scan on every call.
            (conn,) = self._conns.values()
            iid = conn.instance.instance_id
            return None if iid in exclude or iid in self._draining else conn
        best: Connection | None = None
        connecting: Connection | None = None
        down: Connection | None = None
        conns = list(self._conns.values())
        n = len(conns)
        if n == 0:
            return None
        self._turn = (self._turn + 1) % n
        # Start the scan at a rotating offset so ties spread instead of piling on the first.
        for k in range(n):
            conn = conns[(self._turn + k) % n]
            iid = conn.instance.instance_id
            if iid in exclude or iid in self._draining:
                continue
            if conn.state == UP:
                if best is None or len(conn.pending) < len(best.pending):
                    best = conn
            elif conn.state == DOWN:
                down = down or conn
            else:
                connecting = connecting or conn
        return best or connecting or down

    @property
    def size(self) -> int:
        """Instances taking new work (draining ones left out)."""
        return sum(1 for iid in self._conns if iid not in self._draining)

    def close(self) -> None:
        self._unwatch()
        for conn in list(self._conns.values()) + self._retiring:
            conn.close()
        self._conns.clear()
        self._retiring.clear()
