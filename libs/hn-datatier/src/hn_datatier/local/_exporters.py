"""Prometheus exporters for the tier, from Debian: one per server, as on production's data hosts.

- `prometheus-postgres-exporter` on each PostgreSQL node (its default metrics and
  `templates/postgres-exporter-node.yml`), and one on Pgpool-II with only
  `templates/postgres-exporter-pgpool.yml`: Pgpool's own `SHOW POOL_NODES` (Debian has no Pgpool
  exporter). Both log in as `hn_pgpool`, the pg_monitor role of Pgpool's own checks.
- `prometheus-redis-exporter` on each Redis node, as the `monitor` ACL user (INFO and the slow and
  latency logs only, see redis.conf.tmpl).

Passwords reach an exporter through a file or its environment, never its command line. Prometheus
finds the exporters through file-based service discovery: `targets/<job>.json` in the exporters'
directory (jobs `postgres`, `pgpool` and `redis` of ops/prometheus/prometheus.yml), each target
labelled with its `node` (and `shard`).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hn_datatier.local._place import Place
from hn_datatier.local._secrets import Secrets, write_private
from hn_datatier.local._templates import template_text
from hn_process import ManagedProcess, Watchdog

if TYPE_CHECKING:
    from hn_datatier.local._ports import PortPool
    from hn_datatier.local._postgres import PostgresNodes
    from hn_datatier.local._redis import RedisNodes

__all__ = ["EXPORTER_JOBS", "Exporter", "Exporters"]

POSTGRES_EXPORTER = "prometheus-postgres-exporter"
REDIS_EXPORTER = "prometheus-redis-exporter"
#: The Prometheus job of each kind of exporter; file_sd reads `targets/<job>.json`.
EXPORTER_JOBS = ("postgres", "pgpool", "redis")
#: The role the PostgreSQL exporters log in as (the local tier's and production's CHECK_USER).
EXPORTER_PG_USER = "hn_pgpool"
EXPORTER_REDIS_USER = "monitor"

_INSTALL_HINT = "is not installed: scripts/install-system-packages.sh installs it (Debian package {})"


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"{name} {_INSTALL_HINT.format(name)}")
    return path


@dataclass
class Exporter:
    name: str  # exporter-pg0, exporter-pgpool, exporter-shard0-a
    job: str  # one of EXPORTER_JOBS
    port: int
    process: ManagedProcess
    #: target labels besides job and instance: the server it watches (`node`) and its `shard`
    labels: dict[str, str] = field(default_factory=dict)
    #: the sample that says the exporter reached its server (`pg_up 1`, `redis_up 1`)
    up_line: str = ""
    #: the host of the server it exports: it runs there
    place: Place = field(default_factory=Place)

    @property
    def address(self) -> str:
        return f"{self.place.address}:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.address}/metrics"

    def reaches_its_server(self) -> bool:
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=2) as response:
                text: str = response.read().decode()
        except OSError:
            return False
        return any(line == self.up_line for line in text.splitlines())


class Exporters:
    """The tier's exporters: `start()` after the servers are up, `stop_order()` before them."""

    def __init__(self, ports: PortPool) -> None:
        self.ports = ports
        self.exporters: list[Exporter] = []
        self.directory = ""

    @property
    def targets_dir(self) -> str:
        """Where `<job>.json` (Prometheus file_sd) lists the exporters of each job."""
        return os.path.join(self.directory, "targets")

    def start(
        self,
        scratch: str,
        watchdog: Watchdog,
        secrets: Secrets,
        *,
        postgres: PostgresNodes | None,
        redis: RedisNodes | None,
        timeout: float,
    ) -> None:
        self.directory = os.path.join(scratch, "exporters")
        os.makedirs(self.targets_dir, mode=0o700)
        if postgres is not None and postgres.nodes:
            node_queries = self._write("postgres-exporter-node.yml")
            for pg in postgres.nodes:
                self._postgres(pg.name, "postgres", pg.place, pg.port, node_queries, watchdog, secrets, defaults=True)
            if postgres.pool is not None:
                pool_queries = self._write("postgres-exporter-pgpool.yml")
                place = postgres.pool.place
                self._postgres("pgpool", "pgpool", place, postgres.pgpool_port, pool_queries, watchdog, secrets)
        if redis is not None:
            for shard in redis.shards:
                for node in shard.nodes:
                    self._redis(node.name, shard.name, node.place, node.port, watchdog, secrets)
        for exporter in self.exporters:
            exporter.process.wait_ready(exporter.reaches_its_server, timeout=timeout, what=exporter.up_line)
        self.write_file_sd(self.targets_dir)

    def _write(self, name: str) -> str:
        path = os.path.join(self.directory, name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(template_text(name))
        return path

    def _spawn(
        self, name: str, job: str, place: Place, argv: list[str], env: dict[str, str], watchdog: Watchdog
    ) -> Exporter:
        port = self.ports.allocate(place.address)
        process = ManagedProcess(
            f"exporter-{name}",
            place.command([*argv, f"--web.listen-address={place.address}:{port}"])[0],
            log_path=os.path.join(self.directory, f"{name}.log"),
            env=env,
            watchdog=watchdog,
        )
        exporter = Exporter(f"exporter-{name}", job, port, process, place=place)
        self.exporters.append(exporter)
        return exporter

    def _postgres(
        self,
        node: str,
        job: str,
        place: Place,
        port: int,
        queries: str,
        watchdog: Watchdog,
        secrets: Secrets,
        *,
        defaults: bool = False,
    ) -> None:
        argv = [_binary(POSTGRES_EXPORTER), f"--extend.query-path={queries}"]
        if not defaults:
            # Through Pgpool the default queries would describe whichever backend answered.
            argv += [
                "--disable-default-metrics",
                "--disable-settings-metrics",
                "--no-collector.database",
                "--no-collector.bgwriter",
            ]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DATA_SOURCE_URI": f"{place.address}:{port}/postgres?sslmode=disable",
            "DATA_SOURCE_USER": EXPORTER_PG_USER,
            "DATA_SOURCE_PASS_FILE": secrets.path(Secrets.PG_CHECK),
        }
        exporter = self._spawn(node, job, place, argv, env, watchdog)
        exporter.labels = {"node": node}
        exporter.up_line = "pg_up 1"
        exporter.process.start()

    def _redis(self, node: str, shard: str, place: Place, port: int, watchdog: Watchdog, secrets: Secrets) -> None:
        argv = [
            _binary(REDIS_EXPORTER),
            f"-redis.addr=redis://{place.address}:{port}",
            f"-redis.user={EXPORTER_REDIS_USER}",
            "-config-command=-",  # CONFIG GET would show masterauth: the monitor user may not
        ]
        # The exporter's flags double as environment variables: the password stays off argv.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "REDIS_PASSWORD": secrets[Secrets.REDIS_MONITOR]}
        exporter = self._spawn(node, "redis", place, argv, env, watchdog)
        exporter.labels = {"node": node, "shard": shard}
        exporter.up_line = "redis_up 1"
        exporter.process.start()

    def file_sd(self) -> dict[str, list[dict[str, Any]]]:
        """Job -> Prometheus file_sd groups: one per exporter, its target and labels."""
        groups: dict[str, list[dict[str, Any]]] = {job: [] for job in EXPORTER_JOBS}
        for exporter in self.exporters:
            groups[exporter.job].append({"targets": [exporter.address], "labels": exporter.labels})
        return groups

    def write_file_sd(self, directory: str) -> list[str]:
        """Write `<job>.json` for every job into `directory` (replaced whole: Prometheus never
        reads half a file); returns the paths."""
        paths = []
        for job, groups in self.file_sd().items():
            path = os.path.join(directory, f"{job}.json")
            write_private(path + ".tmp", json.dumps(groups, indent=1))
            os.chmod(path + ".tmp", 0o644)  # targets only, no secret: Prometheus may run as another user
            os.replace(path + ".tmp", path)
            paths.append(path)
        return paths

    def processes(self) -> list[ManagedProcess]:
        return [e.process for e in self.exporters]

    def stop_order(self) -> list[ManagedProcess]:
        return self.processes()

    def listening_ports(self) -> list[int]:
        return [e.port for e in self.exporters]

    def describe(self) -> dict[str, Any]:
        if not self.exporters:
            return {}
        return {
            "exporters": [
                {"name": e.name, "job": e.job, "address": e.address, "pid": e.process.pid, **e.labels}
                for e in self.exporters
            ],
            "prometheus_file_sd": self.targets_dir,
        }
