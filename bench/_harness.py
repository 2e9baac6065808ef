"""What the benchmarks share: child processes (their environment, waiting for them to be ready,
reading the one JSON line a load generator prints), the roles a benchmark file runs as in those
children (`run_role`, `load_role`, `child`), the load generators' common parts, the command line,
CPU time from /proc, and printing figures. Percentiles come from hn_stats."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from hn_process import child_env
from hn_stats import percentile

__all__ = [
    "arguments",
    "child",
    "child_env",
    "cpu_seconds",
    "generator",
    "generators_go",
    "load_arguments",
    "load_dealer",
    "load_role",
    "note",
    "platform",
    "quiet_logs",
    "readme_argument",
    "readme_path",
    "ready_path",
    "report",
    "run_json",
    "run_load",
    "run_loads",
    "run_role",
    "serial_cost",
    "serial_latencies",
    "service",
    "wait_ready",
    "write_figures",
    "write_ready",
    "write_table",
]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) the process has used so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, summed over its cores: what every
    process on it, the benchmark's own included, left no room for."""
    with open("/proc/stat") as fh:
        ticks = [int(field) for field in fh.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    total = sum(ticks[:8])  # guest time is already counted in user
    hz = os.sysconf("SC_CLK_TCK")
    return (total - idle) / hz, total / hz


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


def run_json(argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run `python argv...` to its end (`env` added to its environment); the last line it
    printed, as JSON."""
    out = subprocess.run(
        [sys.executable, *argv], env=child_env(env), check=True, stdout=subprocess.PIPE, text=True, timeout=timeout
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line: its docstring as the help, and --json."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    return parser


def load_arguments(doc: str | None) -> argparse.ArgumentParser:
    """The command line of a benchmark whose load generators (`load_role`) time contenders in
    turn: `arguments`, and how long each runs, its payload, how many rounds."""
    parser = arguments(doc)
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds each load generator runs")
    parser.add_argument("--payload", type=int, default=64, help="bytes echoed per request")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per contender (medians)")
    return parser


def run_role(roles: Mapping[str, Callable[..., Any]], argv: Sequence[str] | None = None) -> bool:
    """The command line of a module whose functions run as child processes: `<script> <role>
    args...` calls `roles[role](*args)` (arguments as strings) and prints what it returns, if
    anything, as one JSON line (a load generator's figures, read by `run_json`). False, having
    run nothing, when the command line names no role: the benchmark itself is to run."""
    argv = sys.argv if argv is None else argv
    if len(argv) < 2 or argv[1] not in roles:
        return False
    result = roles[argv[1]](*argv[2:])
    if result is not None:
        print(json.dumps(result))
    return True


def load_role(generate: Callable[[str, float, int, bytes], dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """A load generator as a role: `<target> <seconds> <concurrency> <payload size>` on the
    command line (as `run_load` passes them), a random payload of that size."""

    def role(target: str, seconds: str, concurrency: str, size: str) -> dict[str, Any]:
        return generate(target, float(seconds), int(concurrency), os.urandom(int(size)))

    return role


def run_load(
    script: str,
    role: str,
    target: str,
    seconds: float,
    concurrency: int,
    payload: int,
    *,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """Run the load generator `role` of `script` (a `load_role`) against `target` to its end in
    a child process: the figures it printed. `server_pid`: the process serving `target`, whose
    CPU `serial_cost` reads."""
    argv = [script, role, target, str(seconds), str(concurrency), str(payload)]
    env = {_SERVER_PID_ENV: str(server_pid)} if server_pid is not None else None
    return run_json(argv, timeout=120 + 3 * seconds, env=env)


@contextmanager
def child(script: str, role: str, *args: str) -> Iterator[dict[str, Any]]:
    """Run the server role `role` of `script` (`python script role <ready file> args...`), quiet,
    until the block ends; yields the ready info it wrote, with its "pid"."""
    ready = ready_path(role)
    env = child_env({"HN_METRICS_PORT": "-1", "HN_LOG_LEVEL": "warning"})
    proc = subprocess.Popen([sys.executable, script, role, ready, *args], env=env, stdout=subprocess.DEVNULL)
    try:
        info = wait_ready(proc, ready, role)
        info["pid"] = proc.pid
        yield info
    finally:
        proc.kill()
        proc.wait()


#: set by `run_loads` in each load generator it starts: "k/n" (this is generator k of n)
_GENERATOR_ENV = "HN_BENCH_GENERATOR"
#: the folder where `run_loads`' generators say they are ready and wait for the word to go
_BARRIER_ENV = "HN_BENCH_BARRIER"


def generator() -> tuple[int, int]:
    """(k, n): this load generator is the k-th (from 0) of the n that `run_loads` started."""
    k, _, n = os.environ.get(_GENERATOR_ENV, "0/1").partition("/")
    return int(k), int(n)


def generators_go() -> None:
    """A load generator of several (`run_loads`) waits here, its connections open, until every
    other one is ready too: their loaded phases then run at the same time. Alone, returns at once."""
    barrier = os.environ.get(_BARRIER_ENV)
    if not barrier:
        return
    k, _ = generator()
    write_ready(os.path.join(barrier, f"ready-{k}"), {})
    go = os.path.join(barrier, "go")
    deadline = time.monotonic() + 600
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            raise SystemExit("the other load generators never got ready")
        time.sleep(0.005)


def run_loads(
    script: str,
    role: str,
    target: str,
    seconds: float,
    concurrency: int,
    payload: int,
    processes: int,
    on_go: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """`run_load` from `processes` load generators at once, `concurrency` split between them
    (the first one measures latency at concurrency 1 while the others wait: see `generator`,
    `generators_go`); the figures each printed, the first one's first. `on_go` is called just
    before they start their loaded phases together (to read a process's CPU time then)."""
    barrier = tempfile.mkdtemp(prefix="hn-bench-barrier-")
    shares = [concurrency // processes + (1 if k < concurrency % processes else 0) for k in range(processes)]
    procs = []
    for k, share in enumerate(shares):
        env = child_env({_GENERATOR_ENV: f"{k}/{processes}", _BARRIER_ENV: barrier})
        argv = [sys.executable, script, role, target, str(seconds), str(share), str(payload)]
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True))
    try:
        deadline = time.monotonic() + 120 + 3 * seconds
        while not all(os.path.exists(os.path.join(barrier, f"ready-{k}")) for k in range(processes)):
            if time.monotonic() > deadline or any(p.poll() not in (None, 0) for p in procs):
                raise SystemExit(f"{role}: a load generator did not get ready")
            time.sleep(0.01)
        if on_go is not None:
            on_go()
        with open(os.path.join(barrier, "go"), "w"):
            pass
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=120 + 3 * seconds)
            if proc.returncode != 0:
                raise SystemExit(f"{role}: a load generator failed ({proc.returncode})")
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def readme_argument(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add `--readme PATH` to a benchmark's command line (see `write_figures`)."""
    parser.add_argument(
        "--readme",
        metavar="PATH",
        help="rewrite this benchmark's figures block in this markdown file (default: $HN_BENCH_README, else none)",
    )
    return parser


def readme_path(args: argparse.Namespace) -> str | None:
    """The markdown file whose figure blocks a benchmark rewrites: `--readme PATH`, else the
    HN_BENCH_README environment variable, else none (the figures are only printed)."""
    return getattr(args, "readme", None) or os.environ.get("HN_BENCH_README") or None


def write_figures(args: argparse.Namespace, name: str, body: str, command: str) -> None:
    """Rewrite the figures block `name` of the README (`readme_path`) with `body`, if one is given."""
    path = readme_path(args)
    if path is None:
        return
    from hn_figures import write_block

    write_block(path, name, body, command=command)
    note(f"wrote the figures block {name!r} in {path}")


def serial_latencies(call: Callable[[], object], seconds: float) -> list[float]:
    """A load generator's latency at concurrency 1: `call()` 200 times to warm up, then one call
    after another for `seconds`; each one's duration in seconds."""
    for _ in range(200):
        call()
    latencies = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        started = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - started)
    return latencies


#: set by `run_load` for a load generator whose server's CPU it may read (`serial_cost`)
_SERVER_PID_ENV = "HN_BENCH_SERVER_PID"


def serial_cost(call: Callable[[], object], seconds: float) -> dict[str, Any]:
    """`serial_latencies`' p50 and p99 (µs), and the CPU (user + system, every thread, µs) this
    load generator and its server (`run_load(server_pid=...)`) spent per call meanwhile: the
    work behind the latency. /proc counts in clock ticks (10 ms): over a few thousand calls,
    about a µs per call."""
    for _ in range(200):
        call()  # warm, so the first calls' costs (connecting, caches) stay out of the CPU read
    server = int(os.environ[_SERVER_PID_ENV])
    own, served = cpu_seconds(os.getpid()), cpu_seconds(server)
    lat = serial_latencies(call, seconds)
    calls = len(lat) + 200  # serial_latencies warms up too, and those calls are in the CPU read
    return {
        "p50_us": percentile(lat, 0.5) * 1e6,
        "p99_us": percentile(lat, 0.99) * 1e6,
        "client_cpu_us": (cpu_seconds(os.getpid()) - own) / calls * 1e6,
        "server_cpu_us": (cpu_seconds(server) - served) / calls * 1e6,
    }


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


_STARTED = time.monotonic()


def note(what: str) -> None:
    """A progress line on stderr, timed from the start: stdout's last line is the result."""
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {what}", file=sys.stderr, flush=True)


def quiet_logs(instance: str) -> None:
    """hn-runtime's logs, warnings only, on stderr (a benchmark's result is stdout's last line)."""
    from hn_runtime import configure_logging

    configure_logging(service="bench", instance=instance, level="warning", stream=sys.stderr)


def report(result: Mapping[str, Any], as_json: bool) -> None:
    """Print a benchmark's figures: one JSON line, or a column of `name: value` lines."""
    if as_json:
        print(json.dumps(dict(result)))
        return
    width = max((len(key) for key in result), default=0)
    for key, value in result.items():
        print(f"{key:>{width}}: {value}")


def write_table(readme: str | None, name: str, rows: Sequence[Sequence[object]], footer: str = "") -> None:
    """Write `rows` (a header row, then figures) as a table, then `footer`, into the block `name`
    of the markdown file `readme` (else $HN_BENCH_README; hn_figures: with the date, this command
    and the load average); nothing when no file was given."""
    readme = readme or os.environ.get("HN_BENCH_README")
    if not readme:
        return
    from hn_figures import write_block

    cells = [[str(cell) for cell in row] for row in rows]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    lines += ["| " + " | ".join(row) + " |" for row in cells[1:]]
    script = os.path.relpath(os.path.abspath(sys.argv[0]), os.path.dirname(os.path.abspath(__file__)))
    command = " ".join([f"./pants run bench/{script} --", *sys.argv[1:]])
    write_block(readme, name, "\n".join(lines) + ("\n\n" + footer.strip() if footer else ""), command=command)


@contextmanager
def platform(name: str, *, keep: bool = False, **spec: Any) -> Iterator[Any]:
    """The whole platform as `hn up` starts it (hn_cli's Cluster: 1 broker, 1 sso, 1 match and
    `spec`'s changes), healthy, in a fresh run directory removed afterwards unless `keep`."""
    from hn_cli import Cluster, ClusterSpec  # pants: no-infer-dep (the benchmarks that start it depend on it)

    # PostgreSQL runs as "postgres" when this runs as root: the run directory must be traversable.
    scratch = tempfile.mkdtemp(prefix=f"hn-bench-{name}-")
    os.chmod(scratch, 0o755)
    cluster = Cluster(
        ClusterSpec(**{"brokers": 1, "sso": 1, "match": 1, "log_level": "info", **spec, "run_dir": scratch})
    )
    try:
        cluster.start()
        cluster.wait_healthy()
        note(f"platform up in {cluster.run_dir}")
        yield cluster
    finally:
        cluster.stop()
        if keep:
            note(f"logs kept in {cluster.run_dir}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
