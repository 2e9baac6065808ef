"""The keeper: what a production PostgreSQL host's systemd and `hn-pg-keeper` timer do, for the local tier.

Pgpool decides failovers (its failover_command promotes the replica); the keeper makes every node
end up where that decision says, checking every `interval` seconds:

- a node whose process died is started again; if another node has become the primary meanwhile
  (it was the old primary), it is first rewound onto that one (pg_rewind) and starts as its
  replica, so it can never come back as a second primary;
- a node running as a primary while another primary is on a newer timeline (an old primary that
  was frozen or cut off while its replica was promoted) is stopped, rewound and started as the new
  primary's replica. Until then it can acknowledge nothing: Pgpool routes nothing to it, and its
  commits wait for a synchronous standby that follows someone else now;
- a node that does not answer (frozen, starting) is left alone.

`hold(node)` keeps the keeper's hands off a node (a test that stops one on purpose, or restarts it
itself).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence

from hn_datatier.local._pgnode import NodeState, PgNode

__all__ = ["PgKeeper", "newest_primary"]


class PgKeeper:
    """Watches `nodes`: `state(node)` asks one; `start(node, primary)` starts a dead node (rewound
    onto `primary` first when that is another node); `rejoin(node, primary)` turns a running old
    primary into `primary`'s replica."""

    def __init__(
        self,
        nodes: Sequence[PgNode],
        *,
        state: Callable[[PgNode], NodeState],
        start: Callable[[PgNode, PgNode | None], None],
        rejoin: Callable[[PgNode, PgNode], None],
        interval: float,
        log: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.nodes = nodes
        self._state = state
        self._start = start
        self._rejoin = rejoin
        self.interval = interval
        self._log = log
        self._held: set[str] = set()
        self._lock = threading.RLock()  # one action at a time; hold() waits for the current one
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        #: the primary seen last (the newest timeline among the nodes that say they are primaries)
        self.primary: PgNode | None = None
        #: what the keeper did, in order: ("start" | "rewind-start" | "rejoin", node name)
        self.actions: list[tuple[str, str]] = []
        self.errors: list[str] = []

    def start(self) -> PgKeeper:
        self._thread = threading.Thread(target=self._run, name="pg-keeper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    @contextlib.contextmanager
    def hold(self, node: PgNode) -> Iterator[None]:
        """Leave `node` alone inside the block (waits for an action under way to end first)."""
        with self._lock:
            self._held.add(node.name)
        try:
            yield
        finally:
            with self._lock:
                self._held.discard(node.name)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - the keeper keeps going, as systemd's timer would
                message = f"{type(exc).__name__}: {exc}"
                self.errors.append(message)
                self._log(f"keeper: {message}")

    def tick(self) -> None:
        """One look at every node, and what it calls for."""
        with self._lock:
            watched = [n for n in self.nodes if n.name not in self._held]
            states = {n.name: self._state(n) for n in watched if n.process.alive}
            primary = newest_primary(watched, states)
            if primary is not None:
                self.primary = primary
            for node in watched:
                if self._stopping.is_set():
                    return
                state = states.get(node.name)
                if state is None:  # its process is gone
                    kind = "rewind-start" if primary is not None and primary is not node else "start"
                    self._log(f"keeper: {node.name} is down: starting it ({kind})")
                    self._start(node, primary)
                    self.actions.append((kind, node.name))
                elif state.primary and primary is not None and primary is not node:
                    self._log(f"keeper: {node.name} is an old primary: rewinding it onto {primary.name}")
                    self._rejoin(node, primary)
                    self.actions.append(("rejoin", node.name))


def newest_primary(nodes: Sequence[PgNode], states: dict[str, NodeState]) -> PgNode | None:
    """The node that says it is a primary on the newest timeline (None: no primary answered, or
    two on one timeline, which nothing here can tell apart)."""
    primaries = [n for n in nodes if n.name in states and states[n.name].primary]
    if not primaries:
        return None
    newest = max(primaries, key=lambda n: states[n.name].timeline)
    if sum(1 for n in primaries if states[n.name].timeline == states[newest.name].timeline) > 1:
        return None
    return newest
