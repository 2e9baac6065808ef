"""`hn status`, `hn call`, `hn logs`: looking at a running platform."""

from __future__ import annotations

import glob
import heapq
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO

from thrift.Thrift import TType

from hn_runtime import get_service
from hn_runtime.curve import CurveKeys, set_client_keys
from hn_runtime.wire import load_idl

__all__ = [
    "read_cluster",
    "use_cluster",
    "status_table",
    "autoscale_status",
    "autoscale_table",
    "call",
    "merged_logs",
]


def read_cluster(run_dir: str = "run") -> dict[str, Any]:
    """The description `hn up` wrote (run/current/cluster.json by default)."""
    path = run_dir if run_dir.endswith(".json") else os.path.join(run_dir, "current", "cluster.json")
    if not os.path.exists(path) and os.path.exists(os.path.join(run_dir, "cluster.json")):
        path = os.path.join(run_dir, "cluster.json")
    with open(path) as fh:
        return json.load(fh)  # type: ignore[no-any-return]


def use_cluster(cluster: dict[str, Any]) -> tuple[str, str | None]:
    """Act as the run's "hn" identity (unless HN_CURVE_KEY_FILE / HN_CURVE_SECRET_KEY say
    otherwise); returns the run's yellow address and yellow's CURVE public key."""
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


def status_table(yellow: str, curve_server_key: str | None = None) -> str:
    """Services, instances, state, load and last heartbeat, as yellow sees them; with an
    autoscaler registered, desired vs actual per service below."""
    instances = list(get_service("yellow", endpoints=[yellow], timeout=5, curve_server_key=curve_server_key).find(""))
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


def call(
    yellow: str,
    service: str,
    method: str,
    arguments: dict[str, Any],
    timeout: float = 10.0,
    curve_server_key: str | None = None,
) -> Any:
    """Call any service method by name with JSON arguments (structs given as JSON objects)."""
    from hn_yellow_client import YellowDiscovery

    discovery = YellowDiscovery([yellow], curve_server_key=curve_server_key)
    try:
        if not discovery.directory.wait_synced(timeout):
            raise TimeoutError(f"yellow at {yellow} did not answer")
        spec = load_idl(service).methods[method]
        args = from_jsonable(spec.args_cls, arguments)
        proxy = get_service(service, directory=discovery.directory, timeout=timeout)
        return getattr(proxy, method)(**{name: getattr(args, name) for name in spec.arg_names})
    finally:
        discovery.directory.close()


def _convert(ttype: int, type_args: Any, value: Any) -> Any:
    if ttype == TType.STRUCT and isinstance(value, dict):
        return from_jsonable(type_args[0], value)
    if ttype in (TType.LIST, TType.SET) and isinstance(value, list):
        return [_convert(type_args[0], type_args[1], v) for v in value]
    if ttype == TType.STRING and type_args == "BINARY" and isinstance(value, str):
        return value.encode()
    return value


def from_jsonable(cls: type, fields: dict[str, Any]) -> Any:
    """A Thrift struct of `cls` from JSON-ish fields (nested structs as objects)."""
    known = {f[2]: f for f in cls.thrift_spec if f is not None}  # type: ignore[attr-defined]
    unknown = set(fields) - set(known)
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}; it has {', '.join(known)}")
    return cls(**{name: _convert(known[name][1], known[name][3], value) for name, value in fields.items()})


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


def _lines(path: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    name = os.path.basename(path).removesuffix(".log")
    with open(path, errors="replace") as fh:
        for line in fh:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                yield str(event.get("timestamp", "")), name, event


def merged_logs(
    run_dir: str, *, trace_id: str | None = None, streams: Iterable[TextIO] = ()
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every JSON log line of a run directory (and of `streams`), in time order."""
    sources = [_lines(p) for p in sorted(glob.glob(os.path.join(run_dir, "*.log")))]
    for n, stream in enumerate(streams):
        sources.append(
            (str(e.get("timestamp", "")), f"stdin{n}", e)
            for e in (json.loads(line) for line in stream if line.strip().startswith("{"))
        )
    for _, name, event in heapq.merge(*sources, key=lambda item: item[0]):
        if trace_id is None or event.get("trace_id") == trace_id:
            yield name, event
