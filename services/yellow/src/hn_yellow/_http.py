"""Yellow's HTTP face: `/services` (JSON), `/sd` (Prometheus HTTP service discovery), `/` (the status
page) and `/status.json` (the view it shows)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from hn_idl.yellow.ttypes import InstanceInfo
from hn_yellow._page import render_page
from hn_yellow._registry import DOWN, Registry, by_service, vars_of
from hn_yellow._status import StatusCollector

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


def make_app(registry: Registry, status: StatusCollector) -> Callable[[dict[str, Any], StartResponse], list[bytes]]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/services":
            return _json(start_response, services_document(registry))
        if path == "/sd":
            return _json(start_response, prometheus_targets(registry.instances()))
        if path == "/status.json":
            return _json(start_response, status.view())
        if path == "/":
            page = render_page(status.view(), status.config.interval)
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")])
            return [page.encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /, /status.json, /services or /sd\n"]

    return app
