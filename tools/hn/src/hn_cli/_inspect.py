"""`hn status`, `hn call`, `hn logs`: looking at a running platform."""

from __future__ import annotations

import json
import os
import pkgutil
import struct
import time
from collections.abc import Iterable, Sequence
from typing import Any

from thrift.Thrift import TType

from hn_cli._errors import INVALID, CliError, declared_error, explain
from hn_codec import Method, decode, encode
from hn_runtime import HNError, get_service
from hn_runtime.curve import CurveKeys, set_client_keys
from hn_runtime.wire import load_idl

__all__ = [
    "read_cluster",
    "use_cluster",
    "status_document",
    "status_table",
    "autoscale_status",
    "autoscale_table",
    "call",
    "json_arguments",
]


def read_cluster(run_dir: str = "run") -> dict[str, Any]:
    """The description `hn up` wrote (run/current/cluster.json by default)."""
    path = run_dir if run_dir.endswith(".json") else os.path.join(run_dir, "current", "cluster.json")
    if not os.path.exists(path) and os.path.exists(os.path.join(run_dir, "cluster.json")):
        path = os.path.join(run_dir, "cluster.json")
    try:
        with open(path) as fh:
            return json.load(fh)  # type: ignore[no-any-return]
    except FileNotFoundError:
        raise CliError(
            f"no platform started here: {path} not found (hn up writes it; or give --yellow / HN_YELLOW)",
            code="NO_CLUSTER",
            status=INVALID,
        ) from None


def use_cluster(cluster: dict[str, Any]) -> tuple[str, str | None]:
    """Act as the run's "hn" identity (unless HN_CURVE_KEY_FILE / HN_CURVE_SECRET_KEY say
    otherwise); returns the run's yellow address and yellow's CURVE public key."""
    network = cluster.get("network")
    if network and os.stat("/proc/self/ns/net").st_ino not in network["namespace_ids"]:
        # `hn up --hosts`: its addresses are inside the hosts; from here a call would only time out.
        raise CliError(
            f"this run's platform is on hosts (network namespaces) this machine has no route to: run hn "
            f"inside one, e.g. sudo ip netns exec {network['bots_namespace']} hn ...",
            code="ON_HOSTS",
            status=INVALID,
        )
    env = cluster.get("env", {})
    if env.get("HN_CURVE_KEY_FILE") and not (
        os.environ.get("HN_CURVE_KEY_FILE") or os.environ.get("HN_CURVE_SECRET_KEY")
    ):
        set_client_keys(CurveKeys.load(env["HN_CURVE_KEY_FILE"]))
    return cluster["yellow"], env.get("HN_YELLOW_CURVE_KEY") or None


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in rows)


def autoscale_status(instances: Iterable[Any], timeout: float = 3.0) -> dict[str, Any] | None:
    """The /status of the autoscaler registered in yellow (the active one), or None."""
    import urllib.request

    found = []
    for i in instances:
        if i.service_name == "autoscaler" and i.state == "up" and (i.endpoints or {}).get("http"):
            try:
                with urllib.request.urlopen(f"http://{i.endpoints['http']}/status", timeout=timeout) as response:
                    found.append((i.instance_id, json.load(response)))
            except (OSError, ValueError):
                continue
    active = [status for _, status in sorted(found, key=lambda item: item[0]) if status.get("active")]
    chosen: dict[str, Any] | None = (active or [status for _, status in found] or [None])[0]
    return chosen


def autoscale_table(instances: list[Any], status: dict[str, Any]) -> str:
    """Desired (the autoscaler's) vs actual (up in yellow) per scaled service."""
    rows = [("SERVICE", "DESIRED", "ACTUAL", "DRAINING", "UTILIZATION", "DECISIONS UP/DOWN", "LAST DECISION")]
    for service, s in sorted(status.get("services", {}).items()):
        mine = [i for i in instances if i.service_name == service]
        utilization = s.get("utilization")
        rows.append(
            (
                service,
                str(s.get("desired")),
                str(sum(1 for i in mine if i.state == "up")),
                str(sum(1 for i in mine if i.state == "draining")),
                "-" if utilization is None else f"{utilization:.3f}",
                f"{s['decisions'].get('up', 0)}/{s['decisions'].get('down', 0)}",
                s.get("last_decision") or "-",
            )
        )
    return _table(rows)


def _instances(yellow: str, curve_server_key: str | None) -> list[Any]:
    try:
        return list(get_service("yellow", endpoints=[yellow], timeout=5, curve_server_key=curve_server_key).find(""))
    except HNError as exc:
        error = explain(exc)
        raise CliError(
            f"yellow at {yellow} did not answer: {exc.message}", code=error.code, trace_id=exc.trace_id
        ) from None


def status_document(yellow: str, curve_server_key: str | None = None) -> dict[str, Any]:
    """`hn status --json`: every instance yellow knows (its InstanceInfo's fields), and the active
    autoscaler's /status when one is registered (else null)."""
    instances = _instances(yellow, curve_server_key)
    ordered = sorted(instances, key=lambda i: (i.service_name, i.instance_id))
    return {
        "yellow": yellow,
        "instances": [to_jsonable(i) for i in ordered],
        "autoscaler": autoscale_status(instances),
    }


def status_table(yellow: str, curve_server_key: str | None = None) -> str:
    """Services, instances, state, load and last heartbeat, as yellow sees them; with an
    autoscaler registered, desired vs actual per service below."""
    instances = _instances(yellow, curve_server_key)
    now_ms = time.time() * 1000
    rows = [("SERVICE", "INSTANCE", "STATE", "LOAD", "VERSION", "LAST BEAT")]
    for i in sorted(instances, key=lambda i: (i.service_name, i.instance_id)):
        rows.append(
            (
                i.service_name,
                i.instance_id,
                i.state,
                f"{i.load or 0:.3f}",
                i.version or "",
                f"{(now_ms - i.last_seen_ms) / 1000:.1f}s ago",
            )
        )
    text = _table(rows)
    scaling = autoscale_status(instances)
    if scaling is not None:
        text += "\n\nautoscaler\n" + autoscale_table(instances, scaling)
    return text


def services() -> list[str]:
    """The services whose IDL this hn carries (what `hn call` can call)."""
    import hn_idl  # pants: no-infer-dep (the generated IDL packages' common root)

    names = []
    for module in pkgutil.iter_modules(hn_idl.__path__):
        try:
            load_idl(module.name)
        except (ImportError, ValueError, LookupError):
            continue
        names.append(module.name)
    return sorted(names)


def method_of(service: str, method: str) -> Method:
    """The IDL's description of `service.method`; CliError if this hn knows no such thing."""
    try:
        methods = load_idl(service).methods
    except (ImportError, ValueError, LookupError):
        known = ", ".join(services())
        raise CliError(
            f"no service {service!r}: this hn knows {known}", code="UNKNOWN_SERVICE", status=INVALID
        ) from None
    if method not in methods:
        raise CliError(
            f"{service} has no method {method!r}; it has {', '.join(sorted(methods))}",
            code="UNKNOWN_METHOD",
            status=INVALID,
        )
    spec = methods[method]
    if spec.oneway:
        raise CliError(
            f"{service}.{method} is oneway (no reply): hn call cannot wait for it", code="ONEWAY", status=INVALID
        )
    return spec


def json_arguments(text: str) -> dict[str, Any]:
    """`hn call`'s arguments: a JSON object of the method's fields."""
    try:
        arguments = json.loads(text)
    except ValueError as exc:
        raise CliError(f"arguments are not JSON: {exc}", code="BAD_ARGUMENTS", status=INVALID) from None
    if not isinstance(arguments, dict):
        raise CliError("arguments must be a JSON object of the method's fields", code="BAD_ARGUMENTS", status=INVALID)
    return arguments


def call(
    yellow: str,
    service: str,
    method: str,
    arguments: dict[str, Any],
    timeout: float = 10.0,
    *,
    trace_id: str,
    curve_server_key: str | None = None,
) -> Any:
    """Call any service method by name with JSON arguments (structs given as JSON objects), under
    `trace_id` (which `hn logs --trace` follows). Every failure raises CliError carrying it."""
    from hn_yellow_client import YellowDiscovery

    where = f"{service}.{method}"
    spec = method_of(service, method)
    try:
        body = encode(from_jsonable(spec.args_cls, arguments), spec.args_spec)
    except (ValueError, TypeError, OverflowError, AttributeError, struct.error) as exc:
        raise CliError(f"{where}: bad arguments: {exc}", code="BAD_ARGUMENTS", status=INVALID) from None
    discovery = YellowDiscovery([yellow], curve_server_key=curve_server_key)
    try:
        if not discovery.directory.wait_synced(timeout):
            raise CliError(
                f"yellow at {yellow} did not answer within {timeout:g}s", code="NO_YELLOW", trace_id=trace_id
            )
        proxy = get_service(service, directory=discovery.directory, timeout=timeout)
        reply = proxy.forward(spec, body, trace_id=trace_id)
    except HNError as exc:
        raise explain(exc) from None
    finally:
        discovery.directory.close()
    result = decode(reply.body, spec.result_spec)  # type: ignore[arg-type]
    if spec.returns_value and result.success is not None:
        return result.success
    for field, _cls in spec.exceptions:
        raised = getattr(result, field)
        if raised is not None:
            raise declared_error(raised, where, trace_id, to_jsonable(raised))
    if spec.returns_value:
        raise CliError(f"{where}: the reply carried no result", code="BAD_REPLY", trace_id=trace_id)
    return None


# What JSON value each Thrift type takes (bool is an int to Python: checked apart).
_JSON_TYPES: dict[int, tuple[type, ...]] = {
    TType.BOOL: (bool,),
    TType.BYTE: (int,),
    TType.I16: (int,),
    TType.I32: (int,),
    TType.I64: (int,),
    TType.DOUBLE: (int, float),
    TType.STRING: (str,),
    TType.STRUCT: (dict,),
    TType.MAP: (dict,),
    TType.LIST: (list,),
    TType.SET: (list,),
}
_INT_BITS = {TType.BYTE: 8, TType.I16: 16, TType.I32: 32, TType.I64: 64}
_JSON_NAMES = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    dict: "an object",
    list: "an array",
}


def _fits(value: Any, expected: tuple[type, ...]) -> bool:
    return isinstance(value, expected) and (bool in expected or not isinstance(value, bool))


def _convert(ttype: int, type_args: Any, value: Any, path: str) -> Any:
    if value is None:
        return None
    expected = _JSON_TYPES.get(ttype, (object,))
    if not _fits(value, expected):
        wanted = _JSON_NAMES.get(expected[-1], expected[-1].__name__)
        raise ValueError(f"{path} must be {wanted}, not {json.dumps(value)}")
    bits = _INT_BITS.get(ttype)
    if bits is not None and not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise ValueError(f"{path} must fit in a signed {bits}-bit integer, not {value}")
    if ttype == TType.STRUCT:
        return from_jsonable(type_args[0], value, path)
    if ttype in (TType.LIST, TType.SET):
        return [_convert(type_args[0], type_args[1], v, f"{path}[{n}]") for n, v in enumerate(value)]
    if ttype == TType.STRING and type_args == "BINARY":
        return value.encode()
    return value


def from_jsonable(cls: type, fields: dict[str, Any], path: str = "") -> Any:
    """A Thrift struct of `cls` from JSON-ish fields (nested structs as objects); ValueError names
    the field that does not fit."""
    known = {f[2]: f for f in cls.thrift_spec if f is not None}  # type: ignore[attr-defined]
    unknown = set(fields) - set(known)
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}; it has {', '.join(known)}")
    return cls(
        **{
            name: _convert(known[name][1], known[name][3], value, f"{path}.{name}" if path else name)
            for name, value in fields.items()
        }
    )


def to_jsonable(value: Any) -> Any:
    if hasattr(value, "thrift_spec"):
        return {slot: to_jsonable(getattr(value, slot)) for slot in value.__slots__ if getattr(value, slot) is not None}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value
