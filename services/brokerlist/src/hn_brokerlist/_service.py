"""brokerlist: the one address a game client knows. It answers where the live brokers are.

    GET /            and  GET /v1/brokers
    {"version": "0.1.0", "brokerList": {"host:port": load, ...}}

`version` is the client protocol version (the broker IDL's PROTOCOL_VERSION); a broker is listed
while yellow says it is up, under the public address it registered as its "client" endpoint,
with its load (connections / capacity; lower is better). Answers carry an ETag and a short
max-age: millions of clients ask, and the list changes at the pace of deploys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from hn_idl.broker.constants import PROTOCOL_VERSION
from hn_idl.brokerlist import Brokerlist  # pants: no-infer-dep (generated service module)
from hn_runtime import Service
from hn_runtime.discovery import UP, Directory, Instance, default_directory

__all__ = ["BrokerlistService", "document"]

StartResponse = Callable[..., Any]
MAX_AGE_S = 2


def document(brokers: Sequence[Instance]) -> dict[str, Any]:
    """The published JSON for these instances: live brokers with a client address only."""
    listed = {b.endpoints["client"]: float(b.load) for b in brokers if b.state == UP and b.endpoints.get("client")}
    return {"version": PROTOCOL_VERSION, "brokerList": dict(sorted(listed.items()))}


class BrokerlistService(Service):
    name = "brokerlist"
    idl = Brokerlist

    def __init__(self, *, directory: Directory | None = None) -> None:
        super().__init__()
        self._directory = directory
        self._body = b""
        self._etag = ""
        self._synced = False
        self._publish([])

    def on_start(self) -> None:
        self._unwatch = (self._directory or default_directory()).watch("broker", self._on_brokers)

    def on_stop(self) -> None:
        self._unwatch()

    def _on_brokers(self, brokers: Sequence[Instance]) -> None:
        self._synced = True
        self._publish(brokers)

    def _publish(self, brokers: Sequence[Instance]) -> None:
        body = json.dumps(document(brokers), separators=(",", ":")).encode()
        if body != self._body:
            self._body = body
            self._etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            self.log.info("broker list changed", brokers=len(json.loads(body)["brokerList"]))

    def http_app(self) -> Any:
        def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
            path = environ.get("PATH_INFO", "/")
            if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
                start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
                return [b""]
            if path == "/healthz":
                status = "200 OK" if self._synced else "503 Service Unavailable"
                start_response(status, [("Content-Type", "text/plain")])
                return [b"ok\n" if self._synced else b"no broker view yet\n"]
            if path not in ("/", "/v1/brokers"):
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"not found: GET / or /v1/brokers\n"]
            headers = [
                ("Cache-Control", f"public, max-age={MAX_AGE_S}"),
                ("ETag", self._etag),
                ("Access-Control-Allow-Origin", "*"),
            ]
            if environ.get("HTTP_IF_NONE_MATCH") == self._etag:
                start_response("304 Not Modified", headers)
                return [b""]
            start_response("200 OK", [("Content-Type", "application/json"), *headers])
            return [self._body]

        return app
