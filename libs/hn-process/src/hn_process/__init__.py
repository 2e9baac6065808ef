"""hn-process: the process helpers tests, launchers, the CLI and benchmarks share.

Standard library only, so any process may import it before gevent patches (and it then works on
the patched modules: its waits yield to the gevent hub).

- `child_env(extra)`: the environment of a child Python that imports what this one imports.
- `wait_until(condition, timeout=..., scaled=False)`: poll until truthy, return the value, raise
  `WaitTimeout` at the deadline; `scaled=True` stretches it by `time_factor()`
  (HN_TEST_TIME_FACTOR), as tests do.
- `free_port()`, `port_is_free(port)`, `port_accepts(port)`: loopback TCP ports.
- `dies_with_parent(signal)` (a `preexec_fn`), `Watchdog` (kills registered process groups if
  this process dies) and `ManagedProcess` (a server in its own session, stopped with its group,
  logged to a file; `ProcessFailed` when it exits or is not ready in time).
- `processes()`, `no_process_left(pids)`: the machine's processes from /proc.
- `run_tool(argv, cwd=..., timeout=...)`: a tool (npm, node) run to its end: its output, or
  `ToolFailed` with the tail of it.
- `lazy_exports(package, homes)`: a package's names loaded on first use (a light `__init__`,
  so an entry point patches gevent before the runtime loads).
"""

from hn_process._env import child_env
from hn_process._lazy import lazy_exports
from hn_process._lifetime import Watchdog, dies_with_parent
from hn_process._managed import ManagedProcess, ProcessFailed
from hn_process._ports import free_port, port_accepts, port_is_free
from hn_process._proc import ProcessInfo, no_process_left, processes
from hn_process._tool import ToolFailed, run_tool
from hn_process._wait import WaitTimeout, time_factor, wait_until

__version__ = "0.1.0"

__all__ = [
    "ManagedProcess",
    "ProcessFailed",
    "ProcessInfo",
    "ToolFailed",
    "WaitTimeout",
    "Watchdog",
    "child_env",
    "dies_with_parent",
    "free_port",
    "lazy_exports",
    "no_process_left",
    "port_accepts",
    "port_is_free",
    "processes",
    "run_tool",
    "time_factor",
    "wait_until",
]
