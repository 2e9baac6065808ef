"""`run(service)`: the whole life of a service process, from configuration to a clean exit."""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import NoReturn

import gevent
import gevent.event

from hn_runtime._client import close_all, set_identity
from hn_runtime._config import RuntimeConfig
from hn_runtime._logging import configure_logging, get_logger
from hn_runtime._metrics import serve_metrics
from hn_runtime._server import Server
from hn_runtime._service import Service

__all__ = ["run", "serve"]


def serve(service: Service, config: RuntimeConfig, *, stop: gevent.event.Event | None = None) -> int:
    """Serve until `stop` is set (or SIGTERM/SIGINT), drain, and return an exit status."""
    log = get_logger("hn.run").bind(service=service.name, instance=config.instance)
    set_identity(config.instance)
    server = Server(service, config=config)
    server.start()
    endpoints = dict(server.endpoints)
    metrics = None
    if config.metrics_port >= 0:
        metrics = serve_metrics(config.bind_host, config.metrics_port)
        endpoints["metrics"] = f"{config.advertise_host}:{metrics.server_port}"
    server.endpoints.update(endpoints)
    stop = stop or gevent.event.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, stop.set)
    if config.ready_file:
        _write_atomically(config.ready_file, json.dumps({"instance": config.instance, "endpoints": endpoints}))
    log.info("ready", endpoints=endpoints, version=service.version)
    stop.wait()
    log.info("stopping", in_flight=server.in_flight)
    drained = server.drain(config.drain_seconds)
    server.close()
    if metrics is not None:
        metrics.stop(timeout=1)
    close_all()
    log.info("exited", drained=drained)
    return 0 if drained else 1


def run(service: Service, config: RuntimeConfig | None = None) -> NoReturn:
    """The entry point of a service process: configure from the environment, serve, exit.

    Call it from `main()` after `gevent.monkey.patch_all()` ran first thing in the process.
    """
    config = config or RuntimeConfig.from_env(service.name)
    configure_logging(service=service.name, instance=config.instance, level=config.log_level)
    try:
        status = serve(service, config)
    except Exception:
        get_logger("hn.run").exception("service failed", service=service.name)
        status = 2
    sys.stdout.flush()
    sys.exit(status)


def _write_atomically(path: str, text: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
