"""Helpers for testing services built on hn-runtime, against real sockets.

- `running(service)`: serve a service in this process on free loopback ports.
- `spawn_service(module)`: run a service module as a real process; kill it at teardown.
- `call_handler(service, "method", **args)`: call one handler directly, no sockets.
- `wait_for(condition)`: poll with a deadline (times `time_factor()`) instead of sleeping.
- `capture_logs()`: structlog's capture of log events.
- `time_factor()`: HN_TEST_TIME_FACTOR, by which slow machines stretch every test timeout.

`wait_for` and `time_factor` come from hn_process (`wait_until(..., scaled=True)` is `wait_for`);
they stay here because about forty test modules take them from here.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import gevent
import gevent.event
from structlog.testing import capture_logs

from hn_codec import load_idl
from hn_process import child_env, time_factor, wait_until
from hn_runtime._client import get_service
from hn_runtime._config import RuntimeConfig
from hn_runtime._context import Session, _current, new_trace_id
from hn_runtime._directory import Discovery, Instance, StaticDirectory, declared_client_routes
from hn_runtime._run import serve
from hn_runtime._server import Server
from hn_runtime._service import Service

__all__ = [
    "RunningService",
    "ServiceProcess",
    "assert_process_serves",
    "call_handler",
    "capture_logs",
    "running",
    "spawn_service",
    "time_factor",
    "unreachable",
    "wait_for",
]

T = TypeVar("T")


def wait_for(condition: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.02, message: str = "") -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout` x time_factor()."""
    return wait_until(condition, timeout=timeout, interval=interval, message=message, scaled=True)


@dataclass
class RunningService:
    server: Server
    service: Service

    @property
    def endpoints(self) -> dict[str, str]:
        return self.server.endpoints

    @property
    def instance(self) -> Instance:
        return Instance(
            self.service.name,
            self.server.instance,
            dict(self.endpoints),
            self.service.version,
            curve_key=self.server.curve_public_key,
        )

    def proxy(self, kind: str = "REP", **options: Any) -> Any:
        """A client of this instance alone (over CURVE when it has it; `curve_keys=` picks the
        client's key pair)."""
        endpoint = self.endpoints["rep" if kind.upper() == "REP" else "pull"]
        options.setdefault("curve_server_key", self.server.curve_public_key or None)
        return get_service(self.service.idl, kind, endpoints=[endpoint], **options)


@contextlib.contextmanager
def running(service: Service, *, discovery: Discovery | None = None, **config: Any) -> Iterator[RunningService]:
    """Serve `service` in this process on free loopback ports until the block ends.

    The whole lifecycle of `serve()` runs (HTTP faces, discovery registration, drain on exit),
    minus signal handling. `config` sets RuntimeConfig fields (metrics off unless given).
    """
    config.setdefault("metrics_port", -1)
    cfg = RuntimeConfig(service=service.name, bind_host="127.0.0.1", **config)
    started: gevent.event.AsyncResult = gevent.event.AsyncResult()
    stop = gevent.event.Event()
    serving = gevent.spawn(serve, service, cfg, discovery=discovery, stop=stop, handle_signals=False, ready=started.set)
    serving.link_exception(lambda g: started.set_exception(g.exception or RuntimeError("serve() failed")))
    server = started.get(timeout=30 * time_factor())
    try:
        yield RunningService(server, service)
    finally:
        stop.set()
        serving.get(timeout=service.drain_window(cfg.drain_seconds) + 10 * time_factor())


@dataclass
class ServiceProcess:
    """A service running as a child process (see `spawn_service`)."""

    process: subprocess.Popen[bytes]
    instance_id: str
    endpoints: dict[str, str]
    log_path: str
    service: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    #: The process's CURVE public key ("" when it serves plaintext).
    curve_public_key: str = ""

    @property
    def instance(self) -> Instance:
        return Instance(self.service, self.instance_id, dict(self.endpoints), curve_key=self.curve_public_key)

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.process.wait()

    def terminate(self, timeout: float = 30.0) -> int:
        self.signal(signal.SIGTERM)
        return self.process.wait(timeout * time_factor())

    def logs(self) -> list[dict[str, Any]]:
        lines = []
        with open(self.log_path) as fh:
            for line in fh:
                with contextlib.suppress(ValueError):
                    lines.append(json.loads(line))
        return lines


@contextlib.contextmanager
def spawn_service(
    module: str, *, service: str = "", env: Mapping[str, str] | None = None, ready_timeout: float = 30.0
) -> Iterator[ServiceProcess]:
    """Run `python -m module` as a service process; yield once it serves; kill it at the end."""
    workdir = tempfile.mkdtemp(prefix="hn-svc-")
    ready = os.path.join(workdir, "ready.json")
    log_path = os.path.join(workdir, "out.log")
    full_env = child_env({"HN_READY_FILE": ready, "HN_BIND_HOST": "127.0.0.1", **(env or {})})
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", module], env=full_env, stdout=log, stderr=subprocess.STDOUT)
    try:

        def is_ready() -> bool:
            if process.poll() is not None:
                with open(log_path) as fh:
                    raise RuntimeError(f"{module} exited with {process.returncode}:\n{fh.read()[-4000:]}")
            return os.path.exists(ready)

        wait_for(is_ready, timeout=ready_timeout, message=f"{module} to serve")
        with open(ready) as fh:
            info = json.load(fh)
        yield ServiceProcess(
            process, info["instance"], info["endpoints"], log_path, service, full_env, info.get("curve_public_key", "")
        )
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def call_handler(service: Service, method: str, *, session: Session | None = None, **kwargs: Any) -> Any:
    """Call `service.on_<method>` directly with a decoded request built from `kwargs`."""
    spec = load_idl(service.idl).method(method)  # an old (renamed) name calls the new method
    session = session or Session(None, new_trace_id(), method)
    token = _current.set(session)
    try:
        return getattr(service, f"on_{spec.name}")(session, spec.args_cls(**kwargs))
    finally:
        _current.reset(token)


def assert_process_serves(module: str, *, service: str, version: str, env: Mapping[str, str] | None = None) -> None:
    """Start `python -m module`, check its built-in `health` answer, SIGTERM it: it must exit 0.

    Every service's first test: the process entry point, configuration, sockets and shutdown work.
    """
    with spawn_service(module, service=service, env=env) as proc:
        health = get_service(service, endpoints=[proc.endpoints["rep"]]).health()
        assert (health.service_name, health.version, health.state) == (service, version, "up"), health
        assert health.instance == proc.instance_id
        status = proc.terminate()
        assert status == 0, f"{module} exited with {status}:\n" + "".join(
            f"{line}\n" for line in map(json.dumps, proc.logs()[-20:])
        )


def unreachable(*services: str) -> StaticDirectory:
    """A directory where each of `services` has one instance that publishes its IDL's client
    routes and no endpoint: a broker routes their messages, and answers them UNAVAILABLE."""
    return StaticDirectory(
        {
            name: [Instance(name, f"{name}-unreachable", {}, client_routes=declared_client_routes(name))]
            for name in services
        }
    )
