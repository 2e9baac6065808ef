"""A started cluster for one chaos test file, with nothing left behind: hn's local Cluster in a
scratch directory, its service processes guarded by a watchdog, stopped at the end."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from typing import Any

import gevent

from hn_cli import Cluster, ClusterSpec
from hn_process import Watchdog

__all__ = ["chaos_spec", "started"]


def chaos_spec(**changes: Any) -> ClusterSpec:
    """The tier's cluster: production's rules with short duels (more of them per scenario)."""
    extra_env = {
        "HN_MATCH_SIGNAL_DELAY_S": "0.2,0.6",
        "HN_MATCH_READY_TIMEOUT_S": "5",
        "HN_MATCH_TICK_S": "0.1",
        **changes.pop("extra_env", {}),
    }
    return dataclasses.replace(ClusterSpec(extra_env=extra_env), **changes)


def _guard(cluster: Cluster, watchdog: Watchdog) -> None:
    """Hand every service process (each leads its own process group) to a watchdog process that
    stops them if this process dies without stopping the cluster (a test runner's timeout, Pants
    restarting the run after a file changed): the data tier has its own, hn's supervisor has none."""
    watched: dict[int, Any] = {}
    while True:
        for supervised in cluster.processes:
            process = supervised.process
            if process is not None and process.pid not in watched and process.poll() is None:
                watched[process.pid] = process
                watchdog.watch(process.pid, signal.SIGTERM)
        for pid, child in list(watched.items()):
            if child.poll() is not None:  # gone: never signal its process group id again
                watchdog.forget(pid)
                del watched[pid]
        gevent.sleep(0.2)


@contextlib.contextmanager
def started(spec: ClusterSpec) -> Iterator[Cluster]:
    """`spec`'s cluster started in a scratch directory (`spec.run_dir` is replaced), stopped and
    removed on leaving (HN_CHAOS_KEEP=1 keeps its logs)."""
    # Not pytest's tmp_path: its parents are 0700, and the data tier runs PostgreSQL as "postgres"
    # when the tests run as root.
    scratch = tempfile.mkdtemp(prefix="hn-chaos-")
    os.chmod(scratch, 0o755)
    cluster = Cluster(dataclasses.replace(spec, run_dir=scratch))
    watchdog = Watchdog()
    guard = gevent.spawn(_guard, cluster, watchdog)
    try:
        cluster.start()
        yield cluster
    finally:
        guard.kill()
        cluster.stop()
        watchdog.close()
        if os.environ.get("HN_CHAOS_KEEP", "") in ("", "0"):
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"\nthe run's logs are kept in {cluster.run_dir}")
