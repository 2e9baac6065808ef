"""brokerlist: the one address a game client knows. It answers where the live brokers are.

    GET /            and  GET /v1/brokers   (the seed's document, unchanged)
    {"version": "0.1.0", "brokerList": {"host:port": load, ...}}

    GET /v2/brokers                         (each broker's schemes)
    {"version": "0.1.0", "brokers": [{"address": "host:port", "load": 0.25,
        "endpoints": {"tcp": "host:port", "ws": "ws://host:port/"}}, ...]}

`version` is the client protocol version (the broker IDL's PROTOCOL_VERSION); a broker is listed
while yellow says it is up, under the public address it registered as its "client" endpoint,
with its load (connections / capacity; lower is better). In the second document, `address` is
that same address and `endpoints` holds the schemes the broker serves: "tcp" (4-byte framed
packets) or, when the broker has a certificate, "tls" (the same inside TLS) at that address;
"ws" or "wss" (a packet per binary WebSocket message), a URL, when the broker listens for
WebSocket clients. Answers carry an ETag and a short max-age: millions of clients ask, and the
list changes at the pace of deploys.
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

__all__ = ["SCHEMES", "BrokerlistService", "document", "schemes_document"]

StartResponse = Callable[..., Any]
MAX_AGE_S = 2
#: the endpoint kinds a broker registers per scheme, in the order the document lists them
SCHEMES = ("tcp", "tls", "ws", "wss")
_SEED_PATHS = ("/", "/v1/brokers")
_SCHEMES_PATH = "/v2/brokers"


def _listed(brokers: Sequence[Instance]) -> list[Instance]:
    """Live brokers with a client address, by that address."""
    live = [b for b in brokers if b.state == UP and b.endpoints.get("client")]
    return sorted(live, key=lambda b: b.endpoints["client"])


def document(brokers: Sequence[Instance]) -> dict[str, Any]:
    """The seed's published JSON for these instances: live brokers with a client address only."""
    listed = {b.endpoints["client"]: float(b.load) for b in _listed(brokers)}
    return {"version": PROTOCOL_VERSION, "brokerList": listed}


def schemes_document(brokers: Sequence[Instance]) -> dict[str, Any]:
    """The same brokers with the schemes each serves (GET /v2/brokers)."""
    return {
        "version": PROTOCOL_VERSION,
        "brokers": [
            {
                "address": b.endpoints["client"],
                "load": float(b.load),
                "endpoints": {kind: b.endpoints[kind] for kind in SCHEMES if b.endpoints.get(kind)},
            }
            for b in _listed(brokers)
        ],
    }


class _Published:
    """One document as served: its bytes and their ETag."""

    def __init__(self, content: dict[str, Any]) -> None:
        self.body = json.dumps(content, separators=(",", ":")).encode()
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


class BrokerlistService(Service):
    name = "brokerlist"
    idl = Brokerlist

    def __init__(self, *, directory: Directory | None = None) -> None:
        super().__init__()
        self._directory = directory
        self._seed = _Published(document([]))
        self._schemes = _Published(schemes_document([]))
        self._synced = False

    def on_start(self) -> None:
        self._unwatch = (self._directory or default_directory()).watch("broker", self._on_brokers)

    def on_stop(self) -> None:
        self._unwatch()

    def _on_brokers(self, brokers: Sequence[Instance]) -> None:
        self._synced = True
        self._publish(brokers)

    def _publish(self, brokers: Sequence[Instance]) -> None:
        seed = _Published(document(brokers))
        self._schemes = _Published(schemes_document(brokers))
        if seed.body != self._seed.body:
            self._seed = seed
            self.log.info("broker list changed", brokers=len(json.loads(seed.body)["brokerList"]))

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
            if path in _SEED_PATHS:
                published = self._seed
            elif path == _SCHEMES_PATH:
                published = self._schemes
            else:
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"not found: GET /, /v1/brokers or /v2/brokers\n"]
            headers = [
                ("Cache-Control", f"public, max-age={MAX_AGE_S}"),
                ("ETag", published.etag),
                ("Access-Control-Allow-Origin", "*"),
            ]
            if environ.get("HTTP_IF_NONE_MATCH") == published.etag:
                start_response("304 Not Modified", headers)
                return [b""]
            start_response("200 OK", [("Content-Type", "application/json"), *headers])
            return [published.body]

        return app
