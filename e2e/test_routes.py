"""The edge learns its routes at run time: a service no broker was built or configured for."""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest

from hn_client import BrokerRejected, GameClient
from hn_idl.client.ttypes import ClientError
from hn_idl.greeter import Greeter  # pants: no-infer-dep (generated service module)
from hn_runtime import Service, Session
from hn_runtime.testing import running, wait_for

from _platform import Platform

_names = itertools.count()


class GreeterService(Service):
    name = "greeter"
    idl = Greeter

    def on_greet(self, session: Session, request: Any) -> str:
        return f"hello {request.name}, session {session.id}"

    def on_enter(self, session: Session, request: Any) -> str:
        session.open_session(request.account_id, f"visitor {request.account_id}")
        return "welcome"


def _greeting(client: GameClient) -> str | None:
    try:
        return client.call("greeter.greet", name="ann")  # type: ignore[no-any-return]
    except BrokerRejected as exc:
        assert exc.code == ClientError.UNKNOWN_MESSAGE, exc
        return None


def test_a_new_service_is_routed_by_a_broker_that_was_already_running(platform: Platform) -> None:
    client = GameClient(platform.brokerlist_url).connect()
    login = client.guest_login(f"device-routes{os.getpid()}x{next(_names)}")
    with pytest.raises(BrokerRejected) as before:
        client.call("greeter.greet", name="ann")
    assert before.value.code == ClientError.UNKNOWN_MESSAGE, "no service publishes greeter's routes yet"

    with running(GreeterService(), discovery=platform.discovery):
        greeting = wait_for(lambda: _greeting(client), message="the broker routes greeter.greet")
        assert greeting == f"hello ann, session {login.account.account_id}", "the broker stamped the session"

        # A login route of the new service opens a session through the reply's envelope.
        newcomer = GameClient(platform.brokerlist_url).connect()
        with pytest.raises(BrokerRejected) as anonymous:
            newcomer.call("greeter.greet", name="bob")
        assert anonymous.value.code == ClientError.UNAUTHENTICATED
        account_id = 10_000_000 + os.getpid()
        assert newcomer.call("greeter.enter", account_id=account_id) == "welcome"
        assert newcomer.call("greeter.greet", name="bob") == f"hello bob, session {account_id}"
        newcomer.close()
    client.close()
