"""The Echo service (hn_idl.echo): a real service for tests and benchmarks of anything runtime-based.

Run it as a process: `python -m hn_runtime.testing.echo` (configured by HN_* variables).
"""

from __future__ import annotations

import gevent

from hn_idl.echo import Echo  # pants: no-infer-dep (generated service module)
from hn_idl.echo.ttypes import Refused, Tick
from hn_runtime._client import get_service
from hn_runtime._context import Session
from hn_runtime._service import Service

__all__ = ["EchoService", "main"]


class EchoService(Service):
    name = "echo"
    idl = Echo
    version = "0.1.0"

    def __init__(self) -> None:
        super().__init__()
        self.bumps = 0
        self.recorded: list[int] = []

    def on_echo(self, session: Session, request: Echo.echo_args) -> bytes:
        return request.payload  # type: ignore[no-any-return]

    def on_slow(self, session: Session, request: Echo.slow_args) -> int:
        gevent.sleep((request.ms or 0) / 1000.0)
        return request.ms or 0

    def on_refuse(self, session: Session, request: Echo.refuse_args) -> None:
        raise Refused(reason=request.reason)

    def on_crash(self, session: Session, request: Echo.crash_args) -> None:
        raise ValueError("the crash method crashed, as asked")

    def on_whoami(self, session: Session, request: Echo.whoami_args) -> str:
        return f"{session.id or ''}|{session.trace_id}"

    def on_relay(self, session: Session, request: Echo.relay_args) -> str:
        target = get_service("echo", endpoints=[request.target])
        return target.whoami()  # type: ignore[no-any-return]

    def on_bump(self, session: Session, request: Echo.bump_args) -> int:
        self.bumps += 1
        return self.bumps

    def on_emit(self, session: Session, request: Echo.emit_args) -> None:
        for n in range(request.count or 0):
            self.publish(request.topic, Tick(n=n, note=request.topic))

    def on_record(self, session: Session, request: Echo.record_args) -> None:
        self.recorded.append(request.n)

    def on_seen(self, session: Session, request: Echo.seen_args) -> list[int]:
        return list(self.recorded)


def main() -> None:
    from gevent import monkey

    monkey.patch_all()
    from hn_runtime._run import run

    run(EchoService())


if __name__ == "__main__":
    main()
