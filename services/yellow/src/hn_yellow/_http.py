"""Yellow's HTTP face: `/services` (JSON), `/sd` (Prometheus HTTP service discovery), `/` (status)."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from hn_idl.yellow.ttypes import InstanceInfo
from hn_yellow._registry import DOWN, Registry, by_service, vars_of

__all__ = ["make_app"]

StartResponse = Callable[..., Any]


def _json(start_response: StartResponse, body: Any) -> list[bytes]:
    data = json.dumps(body, indent=1, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
    return [data]


def _document_of(info: InstanceInfo) -> dict[str, Any]:
    document = vars_of(info)
    document["client_routes"] = [vars_of(route) for route in info.client_routes or ()]
    return document


def services_document(registry: Registry) -> dict[str, Any]:
    return {
        "server_id": registry.server_id,
        "sequence": registry.sequence,
        "services": {svc: [_document_of(i) for i in infos] for svc, infos in by_service(registry.instances()).items()},
    }


def prometheus_targets(instances: Iterable[InstanceInfo]) -> list[dict[str, Any]]:
    """Prometheus HTTP SD: one target group per live instance that serves metrics."""
    return [
        {
            "targets": [info.endpoints["metrics"]],
            "labels": {"service": info.service_name, "instance": info.instance_id, "version": info.version or ""},
        }
        for info in instances
        if info.state != DOWN and "metrics" in (info.endpoints or {})
    ]


def status_page(registry: Registry) -> str:
    now_ms = time.time() * 1000
    rows = []
    for info in registry.instances():
        ago = (now_ms - (info.last_seen_ms or 0)) / 1000
        rows.append(
            "<tr class='{state}'><td>{svc}</td><td>{iid}</td><td>{state}</td><td>{load:.3f}</td>"
            "<td>{version}</td><td>{ago:.1f}s ago</td><td>{eps}</td></tr>".format(
                state=html.escape(info.state),
                svc=html.escape(info.service_name),
                iid=html.escape(info.instance_id),
                load=info.load or 0.0,
                version=html.escape(info.version or ""),
                ago=ago,
                eps=html.escape(" ".join(f"{k}={v}" for k, v in sorted((info.endpoints or {}).items()))),
            )
        )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>yellow: {len(registry)} instances</title>
<meta http-equiv="refresh" content="2">
<style>
 body {{ font-family: sans-serif; margin: 1.5em; }} table {{ border-collapse: collapse; }}
 td, th {{ border: 1px solid #ccc; padding: .25em .6em; font-size: 90%; }}
 tr.down {{ color: #999; }} tr.draining {{ background: #ffd; }}
</style></head>
<body><h1>yellow</h1>
<p>server {html.escape(registry.server_id)} &middot; sequence {registry.sequence} &middot; {len(registry)} instances</p>
<table id="instances"><thead><tr><th>service</th><th>instance</th><th>state</th><th>load</th><th>version</th>
<th>last heartbeat</th><th>endpoints</th></tr></thead>
<tbody>
{"".join(rows)}
</tbody></table></body></html>
"""


def make_app(registry: Registry) -> Callable[[dict[str, Any], StartResponse], list[bytes]]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/services":
            return _json(start_response, services_document(registry))
        if path == "/sd":
            return _json(start_response, prometheus_targets(registry.instances()))
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")])
            return [status_page(registry).encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /, /services or /sd\n"]

    return app
