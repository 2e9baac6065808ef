"""Helpers for sso's tests: fresh names and addresses (the tier lives for a whole test file), a
test config, and calls made as a broker makes them (a session id and a client address)."""

from __future__ import annotations

import itertools
import os
from typing import Any

from hn_datatier.local import DataTier
from hn_idl.sso.ttypes import SsoError
from hn_runtime.wire import decode, encode
from hn_sso import SsoConfig

_n = itertools.count()


def fresh(prefix: str = "user") -> str:
    return f"{prefix}{os.getpid() % 1000}x{next(_n)}"


def fresh_address() -> str:
    """A client address ("ip:port") no other test of this process uses."""
    n = next(_n)
    return f"10.{os.getpid() % 250}.{n // 250 % 250}.{n % 250 + 1}:40000"


def sso_config(tier: DataTier, **overrides: object) -> SsoConfig:
    """sso against `tier`, with the fast test hash profile unless overridden."""
    fields: dict[str, object] = dict(
        pg_dsn=tier.env["HN_PG_DSN"], redis_url=tier.env["HN_REDIS_URL"], hash_profile="test"
    )
    fields.update(overrides)
    return SsoConfig(**fields)  # type: ignore[arg-type]


def call(proxy: Any, method: str, *, session_id: str | None = None, client: str | None = None, **args: Any) -> Any:
    """`method` through `proxy` as a broker forwards it: with the session id and the client's
    address on the envelope. Its result, or its declared SsoError raised; runtime errors raise
    as themselves (RemoteError)."""
    spec = proxy.idl.method(method)
    body = encode(spec.args_cls(**args), spec.args_spec)
    result = decode(proxy.forward(spec, body, session_id=session_id, client=client).body, spec.result_spec)
    error = getattr(result, "error", None)
    if error is not None:
        raise error
    return getattr(result, "success", None)


def outcome(proxy: Any, method: str, **kwargs: Any) -> Any:
    """What `call` answers: "ok", or the SsoError's code."""
    try:
        call(proxy, method, **kwargs)
    except SsoError as exc:
        return exc.code
    return "ok"
