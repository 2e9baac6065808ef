"""Production's log path, with the Debian programs production runs, on a machine without systemd as PID 1.

In production (infra/terraform) a unit's stdout goes to journald; `systemd-journal-upload` sends the
host's journal to the log host's `systemd-journal-remote`, which keeps it under
/var/log/journal/remote, and `systemd-journal-gatewayd` serves that over HTTP to `hn logs --from
http://LOGHOST:19531` (package systemd-journal-remote, all of it).

journald is the one piece that needs systemd as PID 1. `write_host_journal` stands in for it: it
writes a process's lines into a journal file as journald would, each line a MESSAGE with the
_HOSTNAME and SYSLOG_IDENTIFIER journald sets (systemd-journal-remote reading the journal export
format). From there on every program is production's: `ship` runs systemd-journal-upload on that
journal directory, `log_host` runs systemd-journal-remote and, socket-activated on a free port as
its systemd socket unit would, systemd-journal-gatewayd.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from hn_process import free_port, port_accepts, time_factor, wait_until

__all__ = ["LogHost", "log_host", "ship", "write_host_journal"]

_SYSTEMD_DIRS = ("/lib/systemd", "/usr/lib/systemd")


def systemd_program(name: str) -> str:
    """A program of Debian's systemd-journal-remote package (in /lib/systemd, not on PATH)."""
    for directory in _SYSTEMD_DIRS:
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    raise AssertionError(
        f"{name} is not installed: scripts/install-system-packages.sh installs it (Debian package systemd-journal-remote)"
    )


def _run(argv: list[str], *, stdin: bytes | None = None) -> None:
    done = subprocess.run(argv, input=stdin, capture_output=True, timeout=60 * time_factor(), check=False)
    assert done.returncode == 0, f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout!r}\n{done.stderr!r}"


def _export_entry(line: str, host: str, identifier: str) -> bytes:
    """One entry of the journal export format: FIELD=value lines, then an empty line."""
    import json

    stamp = json.loads(line).get("timestamp", "")
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    fields = {
        "__REALTIME_TIMESTAMP": str(int(moment.timestamp() * 1_000_000)),
        "_HOSTNAME": host,
        "SYSLOG_IDENTIFIER": identifier,
        "MESSAGE": line,  # one JSON line: no newline inside
    }
    return "".join(f"{k}={v}\n" for k, v in fields.items()).encode() + b"\n"


def write_host_journal(directory: str, host: str, logs: Iterable[tuple[str, str]]) -> None:
    """journald's part: each process's JSON lines (`(identifier, log file)`) into
    `directory/system.journal`, as host `host`'s journal."""
    entries = []
    for identifier, path in logs:
        with open(path) as fh:
            entries += [_export_entry(line.rstrip("\n"), host, identifier) for line in fh if line.startswith("{")]
    os.makedirs(directory, exist_ok=True)
    _run(
        [systemd_program("systemd-journal-remote"), f"--output={directory}/system.journal", "-"],
        stdin=b"".join(entries),
    )


@dataclass
class LogHost:
    #: where the hosts upload (systemd-journal-upload's --url)
    upload_url: str
    #: where `hn logs --from` reads (systemd-journal-gatewayd)
    url: str
    #: the journal files systemd-journal-remote writes (production: /var/log/journal/remote)
    directory: str


@contextlib.contextmanager
def log_host() -> Iterator[LogHost]:
    """systemd-journal-remote receiving uploads over HTTP, and systemd-journal-gatewayd serving
    what it received (socket-activated by systemd-socket-activate, as by its .socket unit)."""
    directory = tempfile.mkdtemp(prefix="hn-loghost-")
    received = os.path.join(directory, "remote")
    os.makedirs(received)
    upload_port, gateway_port = free_port(), free_port()
    processes = []
    try:
        with open(os.path.join(directory, "remote.log"), "wb") as log:
            processes.append(
                subprocess.Popen(
                    [
                        systemd_program("systemd-journal-remote"),
                        f"--listen-http=127.0.0.1:{upload_port}",
                        f"--output={received}/",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        with open(os.path.join(directory, "gatewayd.log"), "wb") as log:
            processes.append(
                subprocess.Popen(
                    [
                        shutil.which("systemd-socket-activate") or "systemd-socket-activate",
                        f"--listen=127.0.0.1:{gateway_port}",
                        systemd_program("systemd-journal-gatewayd"),
                        f"--directory={received}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        for port in (upload_port, gateway_port):
            wait_until(lambda p=port: port_accepts(p), timeout=30 * time_factor(), message=f"log host port {port}")
        yield LogHost(f"http://127.0.0.1:{upload_port}", f"http://127.0.0.1:{gateway_port}", received)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10 * time_factor())
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def ship(journal_dir: str, host: LogHost, state_file: str) -> None:
    """systemd-journal-upload: the host's journal to the log host, from where it last stopped
    (`--save-state`, as its unit runs it), until it has sent everything there is."""
    _run(
        [
            systemd_program("systemd-journal-upload"),
            f"--url={host.upload_url}",
            f"--directory={journal_dir}",
            f"--save-state={state_file}",
            "--follow=no",
        ]
    )
