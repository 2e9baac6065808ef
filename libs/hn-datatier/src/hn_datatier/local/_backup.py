"""pgBackRest for the local tier: continuous WAL archiving, base backups and point-in-time restores.

Each PostgreSQL node has its own pgBackRest configuration (`<node>/pgbackrest.conf`, rendered from
`templates/pgbackrest.conf.tmpl`, as on a production host: `pg1-path` is that node's data
directory), and all of them share one repository directory, the local stand-in for production's S3
bucket. Whichever node is the primary archives its WAL there (`archive_command`) and is the one a
backup reads; a restore writes a fresh data directory from the newest backup before the target
and the archived WAL up to it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hn_datatier.local._templates import render
from hn_process import ProcessFailed

__all__ = ["STANZA", "PgBackRest"]

#: pgBackRest's name for the tier's one PostgreSQL cluster (the same name in production).
STANZA = "highnoon"


@dataclass
class PgBackRest:
    """The local tier's pgBackRest: `repo` is the repository directory, `passfile` the superuser's
    password file (backups connect to the primary), `user` the (uid, gid) PostgreSQL runs as."""

    repo: str
    work: str  # log, lock and spool directories
    passfile: str
    user: tuple[int, int] | None
    timeout: float

    def prepare(self) -> None:
        for path in (self.repo, *self._dirs()):
            os.makedirs(path, mode=0o700, exist_ok=True)
            if self.user:
                os.chown(path, *self.user)

    def _dirs(self) -> tuple[str, str, str]:
        return tuple(os.path.join(self.work, name) for name in ("log", "lock", "spool"))  # type: ignore[return-value]

    def write_config(self, node_dir: str, data_dir: str, port: int, socket_dir: str) -> str:
        """The node's pgbackrest.conf; returns its path."""
        log, lock, spool = self._dirs()
        text = render(
            "pgbackrest.conf.tmpl",
            stanza=STANZA,
            repository=f"repo1-type = posix\nrepo1-path = {self.repo}",
            retention_full=2,
            archive_async="n",  # locally: archive_command returns once the segment is in the repository
            spool_path=spool,
            process_max=1,
            log_path=log,
            lock_path=lock,
            log_level_file="info",
            pg_path=data_dir,
            pg_port=port,
            pg_socket=socket_dir,
            pg_user="postgres",
        )
        path = os.path.join(node_dir, "pgbackrest.conf")
        with open(path, "w") as fh:
            fh.write(text)
        if self.user:
            os.chown(path, *self.user)
        return path

    @staticmethod
    def archive_command(config: str) -> str:
        return f"pgbackrest --config={config} --stanza={STANZA} archive-push %p"

    @staticmethod
    def restore_command(config: str) -> str:
        return f'pgbackrest --config={config} --stanza={STANZA} archive-get %f "%p"'

    def run(self, config: str, *args: str) -> str:
        """Run one pgBackRest command as the PostgreSQL user; its output, or ProcessFailed."""
        argv = ["pgbackrest", f"--config={config}", f"--stanza={STANZA}", *args]
        options: dict[str, Any] = {}
        if self.user and self.user[0] != os.geteuid():
            options.update(user=self.user[0], group=self.user[1], extra_groups=[])
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PGPASSFILE": self.passfile, "HOME": self.work}
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=self.timeout, env=env, cwd=self.work, **options
            )
        except subprocess.TimeoutExpired:
            raise ProcessFailed(f"{' '.join(argv[3:])} timed out after {self.timeout:.0f}s") from None
        if done.returncode != 0:
            raise ProcessFailed(f"pgbackrest {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return str(done.stdout)

    def stanza_create(self, config: str) -> None:
        """Make the repository's stanza (once, from the primary): archiving works from then on."""
        self.run(config, "stanza-create")

    def backup(self, config: str, kind: str = "full") -> dict[str, Any]:
        """A base backup of the primary `config` names (full, diff or incr); the backup's info."""
        self.run(config, f"--type={kind}", "backup")
        return self.info(config)["backup"][-1]  # type: ignore[no-any-return]

    def info(self, config: str) -> dict[str, Any]:
        """`pgbackrest info` of the stanza: its backups (oldest first) and archived WAL range."""
        stanzas = json.loads(self.run(config, "--output=json", "info"))
        return next(s for s in stanzas if s["name"] == STANZA)  # type: ignore[no-any-return]

    def restore(self, config: str, data_dir: str, *, target_time: str, extra: Sequence[str] = ()) -> None:
        """Write `data_dir` (empty or missing) from the newest backup before `target_time` (a
        PostgreSQL timestamp with a time zone); PostgreSQL started on it replays archived WAL up
        to that time, then promotes."""
        os.makedirs(data_dir, mode=0o700, exist_ok=True)
        if self.user:
            os.chown(data_dir, *self.user)
        self.run(
            config,
            f"--pg1-path={data_dir}",
            "--type=time",
            f"--target={target_time}",
            "--target-action=promote",
            *extra,
            "restore",
        )
