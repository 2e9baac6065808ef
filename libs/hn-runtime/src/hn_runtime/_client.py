"""Service clients: `get_service(name, "REP")` proxies, `"PUSH"` proxies, and `subscribe`.

The entry points: they find a service's instances (the process's directory, or fixed endpoints)
and hand out proxies over one shared `Pool` per service and kind, or a `Subscription`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import zmq

from hn_codec import ServiceIdl, load_idl
from hn_runtime._curve import CurveKeys
from hn_runtime._directory import Directory, StaticDirectory, default_directory
from hn_runtime._pool import Pool
from hn_runtime._proxy import PushProxy, ServiceProxy
from hn_runtime._pump import tune_context
from hn_runtime._subscription import Subscription

__all__ = ["get_service", "subscribe", "close_all"]


_pools: dict[tuple[Any, ...], Pool] = {}


def _resolve(
    service: str | ModuleType,
    endpoints: Sequence[str] | None,
    directory: Directory | None,
    kind: str,
    curve_server_key: str | None,
    raw: bool = False,
) -> tuple[str, ServiceIdl | None, Directory]:
    if raw:
        if not isinstance(service, str):
            raise TypeError("a raw proxy is asked for by service name")
        idl, name = None, service
    else:
        idl = load_idl(service)
        name = service if isinstance(service, str) else idl.module.__name__.split(".")[-2]
    if endpoints is not None:
        directory = StaticDirectory.of(name, **{kind: list(endpoints)}, curve_key=curve_server_key or "")
    elif curve_server_key:
        raise ValueError("curve_server_key goes with endpoints=: a directory carries each instance's key")
    return name, idl, directory or default_directory()


def get_service(
    service: str | ModuleType,
    kind: str = "REP",
    *,
    endpoints: Sequence[str] | None = None,
    directory: Directory | None = None,
    timeout: float | None = None,
    context: zmq.Context[Any] | None = None,
    curve_server_key: str | None = None,
    curve_keys: CurveKeys | None = None,
    raw: bool = False,
) -> Any:
    """A client of `service` ("sso", or its generated IDL module).

    kind "REP": request-reply (`ServiceProxy`); "PUSH": fire-and-forget work (`PushProxy`).
    Instances come from `directory` (default: the process's, i.e. yellow) or fixed `endpoints`.
    Proxies share one connection per instance for the life of the process. `timeout`: seconds
    a call waits for its reply (default: the process's, HN_CALL_TIMEOUT in a service process, 5).
    `raw=True`: a proxy that only forwards encoded bodies (`forward`, `push_raw`), for
    a service whose IDL this process does not have (a broker's).

    CURVE: instances that have a CURVE key (from the directory, or `curve_server_key` with
    `endpoints`) are reached encrypted, presenting `curve_keys` (default: this process's key
    pair, see `hn_runtime.curve.set_client_keys`).
    """
    kind = kind.upper()
    if kind not in ("REP", "PUSH"):
        raise ValueError(f"kind must be 'REP' or 'PUSH', not {kind!r}")
    name, idl, directory = _resolve(
        service, endpoints, directory, "rep" if kind == "REP" else "pull", curve_server_key, raw
    )
    key = (
        name,
        kind,
        (tuple(endpoints), curve_server_key) if endpoints is not None else id(directory),
        curve_keys.public if curve_keys is not None else None,
    )
    pool = _pools.get(key)
    if pool is None:
        zmq_kind = zmq.DEALER if kind == "REP" else zmq.PUSH
        pool = _pools[key] = Pool(
            name, directory, tune_context(context or zmq.Context.instance()), zmq_kind, curve_keys
        )
    if kind == "REP":
        return ServiceProxy(name, idl, pool, timeout=timeout)
    return PushProxy(name, idl, pool)


def subscribe(
    service: str | ModuleType,
    topic: str,
    handler: Callable[[str, Any], None],
    *,
    endpoints: Sequence[str] | None = None,
    directory: Directory | None = None,
    context: zmq.Context[Any] | None = None,
    curve_server_key: str | None = None,
    curve_keys: CurveKeys | None = None,
) -> Subscription:
    """Deliver `service`'s events whose topic starts with `topic` to `handler(topic, event)`.

    CURVE as for `get_service`.
    """
    name, idl, directory = _resolve(service, endpoints, directory, "pub", curve_server_key)
    assert idl is not None  # events are decoded by the service's IDL
    return Subscription(
        name, idl, topic, handler, directory, tune_context(context or zmq.Context.instance()), curve_keys
    )


def close_all() -> None:
    """Close every pooled connection (tests, and process exit)."""
    for pool in _pools.values():
        pool.close()
    _pools.clear()
