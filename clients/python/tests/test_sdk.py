"""The SDK's own parts: broker choice from brokerlist, push decoding."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from gevent.pywsgi import WSGIServer

from hn_client import broker_order, fetch_brokers
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


def test_brokers_are_drawn_by_spare_capacity_not_all_the_least_loaded() -> None:
    """Every player reads the same list: each must not take the same broker. The first broker
    tried is drawn with odds in proportion to spare capacity (1 - load); a full one comes last."""
    rng = random.Random(7)
    listed = [("a:1", 0.0), ("b:1", 0.5), ("c:1", 1.0)]
    draws = 6000
    orders = [broker_order(listed, rng=rng) for _ in range(draws)]
    assert all(sorted(order) == ["a:1", "b:1", "c:1"] for order in orders), "every broker, once each"
    first = Counter(order[0] for order in orders)
    assert abs(first["a:1"] / draws - 2 / 3) < 0.03, first
    assert abs(first["b:1"] / draws - 1 / 3) < 0.03, first
    assert first["c:1"] == 0 and all(order[-1] == "c:1" for order in orders), "the full broker is tried last"
    ties = Counter(broker_order([("a:1", 0.1), ("b:1", 0.1)], rng=rng)[0] for _ in range(draws))
    assert abs(ties["a:1"] / draws - 0.5) < 0.03, f"equal loads: an even spread, not the lowest address ({ties})"


def test_push_types_name_their_struct() -> None:
    assert _push_struct("broker.SessionLost") is SessionLost
    assert _push_struct("nosuchservice.Thing") is None
    assert _push_struct("broker.NoSuchStruct") is None
