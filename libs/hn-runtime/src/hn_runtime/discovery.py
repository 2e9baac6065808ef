"""Discovery's side of the runtime: where instances are (`Directory`) and how one is found.

`get_service` and `subscribe` resolve through a `Directory` (the process's default, set by
`run(..., discovery=...)`: yellow in production); `StaticDirectory` is one with fixed content for
tests, tools and fixed deployments; `WatcherRegistry` keeps a directory's watchers.
"""

from hn_runtime._directory import (
    DOWN,
    DRAINING,
    UP,
    Directory,
    Discovery,
    Instance,
    Registration,
    StaticDirectory,
    Watcher,
    WatcherRegistry,
    default_directory,
    set_default_directory,
)

__all__ = [
    "DOWN",
    "DRAINING",
    "UP",
    "Directory",
    "Discovery",
    "Instance",
    "Registration",
    "StaticDirectory",
    "Watcher",
    "WatcherRegistry",
    "default_directory",
    "set_default_directory",
]
