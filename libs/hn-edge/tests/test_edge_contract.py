"""The edge contract: route tables from the IDLs, and the shared session state in real Redis."""

from __future__ import annotations

import os

import pytest

from hn_datatier import redis_from_url
from hn_datatier.local import DataTier
from hn_edge import (
    BOUND,
    DECIDED,
    LOGIN,
    LOGOUT,
    LOST,
    RESUME,
    SESSION,
    Binding,
    Route,
    SessionState,
    load_routes,
    parse_kind,
)


def test_routes_come_from_the_services_idl() -> None:
    routes = load_routes(["sso", "broker"])
    assert routes["sso.login"] == Route("sso.login", "sso", "login", LOGIN)
    assert routes["sso.logout"].kind == LOGOUT and not routes["sso.logout"].open
    assert routes["broker.resume"].kind == RESUME and routes["broker.resume"].open
    assert "sso.validate" not in routes, "service-only methods are not routes"
    assert routes["sso.change_password"].kind == SESSION, "a session's own account only"


def test_route_kinds() -> None:
    assert parse_kind("bound:duel") == (BOUND, "duel")
    for bad in ("bound", "bound:", "session:x", "anything"):
        with pytest.raises(ValueError):
            parse_kind(bad)


@pytest.fixture
def state(data_tier: DataTier) -> SessionState:
    return SessionState(redis_from_url(data_tier.redis_url), mailbox_ttl_s=30, mailbox_max=3)


def test_session_records_bindings_and_mailbox_through_twemproxy(state: SessionState) -> None:
    sid = f"s{os.getpid()}"
    state.attach(sid, "broker-a")
    assert state.broker_of(sid) == "broker-a"
    state.detach(sid, "broker-b")  # another broker's leftover does not unseat the holder
    assert state.broker_of(sid) == "broker-a"
    state.detach(sid, "broker-a")
    assert state.broker_of(sid) is None
    # A login on another broker takes the session over and learns who held it (to end it there).
    assert state.take_over(sid, "broker-a") is None
    assert state.take_over(sid, "broker-b") == "broker-a"
    assert state.broker_of(sid) == "broker-b"
    state.detach(sid, "broker-b")

    state.bind(sid, "duel", Binding("match-1", f"duel-{sid}"))
    state.bind(sid, "chat", Binding("chat-1"))
    state.unbind(sid, "duel", "match-2")  # only the holder unbinds itself
    assert state.bindings(sid) == {"duel": Binding("match-1", f"duel-{sid}"), "chat": Binding("chat-1")}
    state.unbind(sid, "duel", "match-1")
    state.unbind(sid, "chat")
    assert state.bindings(sid) == {}

    for n in range(5):
        state.stash(sid, f"push-{n}".encode())
    assert state.take_mailbox(sid) == [b"push-2", b"push-3", b"push-4"], "the newest `mailbox_max` are kept"
    assert state.take_mailbox(sid) == []


def test_a_bound_state_ends_once_whoever_settles_first(state: SessionState) -> None:
    """The instance recording an outcome and a broker giving the instance up race on one key:
    the first wins, every later caller (on any broker) reads the same outcome."""
    decided_first, lost_first = f"d{os.getpid()}", f"l{os.getpid()}"
    assert state.settle(decided_first, DECIDED) == DECIDED
    assert state.settle(decided_first, LOST) == DECIDED
    assert state.settle(lost_first, LOST) == LOST
    assert state.settle(lost_first, LOST) == LOST, "a second broker agrees"
    assert state.settle(lost_first, DECIDED) == LOST
