"""The tier's PostgreSQL half: a primary and its synchronous streaming replica behind Pgpool-II,
which fails over to the replica by itself; WAL archived and backed up by pgBackRest.

```
 HN_PG_DSN ──> Pgpool-II ──writes──> PostgreSQL primary ══sync WAL══> PostgreSQL replica
                   │ └──────reads (balanced by weight)───┴─────────────────┘
                   └─ primary lost: failover_command promotes the replica (pg-failover.sh)
 keeper: restarts a dead node; rewinds an old primary onto the new one (pg_rewind) as its replica
 pgBackRest: archive_command of the primary, base backups, point-in-time restores (a directory)
```

Every role logs in with a password (scram-sha-256), locally as in production: the services'
role, the superuser, `replicator` (streaming replication, and pg_rewind's reads of the new
primary) and `hn_pgpool` (Pgpool's checks, and its failover script: promote, and what the primary
waits for). Clients prove their password to Pgpool, which logs in to PostgreSQL with it
(`pool_passwd`).
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
from collections.abc import Iterator, Sequence
from typing import Any

from hn_datatier.local._backup import PgBackRest
from hn_datatier.local._config import DataTierConfig
from hn_datatier.local._keeper import PgKeeper, newest_primary
from hn_datatier.local._pgnode import NodeState, PgNode, connect, node_state
from hn_datatier.local._pgpool import Pgpool, sync_standby_names
from hn_datatier.local._place import Place
from hn_datatier.local._ports import PortPool
from hn_datatier.local._secrets import Secrets, write_private
from hn_datatier.local._templates import render
from hn_process import ManagedProcess, ProcessFailed, Watchdog, wait_until

__all__ = ["CHECK_USER", "REPLICATION_USER", "SUPERUSER", "PgNode", "PostgresNodes", "find_pg_bin_dir"]

SUPERUSER = "postgres"
#: The role the replica streams as (REPLICATION), and pg_rewind reads the new primary's files as.
REPLICATION_USER = "replicator"
#: The role of Pgpool's health and replication checks (pg_monitor: reads pg_stat_replication),
#: and of its failover script.
CHECK_USER = "hn_pgpool"

#: What each role may do beyond logging in, on top of its attributes (the same in production:
#: infra/terraform's postgres-init.sh).
GRANTS = (
    # pg_rewind, reading the new primary as an ordinary (non-replication) connection.
    f"GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO {REPLICATION_USER}",
    f"GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO {REPLICATION_USER}",
    f"GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO {REPLICATION_USER}",
    f"GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO {REPLICATION_USER}",
    # Pgpool's failover script: promote the replica, and set what the primary waits for.
    f"GRANT EXECUTE ON FUNCTION pg_catalog.pg_promote(boolean, integer) TO {CHECK_USER}",
    f"GRANT EXECUTE ON FUNCTION pg_catalog.pg_reload_conf() TO {CHECK_USER}",
    f"GRANT ALTER SYSTEM ON PARAMETER synchronous_standby_names TO {CHECK_USER}",
)


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


class PostgresNodes:
    """PostgreSQL primary + replica and Pgpool-II, on ports from `ports`, in a scratch directory."""

    def __init__(self, config: DataTierConfig, ports: PortPool) -> None:
        self.config = config
        self.ports = ports
        self.nodes: list[PgNode] = []
        #: nodes started by `restore()` (not part of the tier: stopped with it)
        self.restored: list[PgNode] = []
        self.pool: Pgpool | None = None
        self.keeper: PgKeeper | None = None
        self.backups: PgBackRest | None = None
        self.bin_dir = ""
        self._user: tuple[int, int] | None = None
        self._scratch = ""
        self._watchdog: Watchdog | None = None
        self._secrets: Secrets | None = None

    # -- what clients and tests see ------------------------------------------------------

    def _dsn(self, host: str, port: int, *, admin: bool) -> str:
        """A DSN with its role's password (scram-sha-256 everywhere)."""
        assert self._secrets is not None, "the tier is not started"
        user, secret, database = (
            (SUPERUSER, Secrets.PG_SUPERUSER, "postgres")
            if admin
            else (self.config.user, Secrets.PG_APP, self.config.database)
        )
        password = urllib.parse.quote(self._secrets[secret], safe="")
        return f"postgresql://{user}:{password}@{host}:{port}/{database}"

    @property
    def pgpool(self) -> ManagedProcess | None:
        return self.pool.process if self.pool else None

    @property
    def pgpool_port(self) -> int:
        return self.pool.port if self.pool else 0

    @property
    def pgpool_host(self) -> str:
        """The address Pgpool listens on (its host's)."""
        return self.pool.place.address if self.pool else self.config.place("pgpool").address

    @property
    def pcp_port(self) -> int:
        return self.pool.pcp_port if self.pool else 0

    @property
    def dsn(self) -> str:
        """Services' DSN: Pgpool, as the services' role, with its password."""
        return self._dsn(self.pgpool_host, self.pgpool_port, admin=False)

    @property
    def admin_dsn(self) -> str:
        """Superuser through Pgpool (tests that create databases or look at pg_stat_*)."""
        return self._dsn(self.pgpool_host, self.pgpool_port, admin=True)

    def direct_dsn(self, node: PgNode, *, admin: bool = False) -> str:
        return self._dsn(node.host, node.port, admin=admin)

    def state(self, node: PgNode, *, timeout: float = 2.0) -> NodeState:
        """What `node` says it is now (primary or standby, timeline), or that it does not answer."""
        return node_state(self.direct_dsn(node, admin=True), timeout=timeout)

    @property
    def primary(self) -> PgNode:
        """The primary now: the node that says so, on the newest timeline (after a failover, the
        promoted one); while none answers, the last one the keeper saw."""
        states = {n.name: self.state(n, timeout=1.0) for n in self.nodes if n.process.alive}
        found = newest_primary(self.nodes, states)
        if found is None and self.keeper is not None:
            found = self.keeper.primary
        return found or self.nodes[0]

    @property
    def replica(self) -> PgNode:
        """The other node (the primary's replica once the keeper has brought it back)."""
        primary = self.primary
        return next(n for n in self.nodes if n is not primary)

    def env(self) -> dict[str, str]:
        if not self.nodes:
            return {}
        primary = self.primary
        replica = next(n for n in self.nodes if n is not primary)
        return {
            "HN_PG_DSN": self.dsn,
            "HN_PG_PRIMARY_DSN": self.direct_dsn(primary),
            "HN_PG_REPLICA_DSN": self.direct_dsn(replica),
            "HN_PG_PRIMARY": primary.address,
            "HN_PG_REPLICA": replica.address,
            "HN_PGPOOL": f"{self.pgpool_host}:{self.pgpool_port}",
            "HN_PGPOOL_PCP": f"{self.pgpool_host}:{self.pcp_port}",
        }

    def processes(self) -> list[ManagedProcess]:
        return [n.process for n in self.nodes + self.restored] + ([self.pgpool] if self.pgpool else [])

    def quiesce(self) -> None:
        """Before a stop: the keeper stops restarting what is about to be stopped."""
        if self.keeper is not None:
            self.keeper.stop()

    def stop_order(self) -> list[ManagedProcess]:
        """Front first (no new work), then restored copies, then the replica before its primary."""
        primary = self.keeper.primary if self.keeper else None
        nodes = sorted(self.nodes, key=lambda n: n is primary)
        return ([self.pgpool] if self.pgpool else []) + [n.process for n in self.restored + nodes]

    def listening_ports(self) -> list[int]:
        return [n.port for n in self.nodes] + ([self.pgpool_port, self.pcp_port] if self.pool else [])

    def describe(self) -> dict[str, Any]:
        return {
            "postgres": [{"name": n.name, "address": n.address, "pid": n.process.pid} for n in self.nodes],
            "pgpool": {
                "address": f"{self.pgpool_host}:{self.pgpool_port}",
                "pid": self.pgpool.pid if self.pgpool else None,
            },
            "backups": self.backups.repo if self.backups else None,
        }

    def pool_nodes(self) -> list[dict[str, str]]:
        """Pgpool's `SHOW POOL_NODES`, one dict per backend."""
        assert self.pool is not None
        return self.pool.pool_nodes()

    # -- chaos ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def hold(self, node: PgNode) -> Iterator[None]:
        """Keep the keeper's hands off `node` inside the block: a node killed there stays down
        (a lost host) until the block ends, when the keeper brings it back (as a replica of
        whichever node is the primary by then)."""
        if self.keeper is None:
            yield
            return
        with self.keeper.hold(node):
            yield

    def restart(self, node: PgNode, *, kill: bool = False) -> None:
        """Stop a PostgreSQL node (fast shutdown, or kill -9) and start it again on its port, in the
        role it had (a crash and a restart too quick for a failover). Waits until Pgpool sees every
        backend up again."""
        with self.hold(node):
            recovery = not self.state(node).primary
            if kill:
                node.process.kill()
            else:
                node.process.stop(timeout=self.config.stop_timeout)
            node.process.start()
            self._wait_role(node, recovery=recovery)
        self.wait_pool_up()

    def wait_pool_up(self) -> None:
        """Until Pgpool sees one primary and the other backends up (a node it detached comes back
        through auto_failback once it streams)."""
        if self.pool is not None and self.pgpool is not None and self.pgpool.alive:
            self.pool.wait_up()

    def restart_pgpool(self, *, kill: bool = False) -> None:
        """Stop Pgpool (fast shutdown, or kill -9) and start it again on its port."""
        assert self.pool is not None
        self.pool.restart(kill=kill)

    # -- the keeper's actions ------------------------------------------------------------

    def _start_node(self, node: PgNode, primary: PgNode | None) -> None:
        """Start a dead node; rewound onto `primary` first when that is another node and this one
        is not its standby already (an old primary must never come back as a second one)."""
        if primary is not None and primary is not node and not self._is_standby(node):
            self._rewind(node, primary)
        node.process.start()

    def _rejoin(self, node: PgNode, primary: PgNode) -> None:
        """A running old primary: stopped, rewound onto `primary`, started as its replica."""
        node.process.stop(timeout=self.config.stop_timeout)
        self._rewind(node, primary)
        node.process.start()

    @staticmethod
    def _is_standby(node: PgNode) -> bool:
        return os.path.exists(os.path.join(node.data_dir, "standby.signal"))

    def _source(self, primary: PgNode, name: str) -> str:
        """A connection string to `primary` as the replication role; application_name `name` (the
        name the synchronous_standby_names list and Pgpool's auto_failback know it by)."""
        passfile = os.path.join(self._scratch, "replication.pgpass")
        return (
            f"host={primary.host} port={primary.port} user={REPLICATION_USER} passfile={passfile} dbname=postgres "
            # A primary out of reach (a partition drops the handshake) fails the attempt instead of
            # holding the keeper until TCP gives up; the keeper tries again.
            f"application_name={name} connect_timeout=10"
        )

    def _rewind(self, node: PgNode, primary: PgNode) -> None:
        """pg_rewind `node` (stopped) onto `primary` and make it its standby; a fresh base backup
        when rewinding fails (WAL it needs gone, a damaged directory)."""
        argv = [
            os.path.join(self.bin_dir, "pg_rewind"),
            f"--target-pgdata={node.data_dir}",
            f"--source-server={self._source(primary, node.name)}",
            "--write-recovery-conf",
            "--no-sync",
        ]
        if self.backups is not None:
            argv.append("--restore-target-wal")  # WAL the target lacks, from the archive
        try:
            # On the node's host: it reads the new primary over the network.
            self._run("pg_rewind", argv, os.path.join(node.node_dir, "rewind.log"), place=node.place)
        except ProcessFailed:
            # Gone already when a clone failed before (the primary out of reach): clone again.
            shutil.rmtree(node.data_dir, ignore_errors=True)
            self._clone(node, primary)
        # pg_rewind copied the primary's configuration files over this node's: its own again.
        self._write_conf(node)

    def _wait_role(self, node: PgNode, *, recovery: bool) -> None:
        def ready() -> bool:
            state = self.state(node)
            return state.answers and state.primary is not recovery

        node.process.wait_ready(
            ready,
            timeout=self.config.start_timeout,
            what="replica" if recovery else "primary",
        )

    # -- backups -------------------------------------------------------------------------

    def backup(self, kind: str = "full") -> dict[str, Any]:
        """A pgBackRest base backup of the primary (full, diff, incr): the backup's info."""
        assert self.backups is not None, "the tier runs without backups (DataTierConfig.pg_backups)"
        return self.backups.backup(os.path.join(self.primary.node_dir, "pgbackrest.conf"), kind)

    def archive_now(self) -> str:
        """Close the primary's current WAL segment and wait until it is in the repository: every
        commit so far can then be restored. Returns the segment's name."""
        primary = self.primary
        with connect(self.direct_dsn(primary, admin=True)) as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_walfile_name(pg_switch_wal())")
            row = cur.fetchone()
            assert row is not None
            segment = str(row[0])

            def archived() -> bool:
                cur.execute("SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver")
                done = cur.fetchone()
                return done is not None and done[0] is not None and str(done[0]) >= segment

            wait_until(archived, timeout=self.config.start_timeout, interval=0.1, message=f"{segment} archived")
        return segment

    def restore(self, target_time: str, *, name: str = "restored") -> PgNode:
        """A new PostgreSQL node on a fresh data directory, restored from the backups and archived
        WAL to `target_time` (a timestamp with a time zone) and promoted: started, answering on its
        own port, not part of the tier (no Pgpool, no archiving, no replica). Stopped with the tier."""
        assert self.backups is not None, "the tier runs without backups (DataTierConfig.pg_backups)"
        node_dir = self._dir(f"{name}-{len(self.restored)}")
        data = os.path.join(node_dir, "data")
        primary = self.primary
        self.backups.restore(os.path.join(primary.node_dir, "pgbackrest.conf"), data, target_time=target_time)
        place = primary.place  # a restored copy runs on the primary's host
        node = PgNode(name, self.ports.allocate(place.address), data, self._process(name, node_dir, data, place), place)
        self._write_conf(node, archive=False, synchronous=False)
        self.restored.append(node)
        node.process.start()
        self._wait_role(node, recovery=False)  # replayed up to the target, then promoted
        return node

    # -- start ---------------------------------------------------------------------------

    def start(self, scratch: str, watchdog: Watchdog, secrets: Secrets) -> None:
        """initdb and start the primary, a base backup of it streaming as the (synchronous)
        replica, Pgpool in front, then the keeper."""
        self._scratch = scratch
        self._watchdog = watchdog
        self._secrets = secrets
        self._start_postgres()
        self.pool = Pgpool(
            self.config,
            self.ports,
            secrets,
            watchdog,
            os.path.join(scratch, "pgpool"),
            admin_dsn=lambda host, port: self._dsn(host, port, admin=True),
        )
        self.pool.start(self.nodes, os.path.join(self.bin_dir, "psql"), CHECK_USER)
        self.keeper = PgKeeper(
            self.nodes,
            state=self.state,
            start=self._start_node,
            rejoin=self._rejoin,
            interval=self.config.pg_keeper_interval,
        ).start()

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

    def _run(self, name: str, argv: Sequence[str], log_path: str, *, place: Place | None = None) -> None:
        """Run a PostgreSQL tool to completion (as the PostgreSQL user), failing with its output;
        on `place`'s host for a tool that connects to a server (files-only tools run here)."""
        command, user = (place or Place()).command(argv, user=self._user)
        proc = ManagedProcess(
            name,
            command,
            log_path=log_path,
            user=user[0] if user else None,
            group=user[1] if user else None,
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

    def _write_conf(self, node: PgNode, *, archive: bool = True, synchronous: bool = True) -> None:
        """The node's own settings (highnoon.conf, pg_hba.conf in its data directory)."""
        archiving = archive and self.backups is not None
        backrest = os.path.join(node.node_dir, "pgbackrest.conf")
        if archiving:
            assert self.backups is not None
            self.backups.write_config(node.node_dir, node.data_dir, node.port, node.node_dir)
        files = {
            "highnoon.conf": render(
                "postgresql.conf.tmpl",
                listen_addresses=node.host,
                port=node.port,
                socket_dir=node.node_dir,
                max_connections=self.config.pg_max_connections,
                shared_buffers="32MB",
                wal_keep_size="256MB",
                fsync="on" if self.config.fsync else "off",
                # On whenever a replica is synchronous: off would not wait for it.
                synchronous_commit="on" if self.config.fsync or self.config.pg_synchronous != "off" else "off",
                synchronous_standby_names=(
                    sync_standby_names(["pg0", "pg1"], self.config.pg_synchronous) if synchronous else ""
                ),
                archive_mode="on" if archiving else "off",
                archive_command=PgBackRest.archive_command(backrest) if archiving else "",
                archive_timeout="60s",
                restore_command=PgBackRest.restore_command(backrest) if archiving else "",
            ),
            "pg_hba.conf": render(
                "pg_hba.conf.tmpl", client_cidr=self.config.hba_cidr(), replication_user=REPLICATION_USER
            ),
        }
        for name, text in files.items():
            path = os.path.join(node.data_dir, name)
            with open(path, "w") as fh:
                fh.write(text)
            if self._user:
                os.chown(path, *self._user)

    def _process(self, name: str, node_dir: str, data_dir: str, place: Place) -> ManagedProcess:
        argv, user = place.command(
            [os.path.join(self.bin_dir, "postgres"), "-D", data_dir], user=self._user, deathsig="QUIT"
        )
        return ManagedProcess(
            name,
            argv,
            log_path=os.path.join(node_dir, "postgres.log"),
            user=user[0] if user else None,
            group=user[1] if user else None,
            stop_signal=signal.SIGINT,  # "fast" shutdown: roll back sessions, exit
            deathsig=signal.SIGQUIT,  # "immediate" shutdown if the launcher dies
            watchdog=self._watchdog,
        )

    def _clone(self, node: PgNode, source: PgNode) -> None:
        """`node`'s data directory: a base backup of `source`, streaming from it as its standby
        (-R writes primary_conninfo, naming the password file, and standby.signal)."""
        self._run(
            "pg_basebackup",
            [
                os.path.join(self.bin_dir, "pg_basebackup"),
                "-d",
                self._source(source, node.name),
                "-D",
                node.data_dir,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
            os.path.join(node.node_dir, "basebackup.log"),
            place=node.place,  # it streams from the source over the network
        )

    def _start_postgres(self) -> None:
        cfg = self.config
        assert self._secrets is not None
        secrets = self._secrets
        self.bin_dir = cfg.pg_bin_dir or find_pg_bin_dir()
        self._user = self._identity()

        # The password files the PostgreSQL user's tools read: the replication role's (replicas'
        # primary_conninfo, pg_rewind, pg_basebackup) and the superuser's (pgBackRest's backups).
        write_private(
            os.path.join(self._scratch, "replication.pgpass"),
            f"*:*:*:{REPLICATION_USER}:{secrets[Secrets.PG_REPLICATION]}\n",
            owner=self._user,
        )
        superuser_pass = write_private(
            os.path.join(self._scratch, "superuser.pgpass"),
            f"*:*:*:{SUPERUSER}:{secrets[Secrets.PG_SUPERUSER]}\n",
            owner=self._user,
        )
        if cfg.pg_backups:
            self.backups = PgBackRest(
                repo=cfg.pg_backup_repo or os.path.join(self._scratch, "backups"),
                work=self._dir("pgbackrest"),
                passfile=superuser_pass,
                user=self._user,
                timeout=cfg.start_timeout,
            )
            self.backups.prepare()

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
        place0 = cfg.place("postgres-0")
        primary = PgNode(
            "pg0", self.ports.allocate(place0.address), data0, self._process("pg0", dir0, data0, place0), place0
        )
        # No replica yet: the primary waits for none while the tier is being made.
        self._write_conf(primary, synchronous=False)
        self.nodes.append(primary)
        primary.process.start()
        self._wait_role(primary, recovery=False)
        with connect(self.direct_dsn(primary, admin=True)) as conn, conn.cursor() as cur:
            for role, options, secret in (
                (cfg.user, "LOGIN", Secrets.PG_APP),
                (REPLICATION_USER, "LOGIN REPLICATION", Secrets.PG_REPLICATION),
                (CHECK_USER, "LOGIN IN ROLE pg_monitor", Secrets.PG_CHECK),
            ):
                cur.execute(
                    f'CREATE ROLE "{role}" {options} PASSWORD %s', (_scram_verifier(conn, role, secrets[secret]),)
                )
            for grant in GRANTS:
                cur.execute(grant)
            cur.execute(f'CREATE DATABASE "{cfg.database}" OWNER "{cfg.user}"')
        if self.backups is not None:
            self.backups.stanza_create(os.path.join(dir0, "pgbackrest.conf"))

        # Replica: a base backup of the primary, streaming from it as `replicator`
        # (application_name pg1: the synchronous_standby_names list and Pgpool know it by it).
        dir1 = self._dir("pg1")
        data1 = os.path.join(dir1, "data")
        place1 = cfg.place("postgres-1")
        replica = PgNode(
            "pg1", self.ports.allocate(place1.address), data1, self._process("pg1", dir1, data1, place1), place1
        )
        self._clone(replica, primary)
        self._write_conf(replica)
        self.nodes.append(replica)
        replica.process.start()
        self._wait_role(replica, recovery=True)

        def streaming() -> bool:
            with connect(self.direct_dsn(primary, admin=True)) as conn, conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
                row = cur.fetchone()
                return row is not None and row[0] >= 1

        replica.process.wait_ready(streaming, timeout=cfg.start_timeout, what="replica streaming")
        # From now on the primary acknowledges a commit once the replica has it.
        self._write_conf(primary)
        with connect(self.direct_dsn(primary, admin=True)) as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_reload_conf()")


def _scram_verifier(conn: Any, role: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier of a password, made on this side: the statement that sets it
    carries no plaintext (to the server's logs, pg_stat_activity)."""
    from psycopg2.extensions import encrypt_password

    return str(encrypt_password(password, role, conn, "scram-sha-256"))
