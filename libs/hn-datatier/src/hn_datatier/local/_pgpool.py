"""Pgpool-II in front of the tier's PostgreSQL nodes: its configuration, pool_passwd, the failover
script it runs (`templates/pg-failover.sh`, production's too) and its process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from importlib import resources

from hn_datatier.local._config import DataTierConfig
from hn_datatier.local._pgnode import PgNode, connect
from hn_datatier.local._place import Place
from hn_datatier.local._ports import PortPool
from hn_datatier.local._secrets import Secrets, write_private
from hn_datatier.local._templates import render
from hn_process import ManagedProcess, ProcessFailed, Watchdog

__all__ = ["FAILOVER_ARGS", "Pgpool", "sync_standby_names"]

#: Pgpool's placeholders, in the order pg-failover.sh reads them after its event.
FAILOVER_ARGS = "%d %h %p %P %m %H %r %N %S"


def sync_standby_names(names: Sequence[str], mode: str) -> str:
    """synchronous_standby_names for every node: any one of the others ('' when asynchronous)."""
    return "" if mode == "off" else f"ANY 1 ({', '.join(names)})"


class Pgpool:
    """Pgpool-II on ports from `ports`, configured in `run_dir`, on the place of role "pgpool";
    `admin_dsn(host, port)` is the superuser's DSN to an address (Pgpool's own, for SHOW POOL_NODES)."""

    def __init__(
        self,
        config: DataTierConfig,
        ports: PortPool,
        secrets: Secrets,
        watchdog: Watchdog | None,
        run_dir: str,
        *,
        admin_dsn: Callable[[str, int], str],
    ) -> None:
        self.config = config
        self.secrets = secrets
        self.watchdog = watchdog
        self.run_dir = run_dir
        self._admin_dsn = admin_dsn
        self.place: Place = config.place("pgpool")
        self.port = ports.allocate(self.place.address)
        self.pcp_port = ports.allocate(self.place.address)
        self.process: ManagedProcess | None = None
        self.expected = 0  # backends

    def start(self, nodes: Sequence[PgNode], psql: str, check_user: str) -> None:
        cfg = self.config
        os.makedirs(self.run_dir, mode=0o700, exist_ok=True)  # pool_passwd, pg_enc's input while it runs
        self.expected = len(nodes)
        backends = "\n".join(
            render(
                "pgpool-backend.conf.tmpl",
                index=i,
                host=node.host,
                port=node.port,
                weight=cfg.read_weights[min(i, 1)],
                application_name=node.name,
            )
            for i, node in enumerate(nodes)
        )
        script, settings = self._failover_script(psql, check_user, nodes)
        commands = {
            event: f"{script} {settings} {event} {FAILOVER_ARGS}" if cfg.pg_failover else ""
            for event in ("failover", "failback")
        }
        conf = render(
            "pgpool.conf.tmpl",
            listen_addresses=self.place.address,
            port=self.port,
            pcp_port=self.pcp_port,
            run_dir=self.run_dir,
            backends=backends,
            num_init_children=cfg.pgpool_children,
            max_pool=cfg.pgpool_max_pool,
            pool_passwd=os.path.join(self.run_dir, "pool_passwd"),
            delay_threshold=10 * 1024 * 1024,
            check_period=cfg.pgpool_check_period,
            health_check_timeout=cfg.pgpool_health_check_timeout,
            health_check_max_retries=cfg.pgpool_health_check_retries,
            auto_failback_interval=5,
            check_user=check_user,
            failover_command=commands["failover"],
            failback_command=commands["failback"],
            search_primary_node_timeout=int(cfg.start_timeout),
        )
        files = {
            "pgpool.conf": conf,
            "pcp.conf": "# no PCP users: no one can use PCP\n",
            "pool_hba.conf": render("pool_hba.conf.tmpl", client_cidr=cfg.hba_cidr()),
        }
        for name, text in files.items():
            with open(os.path.join(self.run_dir, name), "w") as fh:
                fh.write(text)
        key_file = self.secrets.path(Secrets.PGPOOL_KEY)
        self._write_pool_passwd(key_file, check_user)
        argv, _ = self.place.command(
            [
                "pgpool",
                "-n",  # stay in the foreground: we are its supervisor
                "-D",  # forget node states of an earlier run (pgpool_status)
                "-f",
                os.path.join(self.run_dir, "pgpool.conf"),
                "-F",
                os.path.join(self.run_dir, "pcp.conf"),
                "-a",
                os.path.join(self.run_dir, "pool_hba.conf"),
                "-k",
                key_file,
            ]
        )
        self.process = ManagedProcess(
            "pgpool",
            argv,
            log_path=os.path.join(self.run_dir, "pgpool.log"),
            stop_signal=signal.SIGINT,  # "fast" mode
            deathsig=signal.SIGINT,
            watchdog=self.watchdog,
        ).start()
        self.wait_up("SHOW POOL_NODES: primary and standby up")

    def _failover_script(self, psql: str, check_user: str, nodes: Sequence[PgNode]) -> tuple[str, str]:
        """pg-failover.sh, its settings file, the check user's password file and the fence script,
        in `run_dir`."""
        script = os.path.join(self.run_dir, "pg-failover.sh")
        with open(script, "w") as fh:
            fh.write((resources.files("hn_datatier") / "templates" / "pg-failover.sh").read_text(encoding="utf-8"))
        os.chmod(script, 0o700)
        passfile = write_private(
            os.path.join(self.run_dir, "failover.pgpass"), f"*:*:*:{check_user}:{self.secrets[Secrets.PG_CHECK]}\n"
        )
        settings = write_private(
            os.path.join(self.run_dir, "pg-failover.env"),
            f"HN_PSQL={psql}\nHN_PG_USER={check_user}\nHN_SYNC_MODE={self.config.pg_synchronous}\n"
            f"PGPASSFILE={passfile}\nHN_FENCE={self._fence_script(nodes)}\n",
        )
        return script, settings

    def _fence_script(self, nodes: Sequence[PgNode]) -> str:
        """pg-fence.sh HOST PORT: the local tier's power switch (what a forced stop of its instance
        is in production): kill -9 of the node's postmaster and of every process it forked (its
        backends lead sessions of their own). Nothing to do when the node is gone already."""
        cases = "".join(f"{node.host}:{node.port}) data='{node.data_dir}' ;;\n" for node in nodes)
        path = os.path.join(self.run_dir, "pg-fence.sh")
        with open(path, "w") as fh:
            fh.write(
                "#!/bin/sh\n# Written by hn_datatier.local (_pgpool.py): kill -9 a lost PostgreSQL primary.\n"
                f'case "$1:$2" in\n{cases}*) exit 0 ;;\nesac\n'
                'pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null) || exit 0\n'
                '[ -n "$pid" ] || exit 0\n'
                'pkill -KILL -P "$pid"\nkill -KILL "$pid" 2>/dev/null\n'
                "exit 0\n"
            )
        os.chmod(path, 0o700)
        return path

    def _write_pool_passwd(self, key_file: str, check_user: str) -> None:
        """pool_passwd: every role that logs in through Pgpool, its password AES-encrypted with the
        key file by Pgpool's own `pg_enc` (from an input file that exists only while it runs)."""
        roles = {self.config.user: Secrets.PG_APP, "postgres": Secrets.PG_SUPERUSER, check_user: Secrets.PG_CHECK}
        pairs = "".join(f"{role}:{self.secrets[secret]}\n" for role, secret in roles.items())
        pairs_file = os.path.join(self.run_dir, "pool_passwd.input")
        write_private(pairs_file, pairs)
        try:
            result = subprocess.run(
                ["pg_enc", "-m", "-k", key_file, "-f", os.path.join(self.run_dir, "pgpool.conf"), "-i", pairs_file],
                capture_output=True,
                text=True,
                timeout=self.config.start_timeout,
            )
        finally:
            os.unlink(pairs_file)
        if result.returncode != 0:
            raise ProcessFailed(f"pg_enc failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        os.chmod(os.path.join(self.run_dir, "pool_passwd"), 0o600)

    # -- what it says --------------------------------------------------------------------

    def pool_nodes(self) -> list[dict[str, str]]:
        """Pgpool's `SHOW POOL_NODES`, one dict per backend."""
        with connect(self._admin_dsn(self.place.address, self.port)) as conn, conn.cursor() as cur:
            cur.execute("SHOW POOL_NODES")
            names = [d[0] for d in cur.description or ()]
            return [dict(zip(names, map(str, row), strict=False)) for row in cur.fetchall()]

    def all_up(self) -> bool:
        """Every backend up (or waiting for its first client), one primary and the rest standbys."""
        rows = self.pool_nodes()
        roles = sorted(r["role"] for r in rows)
        return (
            len(rows) == self.expected
            and roles == ["primary"] + ["standby"] * (self.expected - 1)
            and all(r["status"] in ("up", "waiting") for r in rows)
        )

    def primary_port(self) -> int | None:
        """The port of the backend Pgpool sends writes to now (None: it has no primary)."""
        with contextlib.suppress(Exception):
            for row in self.pool_nodes():
                if row["role"] == "primary" and row["status"] in ("up", "waiting"):
                    return int(row["port"])
        return None

    def wait_up(self, what: str = "Pgpool sees every backend up") -> None:
        assert self.process is not None
        self.process.wait_ready(self.all_up, timeout=self.config.start_timeout, what=what)

    def restart(self, *, kill: bool = False) -> None:
        """Stop Pgpool (fast shutdown, or kill -9) and start it again on its port."""
        assert self.process is not None
        if kill:
            self.process.kill()
        else:
            self.process.stop(timeout=self.config.stop_timeout)
        self.process.start()
        self.wait_up("Pgpool up")
