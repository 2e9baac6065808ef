"""The tier's PostgreSQL half: a primary and its streaming replica behind Pgpool-II.

```
 HN_PG_DSN ──> Pgpool-II ──writes──> PostgreSQL primary ──streaming WAL──> PostgreSQL replica
                   └──────reads (balanced by weight)─────────────┴─────────────────┘
```

Every role logs in with a password (scram-sha-256), locally as in production: the services'
role, the superuser, `replicator` (streaming replication) and `hn_pgpool` (Pgpool's checks).
Clients prove their password to Pgpool, which logs in to PostgreSQL with it (`pool_passwd`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hn_datatier.local._config import HOST, DataTierConfig
from hn_datatier.local._ports import PortPool
from hn_datatier.local._secrets import Secrets, write_private
from hn_datatier.local._templates import render
from hn_process import ManagedProcess, ProcessFailed, Watchdog

__all__ = ["CHECK_USER", "REPLICATION_USER", "SUPERUSER", "PgNode", "PostgresNodes", "find_pg_bin_dir"]

SUPERUSER = "postgres"
#: The role the replica streams as (REPLICATION, nothing else), as in production.
REPLICATION_USER = "replicator"
#: The role of Pgpool's health and replication checks (pg_monitor: reads pg_stat_replication).
CHECK_USER = "hn_pgpool"


def find_pg_bin_dir() -> str:
    """PostgreSQL's server binaries: $HN_PG_BIN_DIR, else Debian's newest /usr/lib/postgresql/N/bin."""
    explicit = os.environ.get("HN_PG_BIN_DIR")
    if explicit:
        return explicit
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[-3].split(".")[0]))
    if found:
        return os.path.dirname(found[-1])
    postgres = shutil.which("postgres")
    if postgres:
        return os.path.dirname(postgres)
    raise FileNotFoundError("PostgreSQL server binaries not found: run scripts/install-system-packages.sh")


@dataclass
class PgNode:
    name: str  # pg0 (the first primary), pg1 (its replica)
    port: int
    data_dir: str
    process: ManagedProcess

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"


class PostgresNodes:
    """PostgreSQL primary + replica and Pgpool-II, on ports from `ports`, in a scratch directory."""

    def __init__(self, config: DataTierConfig, ports: PortPool) -> None:
        self.config = config
        self.ports = ports
        self.nodes: list[PgNode] = []
        self.pgpool: ManagedProcess | None = None
        self.pgpool_port = 0
        self.pcp_port = 0
        self.bin_dir = ""
        self._user: tuple[int, int] | None = None
        self._scratch = ""
        self._watchdog: Watchdog | None = None
        self._secrets: Secrets | None = None

    # -- what clients and tests see ------------------------------------------------------

    def _dsn(self, port: int, *, admin: bool) -> str:
        """A DSN with its role's password (scram-sha-256 everywhere)."""
        assert self._secrets is not None, "the tier is not started"
        user, secret, database = (
            (SUPERUSER, Secrets.PG_SUPERUSER, "postgres")
            if admin
            else (self.config.user, Secrets.PG_APP, self.config.database)
        )
        password = urllib.parse.quote(self._secrets[secret], safe="")
        return f"postgresql://{user}:{password}@{HOST}:{port}/{database}"

    @property
    def dsn(self) -> str:
        """Services' DSN: Pgpool, as the services' role, with its password."""
        return self._dsn(self.pgpool_port, admin=False)

    @property
    def admin_dsn(self) -> str:
        """Superuser through Pgpool (tests that create databases or look at pg_stat_*)."""
        return self._dsn(self.pgpool_port, admin=True)

    def direct_dsn(self, node: PgNode, *, admin: bool = False) -> str:
        return self._dsn(node.port, admin=admin)

    @property
    def primary(self) -> PgNode:
        return self.nodes[0]

    @property
    def replica(self) -> PgNode:
        return self.nodes[1]

    def env(self) -> dict[str, str]:
        if not self.nodes:
            return {}
        return {
            "HN_PG_DSN": self.dsn,
            "HN_PG_PRIMARY_DSN": self.direct_dsn(self.primary),
            "HN_PG_REPLICA_DSN": self.direct_dsn(self.replica),
            "HN_PG_PRIMARY": self.primary.address,
            "HN_PG_REPLICA": self.replica.address,
            "HN_PGPOOL": f"{HOST}:{self.pgpool_port}",
            "HN_PGPOOL_PCP": f"{HOST}:{self.pcp_port}",
        }

    def processes(self) -> list[ManagedProcess]:
        return [n.process for n in self.nodes] + ([self.pgpool] if self.pgpool else [])

    def stop_order(self) -> list[ManagedProcess]:
        """Front first (no new work), the replica before its primary."""
        return ([self.pgpool] if self.pgpool else []) + [n.process for n in reversed(self.nodes)]

    def listening_ports(self) -> list[int]:
        return [n.port for n in self.nodes] + ([self.pgpool_port, self.pcp_port] if self.pgpool else [])

    def describe(self) -> dict[str, Any]:
        return {
            "postgres": [{"name": n.name, "address": n.address, "pid": n.process.pid} for n in self.nodes],
            "pgpool": {"address": f"{HOST}:{self.pgpool_port}", "pid": self.pgpool.pid if self.pgpool else None},
        }

    def pool_nodes(self) -> list[dict[str, str]]:
        """Pgpool's `SHOW POOL_NODES`, one dict per backend."""
        with contextlib.closing(_connect(self.admin_dsn)) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SHOW POOL_NODES")
                names = [d[0] for d in cur.description or ()]
                return [dict(zip(names, map(str, row), strict=False)) for row in cur.fetchall()]

    # -- chaos ---------------------------------------------------------------------------

    def restart(self, node: PgNode, *, kill: bool = False) -> None:
        """Stop a PostgreSQL node (fast shutdown, or kill -9) and start it again on its port; the
        replica resumes streaming. Waits until Pgpool sees every backend up again."""
        if kill:
            node.process.kill()
        else:
            node.process.stop(timeout=self.config.stop_timeout)
        node.process.start()
        recovery = node is not self.primary
        node.process.wait_ready(
            lambda: self._in_recovery(node.port, recovery), timeout=self.config.start_timeout, what="PostgreSQL"
        )
        if self.pgpool is not None and self.pgpool.alive:
            # A node Pgpool detached meanwhile comes back through auto_failback once it streams.
            self.pgpool.wait_ready(
                self._pool_nodes_up, timeout=self.config.start_timeout, what="Pgpool sees every backend up"
            )

    def restart_pgpool(self, *, kill: bool = False) -> None:
        """Stop Pgpool (fast shutdown, or kill -9) and start it again on its port."""
        assert self.pgpool is not None
        if kill:
            self.pgpool.kill()
        else:
            self.pgpool.stop(timeout=self.config.stop_timeout)
        self.pgpool.start()
        self.pgpool.wait_ready(self._pool_nodes_up, timeout=self.config.start_timeout, what="Pgpool up")

    def _pool_nodes_up(self) -> bool:
        rows = self.pool_nodes()
        roles = sorted(r["role"] for r in rows)
        return (
            len(rows) == len(self.nodes)
            and roles == ["primary", "standby"]
            and all(r["status"] in ("up", "waiting") for r in rows)
        )

    # -- start ---------------------------------------------------------------------------

    def start(self, scratch: str, watchdog: Watchdog, secrets: Secrets) -> None:
        """initdb and start the primary, a base backup of it streaming as the replica, then Pgpool."""
        self._scratch = scratch
        self._watchdog = watchdog
        self._secrets = secrets
        self._start_postgres()
        self._start_pgpool()

    def _identity(self) -> tuple[int, int] | None:
        """PostgreSQL refuses to run as root: when we are root, it runs as `postgres` (Debian's)."""
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(name)
                return entry.pw_uid, entry.pw_gid
        raise RuntimeError("running as root and no 'postgres' user to run PostgreSQL as")

    def _dir(self, name: str) -> str:
        path = os.path.join(self._scratch, name)
        os.makedirs(path, mode=0o700)
        if self._user:
            os.chown(path, *self._user)
        return path

    def _run(self, name: str, argv: Sequence[str], log_path: str) -> None:
        """Run a PostgreSQL tool to completion (as the PostgreSQL user), failing with its output."""
        proc = ManagedProcess(
            name,
            argv,
            log_path=log_path,
            user=self._user[0] if self._user else None,
            group=self._user[1] if self._user else None,
            watchdog=self._watchdog,
        ).start()
        assert proc.process is not None
        try:
            code = proc.process.wait(timeout=self.config.start_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise ProcessFailed(f"{name} timed out:\n{proc.log_tail()}") from None
        finally:
            proc.stop()
        if code != 0:
            raise ProcessFailed(f"{name} failed ({code}):\n{proc.log_tail()}")

    def _write_conf(self, data_dir: str, port: int, socket_dir: str) -> None:
        files = {
            "highnoon.conf": render(
                "postgresql.conf.tmpl",
                listen_addresses=HOST,
                port=port,
                socket_dir=socket_dir,
                max_connections=self.config.pg_max_connections,
                shared_buffers="32MB",
                wal_keep_size="256MB",
                fsync="on" if self.config.fsync else "off",
                synchronous_commit="on" if self.config.fsync else "off",
            ),
            "pg_hba.conf": render("pg_hba.conf.tmpl", client_cidr=f"{HOST}/32", replication_user=REPLICATION_USER),
        }
        for name, text in files.items():
            path = os.path.join(data_dir, name)
            with open(path, "w") as fh:
                fh.write(text)
            if self._user:
                os.chown(path, *self._user)

    def _process(self, name: str, node_dir: str, data_dir: str) -> ManagedProcess:
        return ManagedProcess(
            name,
            [os.path.join(self.bin_dir, "postgres"), "-D", data_dir],
            log_path=os.path.join(node_dir, "postgres.log"),
            user=self._user[0] if self._user else None,
            group=self._user[1] if self._user else None,
            stop_signal=signal.SIGINT,  # "fast" shutdown: roll back sessions, exit
            deathsig=signal.SIGQUIT,  # "immediate" shutdown if the launcher dies
            watchdog=self._watchdog,
        )

    def _start_postgres(self) -> None:
        cfg = self.config
        assert self._secrets is not None
        secrets = self._secrets
        self.bin_dir = cfg.pg_bin_dir or find_pg_bin_dir()
        self._user = self._identity()
        timeout = cfg.start_timeout

        # Primary: initdb (the superuser's password from a file the PostgreSQL user reads, gone
        # afterwards), our settings (included from postgresql.conf), start.
        dir0 = self._dir("pg0")
        data0 = os.path.join(dir0, "data")
        pwfile = write_private(os.path.join(dir0, "initdb.pw"), secrets[Secrets.PG_SUPERUSER] + "\n", owner=self._user)
        self._run(
            "initdb",
            [
                os.path.join(self.bin_dir, "initdb"),
                "-D",
                data0,
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            os.path.join(dir0, "initdb.log"),
        )
        os.unlink(pwfile)
        with open(os.path.join(data0, "postgresql.conf"), "a") as fh:
            fh.write("\n# HighNoon settings (hn_datatier/templates/postgresql.conf.tmpl)\ninclude 'highnoon.conf'\n")
        port0 = self.ports.allocate()
        self._write_conf(data0, port0, dir0)
        primary = PgNode("pg0", port0, data0, self._process("pg0", dir0, data0))
        self.nodes.append(primary)
        primary.process.start()
        primary.process.wait_ready(lambda: self._in_recovery(port0, False), timeout=timeout, what="primary")
        with contextlib.closing(_connect(self.direct_dsn(primary, admin=True))) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                for role, options, secret in (
                    (cfg.user, "LOGIN", Secrets.PG_APP),
                    (REPLICATION_USER, "LOGIN REPLICATION", Secrets.PG_REPLICATION),
                    (CHECK_USER, "LOGIN IN ROLE pg_monitor", Secrets.PG_CHECK),
                ):
                    cur.execute(
                        f'CREATE ROLE "{role}" {options} PASSWORD %s', (_scram_verifier(conn, role, secrets[secret]),)
                    )
                cur.execute(f'CREATE DATABASE "{cfg.database}" OWNER "{cfg.user}"')

        # Replica: a base backup of the primary, streaming from it as `replicator` (-R writes
        # primary_conninfo, naming the password file, and standby.signal; application_name lets
        # Pgpool match it in pg_stat_replication).
        dir1 = self._dir("pg1")
        data1 = os.path.join(dir1, "data")
        passfile = write_private(
            os.path.join(dir1, "replication.pgpass"),
            f"{HOST}:{port0}:*:{REPLICATION_USER}:{secrets[Secrets.PG_REPLICATION]}\n",
            owner=self._user,
        )
        self._run(
            "pg_basebackup",
            [
                os.path.join(self.bin_dir, "pg_basebackup"),
                "-d",
                f"host={HOST} port={port0} user={REPLICATION_USER} passfile={passfile} application_name=pg1",
                "-D",
                data1,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
            os.path.join(dir1, "basebackup.log"),
        )
        port1 = self.ports.allocate()
        self._write_conf(data1, port1, dir1)
        replica = PgNode("pg1", port1, data1, self._process("pg1", dir1, data1))
        self.nodes.append(replica)
        replica.process.start()
        replica.process.wait_ready(lambda: self._in_recovery(port1, True), timeout=timeout, what="replica")

        def streaming() -> bool:
            with contextlib.closing(_connect(self.direct_dsn(primary, admin=True))) as conn:
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
                    row = cur.fetchone()
                    return row is not None and row[0] >= 1

        replica.process.wait_ready(streaming, timeout=timeout, what="replica streaming")

    def _start_pgpool(self) -> None:
        cfg = self.config
        assert self._secrets is not None
        run_dir = os.path.join(self._scratch, "pgpool")
        os.makedirs(run_dir, mode=0o700)  # pool_passwd, and pg_enc's input while it runs
        self.pgpool_port = self.ports.allocate()
        self.pcp_port = self.ports.allocate()
        backends = "\n".join(
            render(
                "pgpool-backend.conf.tmpl",
                index=i,
                host=HOST,
                port=node.port,
                weight=cfg.read_weights[min(i, 1)],
                application_name=node.name,
            )
            for i, node in enumerate(self.nodes)
        )
        conf = render(
            "pgpool.conf.tmpl",
            listen_addresses=HOST,
            port=self.pgpool_port,
            pcp_port=self.pcp_port,
            run_dir=run_dir,
            backends=backends,
            num_init_children=cfg.pgpool_children,
            max_pool=cfg.pgpool_max_pool,
            pool_passwd=os.path.join(run_dir, "pool_passwd"),
            delay_threshold=10 * 1024 * 1024,
            check_period=cfg.pgpool_check_period,
            health_check_timeout=5,
            health_check_max_retries=3,
            auto_failback_interval=5,
            check_user=CHECK_USER,
        )
        paths = {
            "pgpool.conf": conf,
            "pcp.conf": "# no PCP users: no one can use PCP\n",
            "pool_hba.conf": render("pool_hba.conf.tmpl", client_cidr=f"{HOST}/32"),
        }
        for name, text in paths.items():
            with open(os.path.join(run_dir, name), "w") as fh:
                fh.write(text)
        key_file = self._secrets.path(Secrets.PGPOOL_KEY)
        self._write_pool_passwd(run_dir, key_file)
        self.pgpool = ManagedProcess(
            "pgpool",
            [
                "pgpool",
                "-n",  # stay in the foreground: we are its supervisor
                "-D",  # forget node states of an earlier run (pgpool_status)
                "-f",
                os.path.join(run_dir, "pgpool.conf"),
                "-F",
                os.path.join(run_dir, "pcp.conf"),
                "-a",
                os.path.join(run_dir, "pool_hba.conf"),
                "-k",
                key_file,
            ],
            log_path=os.path.join(run_dir, "pgpool.log"),
            stop_signal=signal.SIGINT,  # "fast" mode
            deathsig=signal.SIGINT,
            watchdog=self._watchdog,
        ).start()

        self.pgpool.wait_ready(
            self._pool_nodes_up, timeout=cfg.start_timeout, what="SHOW POOL_NODES: primary and standby up"
        )

    def _write_pool_passwd(self, run_dir: str, key_file: str) -> None:
        """pool_passwd: every role that logs in through Pgpool, its password AES-encrypted with the
        key file by Pgpool's own `pg_enc` (from an input file that exists only while it runs)."""
        assert self._secrets is not None
        roles = {self.config.user: Secrets.PG_APP, SUPERUSER: Secrets.PG_SUPERUSER, CHECK_USER: Secrets.PG_CHECK}
        pairs = "".join(f"{role}:{self._secrets[secret]}\n" for role, secret in roles.items())
        pairs_file = os.path.join(run_dir, "pool_passwd.input")
        write_private(pairs_file, pairs)
        try:
            result = subprocess.run(
                ["pg_enc", "-m", "-k", key_file, "-f", os.path.join(run_dir, "pgpool.conf"), "-i", pairs_file],
                capture_output=True,
                text=True,
                timeout=self.config.start_timeout,
            )
        finally:
            os.unlink(pairs_file)
        if result.returncode != 0:
            raise ProcessFailed(f"pg_enc failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        os.chmod(os.path.join(run_dir, "pool_passwd"), 0o600)

    def _in_recovery(self, port: int, recovery: bool) -> bool:
        """True when the server on `port` answers and is (recovery) or is not a replica."""
        with contextlib.closing(_connect(self._dsn(port, admin=True))) as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery()")
                row = cur.fetchone()
                return row is not None and row[0] is recovery


def _connect(dsn: str) -> Any:
    import psycopg2

    return psycopg2.connect(dsn, connect_timeout=5)


def _scram_verifier(conn: Any, role: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier of a password, made on this side: the statement that sets it
    carries no plaintext (to the server's logs, pg_stat_activity)."""
    from psycopg2.extensions import encrypt_password

    return str(encrypt_password(password, role, conn, "scram-sha-256"))
