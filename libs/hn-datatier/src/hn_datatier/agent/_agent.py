"""The Sentinel -> Twemproxy agent.

Twemproxy hashes keys over a fixed server list and does not follow Sentinel. This agent does:

- It subscribes to `+switch-master` on every Sentinel (Sentinel's own pub/sub, on its own port).
  On a switch for a shard it follows, it rewrites that shard's server line in nutcracker's YAML
  (address only: the name, which ketama hashes, and the order stay, so no key moves) and restarts
  nutcracker, which has no reload.
- It is idempotent: every Sentinel publishes the same switch; the first one changes the file, the
  others find the address already there and do nothing. A switch is only applied if its config
  epoch is not older than the newest the agent has seen for that shard.
- It reconciles: at start, after (re)connecting to a Sentinel, and every `reconcile_interval`
  seconds it asks every Sentinel for each shard's master and applies the answer with the highest
  config epoch, so a switch missed while disconnected is caught up.
- It authenticates: to the Sentinels with their password (`sentinel_password`), and, given
  `redis_password`, it writes Twemproxy's `redis_auth` into nutcracker's YAML before starting it.

nutcracker is either the agent's own child (`supervise`: restarted on a switch, respawned if it
dies) or a system service restarted by `restart_command` (e.g. `systemctl restart nutcracker`).
Runs on gevent: `python -m hn_datatier.agent` patches the standard library first.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import tempfile
import time
from collections import Counter as Tally
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import gevent
import gevent.event
import gevent.lock
import redis
from prometheus_client import REGISTRY, Counter, Gauge, make_wsgi_app

from hn_datatier import redis_client
from hn_datatier.agent._config import AgentConfig
from hn_datatier.agent._twemproxy import listen_addresses, parse_servers, replace_addresses, set_redis_auth
from hn_process import ManagedProcess, port_accepts, wait_until

__all__ = ["Agent", "Nutcracker", "SupervisedNutcracker", "CommandNutcracker", "serve"]

SWITCHES = Counter(
    "hn_twemproxy_agent_switches_total",
    "Shard masters repointed in Twemproxy's configuration (one per shard whose address changed).",
    ["master"],
)
EVENTS = Counter(
    "hn_twemproxy_agent_events_total",
    "+switch-master messages received, by outcome (applied, duplicate, stale, ignored).",
    ["outcome"],
)
RESTARTS = Counter("hn_twemproxy_agent_restarts_total", "nutcracker (re)starts, by reason.", ["reason"])
SENTINELS_CONNECTED = Gauge("hn_twemproxy_agent_sentinels_connected", "Sentinels the agent is subscribed to.")

Address = tuple[str, int]
#: How infra/terraform marks a password the host fills in (`@@ssm:<parameter>@@`).
_UNFILLED = "@@ssm:"


def _log() -> Any:
    from hn_runtime import get_logger

    return get_logger("hn_datatier.agent")


class Nutcracker(Protocol):
    """How the agent (re)starts Twemproxy after changing its configuration."""

    def start(self) -> None: ...

    def restart(self) -> None: ...

    def stop(self) -> None: ...


def _wait_listening(config_path: str, timeout: float) -> None:
    with open(config_path) as fh:
        listens = listen_addresses(fh.read())
    wait_until(
        lambda: all(port_accepts(port, host, timeout=0.2) for host, port in listens),
        timeout=timeout,
        interval=0.01,
        message="nutcracker to listen",
    )


class SupervisedNutcracker:
    """nutcracker as the agent's child, in the agent's process group (stopped with it)."""

    def __init__(self, config: AgentConfig) -> None:
        self._config = config
        argv = [config.nutcracker, "-c", config.config, "-s", str(config.stats_port), "-a", config.stats_host]
        self._process = ManagedProcess("nutcracker", argv, log_path=None, new_session=False, stop_signal=signal.SIGTERM)
        self._lock = gevent.lock.RLock()
        self._stopping = False
        self._watcher: gevent.Greenlet | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def start(self) -> None:
        with self._lock:
            if self._process.alive:
                return
            self._process.start()
            _wait_listening(self._config.config, self._config.restart_timeout)
        if self._watcher is None:
            self._watcher = gevent.spawn(self._watch)

    def restart(self) -> None:
        with self._lock:
            self._process.stop(timeout=self._config.restart_timeout)
            self._process.start()
            _wait_listening(self._config.config, self._config.restart_timeout)
        if self._watcher is None:
            self._watcher = gevent.spawn(self._watch)

    def stop(self) -> None:
        self._stopping = True
        if self._watcher is not None:
            self._watcher.kill()
        with self._lock:
            self._process.stop(timeout=self._config.restart_timeout)

    def _watch(self) -> None:
        while not self._stopping:
            gevent.sleep(0.5)
            with self._lock:
                if self._stopping or self._process.alive:
                    continue
                _log().error("nutcracker exited, restarting", returncode=self._process.returncode)
                RESTARTS.labels("crash").inc()
                try:
                    self._process.start()
                    _wait_listening(self._config.config, self._config.restart_timeout)
                except Exception:
                    log = _log()
                    log.exception("nutcracker restart failed")


class CommandNutcracker:
    """nutcracker as a system service: a shell command restarts it (e.g. under systemd)."""

    def __init__(self, config: AgentConfig) -> None:
        self._config = config

    def start(self) -> None:
        pass  # the init system runs it

    def restart(self) -> None:
        subprocess.run(shlex.split(self._config.restart_command), check=True, timeout=self._config.restart_timeout)
        _wait_listening(self._config.config, self._config.restart_timeout)

    def stop(self) -> None:
        pass


def _sentinel_client(address: Address, timeout: float, password: str) -> Any:
    return redis_client(
        address[0],
        address[1],
        password=password or None,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
    )


class Agent:
    """Keeps nutcracker's server list on the masters Sentinel elected. See the module docstring."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        nutcracker: Nutcracker | None = None,
        sentinel_client: Callable[[Address, float, str], Any] = _sentinel_client,
    ) -> None:
        self.config = config
        if nutcracker is None:
            nutcracker = SupervisedNutcracker(config) if config.supervise else CommandNutcracker(config)
        self.nutcracker = nutcracker
        self._clients = {
            s: sentinel_client(s, config.sentinel_timeout, config.sentinel_password) for s in config.sentinels
        }
        self._lock = gevent.lock.RLock()
        self._epochs: dict[str, int] = {}
        self._kick = gevent.event.Event()
        self._connected: set[Address] = set()
        self.stopped = gevent.event.Event()
        self.log = _log().bind(config=config.config)

    # -- the configuration file ------------------------------------------------------------

    def _read(self) -> str:
        with open(self.config.config) as fh:
            return fh.read()

    def current(self) -> dict[str, Address]:
        """The shards this agent follows and the addresses nutcracker's configuration gives them."""
        servers = {s.name: (s.host, s.port) for s in parse_servers(self._read())}
        if self.config.masters:
            missing = set(self.config.masters) - set(servers)
            if missing:
                raise ValueError(f"masters not in {self.config.config}: {sorted(missing)}")
            return {name: servers[name] for name in self.config.masters}
        return servers

    def _validate(self, text: str) -> None:
        """`nutcracker -t` on the new text before it replaces the file (skipped without the binary)."""
        directory = os.path.dirname(os.path.abspath(self.config.config))
        fd, path = tempfile.mkstemp(prefix=".check-", suffix=".yml", dir=directory)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            try:
                result = subprocess.run(
                    [self.config.nutcracker, "-t", "-c", path], capture_output=True, text=True, timeout=10
                )
            except FileNotFoundError:
                return
            if result.returncode != 0:
                raise ValueError(f"nutcracker rejects the new configuration: {result.stdout}{result.stderr}")
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _write(self, text: str) -> None:
        path = self.config.config
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".new-", suffix=".yml", dir=directory)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(OSError):
                st = os.stat(path)
                os.chmod(tmp, st.st_mode & 0o7777)
                os.chown(tmp, st.st_uid, st.st_gid)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def set_redis_auth(self) -> bool:
        """Write `redis_password` as the pools' `redis_auth` (before nutcracker starts, which reads
        it only then); True if the file changed. A no-op without a password."""
        with self._lock:
            text = self._read()
            if not self.config.redis_password:
                if _UNFILLED in text:  # production's placeholder: clients would all get NOAUTH
                    raise ValueError(f"{self.config.config} wants redis_auth from HN_REDIS_PASSWORD, which is not set")
                return False
            new_text = set_redis_auth(text, self.config.redis_password)
            if new_text == text:
                return False
            self._validate(new_text)
            self._write(new_text)
            self.log.info("twemproxy password set")
            return True

    def apply(self, addresses: Mapping[str, Address], *, reason: str) -> bool:
        """Point the named shards at `addresses`; rewrite and restart only if something changes."""
        with self._lock:
            text = self._read()
            current = {s.name: (s.host, s.port) for s in parse_servers(text)}
            changes = {n: a for n, a in addresses.items() if n in current and current[n] != a}
            if not changes:
                return False
            new_text = replace_addresses(text, changes)
            self._validate(new_text)
            self._write(new_text)
            started = time.monotonic()
            self.nutcracker.restart()
            RESTARTS.labels("switch").inc()
            for name in changes:
                SWITCHES.labels(name).inc()
            self.log.info(
                "twemproxy repointed",
                reason=reason,
                changes={n: {"from": "%s:%d" % current[n], "to": "%s:%d" % a} for n, a in changes.items()},
                restart_ms=round((time.monotonic() - started) * 1000, 1),
            )
            return True

    # -- asking Sentinel -------------------------------------------------------------------

    def _ask(self, sentinel: Address, name: str) -> tuple[Address, int] | None:
        """One Sentinel's view of a shard: (master address, config epoch).

        The address comes from GET-MASTER-ADDR-BY-NAME, not from SENTINEL MASTER: the Sentinel
        leading a failover raises the epoch as soon as the replica is promoted, but changes its
        SENTINEL MASTER address only once the other replicas are reconfigured, while
        GET-MASTER-ADDR-BY-NAME already gives the promoted one. The epoch is read first, so a
        switch between the two reads pairs the new address with the old epoch, never the reverse.
        """
        client = self._clients[sentinel]
        try:
            epoch = int(client.sentinel_master(name).get("config-epoch", 0))
            address = client.sentinel_get_master_addr_by_name(name)
        except (redis.RedisError, OSError) as exc:
            self.log.debug("sentinel did not answer", sentinel="%s:%d" % sentinel, master=name, error=str(exc))
            return None
        if not address:
            return None
        return (str(address[0]), int(address[1])), epoch

    def reconcile(self, *, reason: str = "reconcile") -> bool:
        """Ask every Sentinel for every followed shard; apply the newest answers."""
        current = self.current()
        jobs = {(s, n): gevent.spawn(self._ask, s, n) for s in self.config.sentinels for n in current}
        gevent.joinall(list(jobs.values()), timeout=self.config.sentinel_timeout * 2 + 1)
        wanted: dict[str, Address] = {}
        with self._lock:
            for name in current:
                answers = [job.value for (_, n), job in jobs.items() if n == name and job.ready() and job.value]
                if not answers:
                    continue
                newest = max(epoch for _, epoch in answers)
                if newest < self._epochs.get(name, -1):
                    continue  # only stale sentinels answered: keep what we have
                votes = Tally(addr for addr, epoch in answers if epoch == newest).most_common()
                tied = [addr for addr, count in votes if count == votes[0][1]]
                # Sentinels agreeing on an epoch agree on its master; should they not, stay put.
                wanted[name] = current[name] if current[name] in tied else tied[0]
                self._epochs[name] = newest
            return self.apply(wanted, reason=reason)

    def on_switch(self, sentinel: Address, data: str) -> str:
        """Handle one +switch-master message: `<name> <old-ip> <old-port> <new-ip> <new-port>`."""
        try:
            name, _, _, host, port = data.split()
            address = (host, int(port))
        except ValueError:
            EVENTS.labels("ignored").inc()
            return "ignored"
        if name not in self.current():
            EVENTS.labels("ignored").inc()
            return "ignored"
        answer = self._ask(sentinel, name)
        with self._lock:
            if answer is not None:
                told, epoch = answer
                if told != address or epoch < self._epochs.get(name, -1):
                    # The sentinel has moved on since, or it is behind us: let a reconcile decide.
                    EVENTS.labels("stale").inc()
                    self._kick.set()
                    return "stale"
                self._epochs[name] = epoch
            applied = self.apply({name: address}, reason="switch-master from %s:%d" % sentinel)
        outcome = "applied" if applied else "duplicate"
        EVENTS.labels(outcome).inc()
        self.log.info("switch-master", sentinel="%s:%d" % sentinel, master=name, to=f"{host}:{port}", outcome=outcome)
        return outcome

    def _follow(self, sentinel: Address) -> None:
        """Subscribe to one Sentinel's +switch-master, reconnecting for ever."""
        log = self.log.bind(sentinel="%s:%d" % sentinel)
        backoff = 0.2
        while not self.stopped.is_set():
            pubsub = None
            try:
                client = redis_client(
                    sentinel[0],
                    sentinel[1],
                    password=self.config.sentinel_password or None,
                    socket_connect_timeout=self.config.sentinel_timeout,
                    socket_keepalive=True,
                    health_check_interval=5,
                    decode_responses=True,
                )
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe("+switch-master")
                self._connected.add(sentinel)
                SENTINELS_CONNECTED.set(len(self._connected))
                log.info("following sentinel")
                backoff = 0.2
                self._kick.set()  # catch up on anything missed while not subscribed
                while not self.stopped.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        try:
                            self.on_switch(sentinel, message["data"])
                        except Exception:
                            log.exception("switch not applied")
                            self._kick.set()
            except (redis.RedisError, OSError) as exc:
                if sentinel in self._connected:
                    log.warning("sentinel connection lost", error=str(exc))
            finally:
                self._connected.discard(sentinel)
                SENTINELS_CONNECTED.set(len(self._connected))
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        pubsub.close()
            self.stopped.wait(backoff)
            backoff = min(backoff * 2, 5.0)

    # -- running ---------------------------------------------------------------------------

    def run(self, *, ready: Callable[[dict[str, Any]], None] | None = None) -> int:
        """Reconcile, start nutcracker, follow every Sentinel until `stop()`; returns an exit status."""
        self.set_redis_auth()  # no start without it: nutcracker would serve anyone
        try:
            self.reconcile(reason="start")
        except Exception:
            self.log.exception("initial reconcile failed; starting with the configuration as it is")
        self.nutcracker.start()
        RESTARTS.labels("start").inc()
        followers = [gevent.spawn(self._follow, s) for s in self.config.sentinels]
        info = {"masters": {n: "%s:%d" % a for n, a in self.current().items()}, "pid": os.getpid()}
        self.log.info("ready", **info)
        if ready is not None:
            ready(info)
        try:
            while not self.stopped.is_set():
                self._kick.wait(timeout=self.config.reconcile_interval)
                self._kick.clear()
                if self.stopped.is_set():
                    break
                try:
                    self.reconcile()
                except Exception:
                    self.log.exception("reconcile failed")
        finally:
            with self._lock:  # let a switch being applied finish (and be logged) first
                gevent.killall(followers, timeout=5)
            self.nutcracker.stop()
            self.log.info("stopped")
        return 0

    def stop(self) -> None:
        self.stopped.set()
        self._kick.set()


def _serve_metrics(host: str, port: int) -> Any:
    from gevent.pywsgi import WSGIServer

    server = WSGIServer((host, port), make_wsgi_app(REGISTRY), log=None, error_log=None)
    server.start()
    return server


def serve(config: AgentConfig) -> int:
    """The agent process: logging, metrics, signals, ready file, then `Agent.run()`."""
    from hn_runtime import configure_logging

    configure_logging(service="twemproxy-agent", instance=config.instance, level=config.log_level)
    agent = Agent(config)
    metrics = None
    extra: dict[str, Any] = {}
    if config.metrics_port >= 0:
        metrics = _serve_metrics(config.metrics_host, config.metrics_port)
        extra["metrics"] = f"{config.metrics_host}:{metrics.server_port}"
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, agent.stop)

    def ready(info: dict[str, Any]) -> None:
        if config.ready_file:
            tmp = config.ready_file + ".tmp"
            with open(tmp, "w") as fh:
                json.dump({**info, **extra}, fh)
            os.replace(tmp, config.ready_file)

    try:
        return agent.run(ready=ready)
    finally:
        if metrics is not None:
            metrics.stop(timeout=1)
