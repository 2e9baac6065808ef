"""Smoke test of every PEX the repository ships, each started the way a host starts it: the PEX
file and CPython 3.11, nothing else from the repository.

    python3.11 scripts/smoke_pex.py [names...]   # after `./pants package` (scripts/smoke-pex.sh does both)

One data tier (from its own PEX) serves them all. yellow starts first; sso, match, broker,
brokerlist, the autoscaler and the Sentinel agent then start side by side on free loopback ports.
Each must answer (a service its `health` over ZeroMQ, called with its own PEX's interpreter;
brokerlist its HTTP list with the broker in it; the autoscaler its /status; the agent its metrics,
subscribed to every Sentinel; `hn` its --help, `hn status` and `hn call`), then exit 0 on SIGTERM.
Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DIST = REPO / "dist"
#: name -> (Pants target, PEX file under dist/). `./pants package` of all of them is one call.
PEXES = {
    "datatier": ("libs/hn-datatier:datatier", "libs.hn-datatier/datatier.pex"),
    "yellow": ("services/yellow:yellow", "services.yellow/yellow.pex"),
    "sso": ("services/sso:sso", "services.sso/sso.pex"),
    "match": ("services/match:match", "services.match/match.pex"),
    "broker": ("services/broker:broker", "services.broker/broker.pex"),
    "brokerlist": ("services/brokerlist:brokerlist", "services.brokerlist/brokerlist.pex"),
    "autoscaler": ("libs/hn-autoscale:autoscaler", "libs.hn-autoscale/autoscaler.pex"),
    "agent": ("libs/hn-datatier:agent", "libs.hn-datatier/agent.pex"),
    "hn": ("tools/hn:hn", "tools.hn/hn.pex"),
}
SERVICES = ("sso", "match", "broker", "brokerlist")
#: Seconds for anything to come up or go away (a PEX unpacks itself on its first start); scaled by
#: HN_TEST_TIME_FACTOR like the tests.
WAIT = 120.0 * float(os.environ.get("HN_TEST_TIME_FACTOR", "1") or 1)


class SmokeFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], Any], what: str, *, alive: Callable[[], None] = lambda: None) -> Any:
    """Poll `condition` until truthy; `alive()` raises if the process waited on died."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        alive()
        with contextlib.suppress(OSError, ValueError):
            result = condition()
            if result:
                return result
        time.sleep(0.2)
    raise SmokeFailed(f"{what}: not within {WAIT:.0f}s")


def first_json_line(path: Path) -> Any:
    """The first line of a file as JSON, once it is whole (None before)."""
    text = path.read_text() if path.exists() else ""
    return json.loads(text.partition("\n")[0]) if "\n" in text else None


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()  # type: ignore[no-any-return]


@dataclass
class Pex:
    """One PEX running as a process, its output in the scratch directory."""

    name: str
    work: Path
    args: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def path(self) -> Path:
        return DIST / PEXES[self.name][1]

    @property
    def log(self) -> Path:
        return self.work / f"{self.name}.log"

    @property
    def ready_file(self) -> Path:
        return self.work / f"{self.name}.ready.json"

    def start(self, stdout: Path | None = None) -> Pex:
        """Services and the agent write their endpoints to HN_READY_FILE once they serve (the
        tier's launcher would hand it down to the tier's own agent: not to it)."""
        ready = {} if self.name == "datatier" else {"HN_READY_FILE": str(self.ready_file)}
        with open(self.log, "wb") as log, open(stdout or self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(self.path), *self.args],
                env={**os.environ, **ready, **self.env},
                stdout=out,
                stderr=log,
                start_new_session=True,  # a Ctrl-C of the smoke test reaches it through cleanup only
            )
        return self

    def alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise SmokeFailed(f"{self.name}.pex exited early with {self.process.returncode}")

    def ready(self) -> dict[str, Any]:
        """The endpoints its ready file holds, once it wrote it."""
        ready: dict[str, Any] = wait_until(
            lambda: json.loads(self.ready_file.read_text()) if self.ready_file.exists() else None,
            f"{self.name}.pex ready",
            alive=self.alive,
        )
        return ready

    def run(self, *args: str, **env: str) -> str:
        """The PEX run once to completion (its interpreter with PEX_INTERPRETER=1, or its CLI)."""
        proc = subprocess.run(
            [sys.executable, str(self.path), *args],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        if proc.returncode != 0:
            raise SmokeFailed(f"{self.name}.pex {' '.join(args)[:80]}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
        return proc.stdout

    def terminate(self) -> float:
        """SIGTERM; it must exit 0. Returns the seconds it took."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(WAIT)
        except subprocess.TimeoutExpired:
            raise SmokeFailed(f"{self.name}.pex still running {WAIT:.0f}s after SIGTERM") from None
        if status != 0:
            raise SmokeFailed(f"{self.name}.pex exited {status} after SIGTERM")
        return time.monotonic() - started

    def kill(self) -> None:
        """After a failure: SIGTERM (the tier's launcher stops what it started), then SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


HEALTH = """
import json, sys
from hn_runtime import get_service
name, ready = sys.argv[1], json.load(open(sys.argv[2]))
health = get_service(name, endpoints=[ready["endpoints"]["rep"]], timeout=10).health()
assert (health.service_name, health.state, health.instance) == (name, "up", ready["instance"]), health
print(health.version)
"""


def check_health(pex: Pex) -> str:
    pex.ready()
    version = pex.run("-c", HEALTH, pex.name, str(pex.ready_file), PEX_INTERPRETER="1").strip()
    return f"health over ZeroMQ: up, version {version}"


def check_brokerlist(pex: Pex, broker: Pex) -> str:
    url = f"http://{pex.ready()['endpoints']['http']}/"
    client = broker.ready()["endpoints"]["client"]
    wait_until(
        lambda: client in json.loads(http_get(url))["brokerList"], f"brokerlist listing {client}", alive=pex.alive
    )
    return f"{check_health(pex)}; GET / lists the broker {client}"


def check_autoscaler(pex: Pex, port: int) -> str:
    pex.ready()
    url = f"http://127.0.0.1:{port}/status"

    def active() -> dict[str, Any] | None:
        """Its status once it holds its lease (in Redis, through Twemproxy, with the tier's password)."""
        status: dict[str, Any] = json.loads(http_get(url))
        return status if status["active"] else None

    status = wait_until(active, "the autoscaler active", alive=pex.alive)
    if "sso" not in status["services"]:
        raise SmokeFailed(f"autoscaler /status has no sso: {status}")
    return "GET /status: active (holds its Redis lease), sso rule loaded"


def check_agent(pex: Pex, sentinels: int) -> str:
    ready = pex.ready()
    url = f"http://{ready['metrics']}/metrics"

    def connected() -> bool:
        for line in http_get(url).decode().splitlines():
            if line.startswith("hn_twemproxy_agent_sentinels_connected "):
                return float(line.split()[1]) == sentinels
        return False

    wait_until(connected, f"the agent subscribed to {sentinels} Sentinels", alive=pex.alive)
    return f"following {sentinels} Sentinels for {', '.join(sorted(ready['masters']))} (metrics)"


def check_hn(pex: Pex, yellow: str, expected: set[str]) -> str:
    pex.run("--help")

    def listed() -> bool:
        up = {i["service_name"] for i in json.loads(pex.run("--yellow", yellow, "status", "--json"))["instances"]}
        return expected <= up

    wait_until(listed, f"hn status listing {', '.join(sorted(expected))}")
    answer = json.loads(pex.run("--yellow", yellow, "call", "sso", "health", "--json"))
    if answer["result"]["service_name"] != "sso":
        raise SmokeFailed(f"hn call sso health answered {answer}")
    return f"--help; status lists {len(expected)} services up; call sso health answered"


def say(name: str, text: str) -> None:
    print(f"smoke: {name}.pex: {text}", flush=True)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    work = Path(tempfile.mkdtemp(prefix="hn-smoke-"))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def autoscaler_pex(work: Path, tier_env: dict[str, str], yellow: str, port: int) -> Pex:
    """The autoscaler with one rule, its lease in the tier's Redis, on AWS that is not there: its
    API calls fail fast against a closed port (no credentials looked for, no retries), and it goes
    on serving."""
    config = {
        "interval_s": 1,
        "services": {"sso": {"rule": {"min_instances": 1, "max_instances": 2}}},
        "aws": {"region": "eu-west-1", "group_template": "hn-smoke-{service}"},
    }
    env = {
        **tier_env,
        "HN_YELLOW": yellow,
        "HN_INSTANCE": "autoscaler-smoke",
        "HN_HTTP_PORT": str(port),
        "HN_AUTOSCALE_CONFIG": json.dumps(config),
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_ACCESS_KEY_ID": "smoke",
        "AWS_SECRET_ACCESS_KEY": "smoke",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
    }
    return Pex("autoscaler", work, env=env)


def agent_pex(work: Path, tier: dict[str, Any], sentinels: Sequence[str]) -> Pex:
    """The agent on a copy of the tier's Twemproxy configuration, with no nutcracker to restart:
    it follows the tier's Sentinels (with their password, from the tier's secrets) beside the
    tier's own agent, touching nothing."""
    config = work / "nutcracker.yml"
    shutil.copy(tier["env"]["HN_TWEMPROXY_CONFIG"], config)
    secrets = Path(tier["secrets"])
    args = ["--sentinels", ",".join(sentinels), "--config", str(config), "--restart-command", "true"]
    args += [
        "--sentinel-password-file",
        str(secrets / "sentinel"),
        "--redis-password-file",
        str(secrets / "redis-default"),
    ]
    return Pex("agent", work, [*args, "--metrics-port", str(free_port())])


def smoke(names: Sequence[str], work: Path) -> None:
    os.environ["PEX_ROOT"] = str(work / "pex_root")  # a host's first start: every PEX unpacks
    running: list[Pex] = []
    try:
        tier = Pex("datatier", work, ["up", "--json"]).start(stdout=work / "tier.json")
        running.append(tier)
        described = wait_until(lambda: first_json_line(work / "tier.json"), "the data tier", alive=tier.alive)
        tier_env: dict[str, str] = dict(described["env"])
        say("datatier", f"data tier up ({described['scratch']})")

        yellow = Pex("yellow", work, env={"HN_REP_PORT": str(free_port()), "HN_HTTP_PORT": "0"}).start()
        running.append(yellow)
        address = f"tcp://127.0.0.1:{yellow.env['HN_REP_PORT']}"
        yellow.ready()

        common = {**tier_env, "HN_YELLOW": address, "HN_SSO_HASH_PROFILE": "test", "HN_DRAIN_SECONDS": "5"}
        started = {n: Pex(n, work, env={**common, "HN_INSTANCE": f"{n}-smoke"}) for n in SERVICES if n in names}
        autoscaler_port = free_port()
        if "autoscaler" in names:
            started["autoscaler"] = autoscaler_pex(work, tier_env, address, autoscaler_port)
        sentinels = [s for s in tier_env["HN_SENTINELS"].split(",") if s]
        if "agent" in names:
            started["agent"] = agent_pex(work, described, sentinels)
        running += [pex.start() for pex in started.values()]

        checks: dict[str, Callable[[], str]] = {"yellow": partial(check_health, yellow)}
        checks.update({n: partial(check_health, started[n]) for n in ("sso", "match", "broker") if n in started})
        if "brokerlist" in started:
            checks["brokerlist"] = partial(check_brokerlist, started["brokerlist"], started["broker"])
        if "autoscaler" in started:
            checks["autoscaler"] = partial(check_autoscaler, started["autoscaler"], autoscaler_port)
        if "agent" in started:
            checks["agent"] = partial(check_agent, started["agent"], len(sentinels))
        if "hn" in names:
            expected = {n for n in (*SERVICES, "autoscaler") if n in started}
            checks["hn"] = partial(check_hn, Pex("hn", work), address, expected)
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = {name: pool.submit(check) for name, check in checks.items()}
            for name, result in results.items():
                say(name, result.result())

        # SIGTERM: every process drains and exits 0; yellow last (the others deregister from it).
        with ThreadPoolExecutor(max_workers=len(started) or 1) as pool:
            stopped = {name: pool.submit(pex.terminate) for name, pex in started.items()}
            for name, took in stopped.items():
                say(name, f"exited 0 on SIGTERM after {took.result():.1f}s")
        say("yellow", f"exited 0 on SIGTERM after {yellow.terminate():.1f}s")
        say("datatier", f"exited 0 on SIGTERM after {tier.terminate():.1f}s")
    except SmokeFailed:
        for pex in running:
            if pex.log.exists():
                tail = pex.log.read_text(errors="replace").splitlines()[-15:]
                print(f"--- {pex.name}.pex, last lines of its log:\n" + "\n".join(tail), file=sys.stderr)
        raise
    finally:
        for pex in reversed(running):
            pex.kill()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smoke_pex.py", description=__doc__.split("\n")[0])
    parser.add_argument(
        "names", nargs="*", help=f"some of {', '.join(p for p in PEXES if p != 'datatier')} (default: all)"
    )
    parser.add_argument("--targets", action="store_true", help="print the Pants targets to package, and exit")
    args = parser.parse_args(argv)
    names = list(args.names or [p for p in PEXES if p != "datatier"])
    if "yellow" not in names:
        names.insert(0, "yellow")  # every other one finds the rest through it
    unknown = set(names) - set(PEXES)
    if unknown:
        parser.error(f"no such PEX: {', '.join(sorted(unknown))}")
    if "brokerlist" in names and "broker" not in names:
        names.append("broker")  # brokerlist is checked by listing a broker
    if "hn" in names and "sso" not in names:
        names.append("sso")  # hn is checked by calling sso
    if args.targets:
        print(" ".join(PEXES[n][0] for n in ["datatier", *names]))
        return 0
    started = time.monotonic()
    try:
        with scratch() as work:
            smoke(names, work)
    except SmokeFailed as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr)
        return 1
    print(
        f"smoke: {len(names)} PEXes and the data tier's started, answered and exited 0 in {time.monotonic() - started:.0f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
