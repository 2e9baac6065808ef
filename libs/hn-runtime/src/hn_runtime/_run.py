"""`run(service)`: the whole life of a service process, from configuration to a clean exit."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from typing import NoReturn

import gevent
import gevent.event
from gevent.pywsgi import WSGIServer

from hn_runtime._client import close_all
from hn_runtime._config import RuntimeConfig
from hn_runtime._curve import set_client_keys
from hn_runtime._directory import DRAINING, UP, Discovery, Instance, set_default_directory
from hn_runtime._logging import configure_logging, get_logger
from hn_runtime._metrics import serve_metrics
from hn_runtime._proxy import set_default_timeout, set_identity
from hn_runtime._server import Server
from hn_runtime._service import Service

__all__ = ["run", "serve"]


def serve(
    service: Service,
    config: RuntimeConfig,
    *,
    discovery: Discovery | None = None,
    stop: gevent.event.Event | None = None,
    handle_signals: bool = True,
    ready: Callable[[Server], None] | None = None,
) -> int:
    """Serve until `stop` is set (or SIGTERM/SIGINT), drain, and return an exit status.

    With `discovery`, the process finds other services through it and registers itself:
    "draining" as soon as it is told to stop (so callers move on), "down" once drained.
    `ready(server)` is called once everything serves (tests use it to learn the endpoints).
    """
    log = get_logger("hn.run").bind(service=service.name, instance=config.instance)
    if handle_signals:
        # The process's own identity and call timeout on its outbound calls (tests run several
        # servers per process, each with its own configuration).
        set_identity(config.instance)
        set_default_timeout(config.call_timeout)
        if config.curve is not None:
            set_client_keys(config.curve.keys)
    if discovery is not None:
        set_default_directory(discovery.directory)
    server = Server(service, config=config)
    server.start()
    endpoints = dict(server.endpoints)
    http_servers = []
    if config.metrics_port >= 0:
        metrics = serve_metrics(config.bind_host, config.metrics_port)
        http_servers.append(metrics)
        endpoints["metrics"] = f"{config.advertise_host}:{metrics.server_port}"
    app = service.http_app()
    if app is not None:
        http = WSGIServer((config.bind_host, config.http_port), app, log=None, error_log=None)
        http.start()
        http_servers.append(http)
        endpoints["http"] = f"{config.advertise_host}:{http.server_port}"
    endpoints.update(service.endpoints())
    server.endpoints.update(endpoints)
    registration = None
    if discovery is not None:
        client_routes = service.client_routes()

        def describe() -> Instance:
            state = DRAINING if server.draining or not service.in_service() else UP
            return Instance(
                service.name,
                config.instance,
                endpoints,
                service.version,
                service.load(),
                state,
                server.curve_public_key,
                client_routes,
            )

        registration = discovery.register(describe)
    stop = stop or gevent.event.Event()
    if handle_signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            gevent.signal_handler(signum, stop.set)
    if config.ready_file:
        ready_info = {"instance": config.instance, "endpoints": endpoints, "curve_public_key": server.curve_public_key}
        _write_atomically(config.ready_file, json.dumps(ready_info))
    log.info("ready", endpoints=endpoints, version=service.version)
    if ready is not None:
        ready(server)
    stop.wait()
    window = service.drain_window(config.drain_seconds)
    log.info("stopping", in_flight=server.in_flight, drain_window_s=window)
    if registration is not None:
        registration.set_state(DRAINING)
    drained = server.drain(window)
    if registration is not None:
        registration.close()
    server.close()
    for http_server in http_servers:
        http_server.stop(timeout=1)
    log.info("exited", drained=drained)
    return 0 if drained else 1


def run(service: Service, config: RuntimeConfig | None = None, *, discovery: Discovery | None = None) -> NoReturn:
    """The entry point of a service process: configure from the environment, serve, exit.

    Call it from `main()` after `gevent.monkey.patch_all()` ran first thing in the process.
    """
    config = config or RuntimeConfig.from_env(service.name)
    configure_logging(service=service.name, instance=config.instance, level=config.log_level)
    try:
        status = serve(service, config, discovery=discovery)
    except Exception:  # noqa: BLE001 - the process's last word: log it, exit non-zero
        get_logger("hn.run").exception("service failed", service=service.name)
        status = 2
    close_all()
    sys.stdout.flush()
    sys.exit(status)


def _write_atomically(path: str, text: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
