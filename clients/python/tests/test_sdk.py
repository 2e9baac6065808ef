"""The SDK's own parts: broker choice from brokerlist, push decoding."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from gevent.pywsgi import WSGIServer

from hn_client import fetch_brokers
from hn_client._client import _push_struct
from hn_idl.client.ttypes import SessionLost


def test_brokers_come_least_loaded_first() -> None:
    document = {"version": "0.1.0", "brokerList": {"b:1": 0.5, "a:1": 0.1, "c:1": 0.1}}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(document).encode()]

    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    try:
        assert fetch_brokers(f"http://127.0.0.1:{server.server_port}/") == [("a:1", 0.1), ("c:1", 0.1), ("b:1", 0.5)]
    finally:
        server.stop()


def test_push_types_name_their_struct() -> None:
    assert _push_struct("broker.SessionLost") is SessionLost
    assert _push_struct("nosuchservice.Thing") is None
    assert _push_struct("broker.NoSuchStruct") is None
