"""What the benchmarks share: child processes (their environment, waiting for them to be ready,
reading the one JSON line a load generator prints), percentiles and CPU time from /proc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from hn_process import child_env

__all__ = [
    "child_env",
    "cpu_seconds",
    "load_dealer",
    "percentile",
    "ready_path",
    "report",
    "run_json",
    "service",
    "wait_ready",
    "write_ready",
]


def percentile(samples: Sequence[float], q: float) -> float:
    """The `q` quantile (0..1) of `samples` by rank; 0.0 when there are none."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) the process has used so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ready_path(prefix: str) -> str:
    """A fresh path for a child to write its ready file to."""
    return os.path.join(tempfile.mkdtemp(prefix=f"hn-bench-{prefix}-"), "ready.json")


def write_ready(path: str, info: Mapping[str, Any]) -> None:
    """Say "ready" with `info` (written whole, then renamed: a reader never sees half of it)."""
    with open(path + ".tmp", "w") as fh:
        json.dump(dict(info), fh)
    os.replace(path + ".tmp", path)


def wait_ready(proc: subprocess.Popen[Any], path: str, what: str, timeout: float = 60.0) -> dict[str, Any]:
    """The ready file's content once `proc` wrote it; exits the benchmark if it died or took too long."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start")
        time.sleep(0.05)
    with open(path) as fh:
        info: dict[str, Any] = json.load(fh)
    return info


@contextmanager
def service(module: str, env: Mapping[str, str] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Run a service (`python -m module`) quietly until the block ends: (pid, its ready info)."""
    ready = ready_path(module)
    extra = {"HN_LOG_LEVEL": "warning", "HN_METRICS_PORT": "-1", **(env or {}), "HN_READY_FILE": ready}
    proc = subprocess.Popen([sys.executable, "-m", module], env=child_env(extra), stdout=subprocess.DEVNULL)
    try:
        yield proc.pid, wait_ready(proc, ready, module)
    finally:
        proc.terminate()
        proc.wait()


def run_json(argv: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run `python argv...` to its end; the last line it printed, as JSON."""
    out = subprocess.run(
        [sys.executable, *argv], env=child_env(), check=True, stdout=subprocess.PIPE, text=True, timeout=timeout
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def load_dealer(endpoint: str) -> Any:
    """A load generator's ZeroMQ DEALER connected to `endpoint`: unbounded queues (the load
    generator bounds what is in flight), and a dead peer fails the run after 30 s instead of
    hanging it."""
    import zmq

    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.RCVTIMEO, 30_000)
    sock.connect(endpoint)
    return sock


def report(result: Mapping[str, Any], as_json: bool) -> None:
    """Print a benchmark's figures: one JSON line, or a column of `name: value` lines."""
    if as_json:
        print(json.dumps(dict(result)))
        return
    width = max((len(key) for key in result), default=0)
    for key, value in result.items():
        print(f"{key:>{width}}: {value}")
