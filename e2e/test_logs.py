"""One login followed across processes by its trace id: `hn logs --trace` on a run directory, on
stdin, and on the log host the hosts ship their journals to (the Debian programs production runs,
see _journal.py).

Real processes: yellow, sso and a broker, each logging JSON to its own file, on the real data
tier. A game client logs in through the broker; the broker and sso log the request under the same
trace id, and `hn logs` puts the two in time order wherever it reads them from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hn_client.testing import RawClient, fresh_name
from hn_datatier.local import DataTier
from hn_idl.client.ttypes import PacketKind
from hn_process import child_env, time_factor
from hn_runtime.testing import spawn_service, wait_for

from _journal import log_host, ship, write_host_journal

pytestmark = pytest.mark.integration


def hn_logs(*args: str, stdin: str | None = None) -> list[dict[str, Any]]:
    """`hn logs ARGS --json`, as a process: its lines, parsed."""
    done = subprocess.run(
        [sys.executable, "-m", "hn_cli", "logs", *args, "--json"],
        input=stdin,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60 * time_factor(),
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def hops(lines: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(timestamp, event, service) of each line: what every source must agree on."""
    return [(line["timestamp"], line["event"], line.get("service", "")) for line in lines]


def test_a_login_is_followed_across_processes_from_the_run_dir_stdin_and_the_log_host(
    data_tier: DataTier, tmp_path: Path
) -> None:
    env = {**data_tier.env, "HN_SSO_HASH_PROFILE": "test", "HN_TRACE_SAMPLE": "1"}
    with spawn_service("hn_yellow", service="yellow") as yellow:
        env["HN_YELLOW"] = yellow.endpoints["rep"]
        with (
            spawn_service("hn_sso", service="sso", env=env) as sso,
            spawn_service("hn_broker", service="broker", env=env) as broker,
        ):

            def login_trace() -> str | None:
                """The trace id the broker gave a successful guest login."""
                client = RawClient(broker.endpoints["client"])
                try:
                    client.send(client.request("sso.guest_login", device_id=f"device-{fresh_name()}"))
                    answer = client.read_answer()
                finally:
                    client.close()
                return None if answer.kind == PacketKind.ERROR else answer.trace_id

            # The broker learns sso's routes from yellow: the first logins may find none yet.
            trace = wait_for(login_trace, timeout=30, message="a login through the broker")

            def traced(process: Any) -> list[dict[str, Any]]:
                return [e for e in process.logs() if e.get("trace_id") == trace]

            wait_for(lambda: traced(broker) and traced(sso), message="broker and sso logged the login")

            # -- a run directory: one <process>.log each, as `hn up` writes them ----------------
            run_dir = tmp_path / "run"
            run_dir.mkdir()
            for name, process in (("yellow-1", yellow), ("sso-1", sso), ("broker-1", broker)):
                os.symlink(process.log_path, run_dir / f"{name}.log")
            from_run = hn_logs("--trace", trace, "--from", str(run_dir))
            assert {line["process"] for line in from_run} == {"broker-1", "sso-1"}
            assert all(line["trace_id"] == trace for line in from_run)
            stamps = [line["timestamp"] for line in from_run]
            assert stamps == sorted(stamps), "merged in time order"
            # The broker logs a forwarded packet when sso's reply is back: after sso's lines.
            assert from_run[-1]["process"] == "broker-1", hops(from_run)
            assert any(line["process"] == "sso-1" for line in from_run[:-1]), hops(from_run)
            assert len(from_run) == len(traced(broker)) + len(traced(sso))

            # -- stdin: the same lines in any order (here sso's file before the broker's) ------
            text = "".join(Path(p.log_path).read_text() for p in (sso, broker, yellow))
            from_stdin = hn_logs("--trace", trace, "--from", "-", stdin=text)
            assert hops(from_stdin) == hops(from_run)

            # -- the log host: each host's journal shipped by systemd-journal-upload -----------
            with log_host() as host:
                hosts = {
                    "edge-1": [("hn-broker", broker.log_path)],
                    "svc-1": [("hn-sso", sso.log_path), ("hn-yellow", yellow.log_path)],
                }
                for name, logs in hosts.items():
                    journal = tmp_path / name / "journal"
                    write_host_journal(str(journal), name, logs)
                    ship(str(journal), host, str(tmp_path / name / "upload.state"))
                from_host = hn_logs("--trace", trace, "--from", host.url)
                assert hops(from_host) == hops(from_run)
                assert {line["process"] for line in from_host} == {"edge-1/hn-broker", "svc-1/hn-sso"}
                # What an operator on the log host pipes in: journalctl's JSON, the same lines.
                exported = subprocess.run(
                    ["journalctl", f"--directory={host.directory}", "-o", "json"],
                    capture_output=True,
                    text=True,
                    timeout=60 * time_factor(),
                    check=True,
                ).stdout
                assert hops(hn_logs("--trace", trace, "--from", "-", stdin=exported)) == hops(from_run)
