"""The server that runs a `Service` (`run` and `serve` make one), and what the service sees of it.

Service code reads `self.server`, a `ServiceHost`; `Server` itself matters to code that runs
servers (tests, through `hn_runtime.testing.running` and `serve(ready=...)`).
"""

from hn_runtime._host import ServiceHost
from hn_runtime._server import Server

__all__ = ["Server", "ServiceHost"]
