"""Bindings to an instance that drains or dies (BindingWatch), with the session state in real Redis.

A draining instance still holds its state (a duel room plays to its end): its bindings stay and
brokers keep routing to it. Only an instance marked down, or gone from discovery, loses them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import gevent
import pytest

from hn_broker._bindings import BindingWatch
from hn_datatier import redis_from_url
from hn_datatier.local import DataTier
from hn_edge import BOUND, LOST, Binding, Route, SessionState
from hn_idl.client.ttypes import Packet
from hn_runtime.discovery import Instance
from hn_runtime.testing import wait_for
from hn_runtime.wire import decode, spec_of

pytestmark = pytest.mark.integration

_ROUTE = Route("match.duel_shoot", "match", "duel_shoot", BOUND, "duel")


@dataclass
class HeldSession:
    """What BindingWatch sees of a client connection: its session, bindings and what it is sent."""

    session_id: str
    bindings: dict[str, Binding] = field(default_factory=dict)
    sent: list[bytes] = field(default_factory=list)

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def pushes(self) -> list[str]:
        return [decode(data[4:], spec_of(Packet)).type for data in self.sent]


def _match(instance_id: str, state: str = "up") -> Instance:
    return Instance("match", instance_id, {"rep": "tcp://127.0.0.1:9"}, state=state)


@pytest.mark.parametrize("gone", ["down", "absent"])
def test_a_draining_instance_keeps_its_bindings_and_a_gone_one_loses_them(data_tier: DataTier, gone: str) -> None:
    state = SessionState(redis_from_url(data_tier.env["HN_REDIS_URL"]))
    fate = f"duel:{uuid.uuid4().hex}"
    held = HeldSession(f"bindings-{uuid.uuid4().hex[:12]}", {"duel": Binding("match-a", fate)})
    sessions: dict[str, Any] = {held.session_id: held}
    watch = BindingWatch(state, lambda: [_ROUTE], sessions)
    watch.instances_changed("match", [_match("match-a"), _match("match-b")])

    watch.instances_changed("match", [_match("match-a", "draining"), _match("match-b")])
    watch.check(held)  # a session resumed now, bound to the draining instance
    gevent.idle()  # a loss would have run up to its first Redis call, dropping the binding first
    assert held.bindings == {"duel": Binding("match-a", fate)}, "the draining instance still holds the duel"
    assert held.sent == [] and state.fate_of(fate) is None

    survivors = [_match("match-b")] + ([_match("match-a", "down")] if gone == "down" else [])
    watch.instances_changed("match", survivors)
    wait_for(lambda: held.pushes() == ["broker.SessionLost"], message="the player told the duel is lost")
    assert held.bindings == {} and state.fate_of(fate) == LOST
