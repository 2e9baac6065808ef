"""The whole platform on one machine: the data tier, yellow, brokerlist, brokers, sso and match.

The same class serves `hn up`, the end-to-end tests and anyone scripting a local platform. Every
service runs as its own supervised process with its log in the run directory; the data tier
comes from hn_datatier's launcher. `cluster.json` in the run directory describes what runs, for
`hn status`, `hn down`, `hn call` and `hn logs`.

Every ZeroMQ link is CURVE: each kind of process gets a key pair of its own under `curve/` in the
run directory, and `curve/authority.json` says which key acts as which service (docs/security.md).
This process, and the `hn` commands pointed at the run, act as the "hn" identity.

Spread over hosts (`ClusterSpec.hosts` / `layout`, root only): one `hn_netns.Network`, a host
(network namespace) per name of the layout, joined by links that delay and lose (2 ms ± 1 ms,
0.1 %). This process moves into the host holding "bots" before anything else starts, so its
health checks, yellow calls and bot players cross links like every other client; the data tier
gets a placement (`hn_datatier.local.Place`) and each service process runs inside its host,
binding and advertising the host's address, never 127.0.0.1. `stop()` closes the network: every
process in the hosts is killed and every namespace deleted (`hn_netns.leftovers` finds nothing).

    spec = ClusterSpec(yellows=2, layout={"data": [...data-tier roles...], "y1": ["yellow-1", "brokerlist"],
                                          "y2": ["yellow-2"], ..., "bots": ["bots"]})
    with Cluster(spec) as cluster:            # start(); stop() on leaving, also on an exception
        cluster.wait_healthy()
        net = cluster.network                 # hn_netns.Network: cut / partition / heal / flap / set_link
        net.partition([cluster.host_of("yellow-1")], [cluster.host_of("yellow-2")])
    assert not leftovers(net.prefix, cluster.namespace_ids)

`start()` moves the calling process into the bots host (`Network.enter`), which needs a process
with one thread: start a cluster over hosts before anything makes a thread or a ZeroMQ context
(libzmq's I/O threads). Those made while inside stay in the host's namespace, so one cluster
over hosts per process (`stop()` brings the main thread back; the network's close does).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hn_cli._hosts import BOTS, check_layout, cluster_roles, default_layout, normalize_layout
from hn_cli._supervisor import Supervised
from hn_datatier.local import DataTier, DataTierConfig, Place, Secrets
from hn_process import free_port, time_factor
from hn_runtime import HNError, get_logger, get_service
from hn_runtime.curve import LocalIdentities, set_client_keys

if TYPE_CHECKING:
    from hn_netns import Host, Network

__all__ = ["ClusterSpec", "Cluster", "SCALABLE", "IDENTITIES", "GRANTS"]

_log = get_logger("hn.cli")

#: the kinds of process `Cluster.add_instance` / `remove_instance` scale (yellow and brokerlist
#: have fixed addresses: the one piece of configuration everything else needs)
SCALABLE = ("sso", "match", "broker")
#: the identities of the CURVE authority: one per kind of process, plus the `hn` commands and
#: the autoscaler `hn up --autoscale` runs
IDENTITIES = ("yellow", "sso", "match", "broker", "brokerlist", "hn", "autoscaler")
#: what each identity may do beyond calling and registering itself: brokers speak for players
#: (session ids); the services with client routes push to them (broker.deliver / bound); sso ends
#: players' sessions, and brokers pass that on (broker.end_session); match instances open duel
#: rooms on each other (match.host_duel)
GRANTS = {
    "session": ["broker"],
    "push": ["broker", "match", "sso"],
    "kick": ["broker", "sso"],
    "host": ["match"],
}


@dataclass
class ClusterSpec:
    brokers: int = 2
    sso: int = 2
    match: int = 2
    #: yellows (yellow-1, yellow-2, ...): independent peers with one key pair; every instance
    #: heartbeats to each and clients merge their views (hn_yellow_client), so HN_YELLOW lists all
    yellows: int = 1
    run_dir: str = "run"
    #: "test" keeps logins cheap for bots; "production" is OWASP's argon2id
    hash_profile: str = "test"
    log_level: str = "info"
    extra_env: dict[str, str] = field(default_factory=dict)
    #: brokers speak TLS (and wss) with a certificate from a local CA made in the run directory
    tls: bool = False
    #: spread over this many hosts (network namespaces, hn-netns; root only) in the default
    #: layout for that many (`hn_cli._hosts.default_layout`, 5 to 11); 0: everything on loopback
    hosts: int = 0
    #: host name -> the roles it holds, instead of a default layout (every role of the cluster,
    #: `Cluster.roles()`, on exactly one host; "bots" is where this process runs)
    layout: dict[str, list[str]] | None = None


class Cluster:
    """The platform: `start()`, `wait_healthy()`, `stop()` (or `with Cluster(spec) as cluster:`,
    which starts it and stops it, also on an exception)."""

    def __init__(self, spec: ClusterSpec) -> None:
        for kind in ("yellows", "sso", "match", "brokers"):
            if getattr(spec, kind) < 1:
                raise ValueError(f"a cluster needs at least one of each process: {kind}={getattr(spec, kind)}")
        self.spec = spec
        #: the hosts' network once started with hosts, else None
        self.network: Network | None = None
        #: role -> name of its host (with hosts); new instances are added as they start
        self._placed: dict[str, str] = {}
        #: the layout asked for (checked now: a bad one fails before anything starts)
        self._planned = self._plan()
        self._round_robin: dict[str, itertools.cycle[str]] = {}
        #: the hosts' namespaces' inode numbers (with hosts), for `hn_netns.leftovers`
        self.namespace_ids: list[int] = []
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.run_dir = os.path.abspath(os.path.join(spec.run_dir, f"{stamp}-{os.getpid()}"))
        self.tier: DataTier | None = None
        self.identities: LocalIdentities | None = None
        self.processes: list[Supervised] = []
        self.yellow_address = ""
        self.yellow_http = ""
        #: every yellow (yellow-1 first: `yellow_address` / `yellow_http` are its)
        self.yellow_addresses: list[str] = []
        self.yellow_https: list[str] = []
        self.brokerlist_url = ""
        #: the local CA the brokers' certificate comes from, with `spec.tls` ("" without)
        self.ca_file = ""
        self._base: dict[str, str] = {}
        #: the highest instance number used per kind: a removed instance's name is never reused
        self._numbers: dict[str, int] = {}
        #: instances told to drain (SIGTERM) by `remove_instance`, until their process exits
        self.removing: set[str] = set()
        #: instances removed so far, in order
        self.removed: list[str] = []

    # -- starting ----------------------------------------------------------------------------

    # -- hosts ---------------------------------------------------------------------------------

    def roles(self) -> list[str]:
        """Every role this cluster starts with: the data tier's, its service processes', "bots"."""
        spec = self.spec
        return cluster_roles(
            yellows=spec.yellows, sso=spec.sso, match=spec.match, brokers=spec.brokers, data=DataTierConfig().roles()
        )

    def _plan(self) -> dict[str, list[str]] | None:
        """The layout the spec asks for (None: loopback); LayoutError (a ValueError) if unusable."""
        spec = self.spec
        if spec.layout is not None:
            layout = normalize_layout(spec.layout)
            if spec.hosts and spec.hosts != len(layout):
                raise ValueError(f"hosts={spec.hosts} but the layout has {len(layout)} hosts")
            check_layout(layout, self.roles())
            return layout
        if spec.hosts:
            return default_layout(spec.hosts, self.roles())
        return None

    @property
    def layout(self) -> dict[str, list[str]]:
        """Host name -> the roles it holds now (instances added later included); {} on loopback."""
        if self.network is None:
            return {}
        held: dict[str, list[str]] = {host.name: [] for host in self.network.hosts}
        for role, host in self._placed.items():
            held[host].append(role)
        return held

    def host_of(self, role: str) -> Host:
        """The host holding `role` ("pgpool", "yellow-2", "broker-1", "bots", ...)."""
        if self.network is None:
            raise ValueError("this cluster runs on loopback: no hosts (ClusterSpec.hosts / layout)")
        try:
            return self.network[self._placed[role]]
        except KeyError:
            raise KeyError(f"no host holds {role!r}; roles: {', '.join(self._placed)}") from None

    def _open_network(self, layout: dict[str, list[str]]) -> None:
        from hn_netns import Network

        self.network = Network(list(layout))
        # The namespaces' inode numbers: a process still in one after the run is a leftover
        # (`hn_netns.leftovers(prefix, namespace_ids)`), also once their names are gone.
        names = [self.network.switch, *(host.namespace for host in self.network.hosts)]
        self.namespace_ids = [os.stat(f"/run/netns/{name}").st_ino for name in names]
        self._placed = {role: host for host, roles in layout.items() for role in roles}
        # First, before any thread or ZeroMQ context exists: they stay in the namespace they
        # were made in. From here on this process is a client on the bots host.
        self.network.enter(self.host_of(BOTS))

    def _host_for(self, name: str) -> Host:
        """The host of a service process: its place in the layout, or (an instance added
        later) the next of the hosts holding its kind at start, round-robin."""
        if name not in self._placed:
            assert self._planned is not None
            kind = name.rsplit("-", 1)[0]
            if kind not in self._round_robin:
                holding = [h for h, roles in self._planned.items() if any(r.rsplit("-", 1)[0] == kind for r in roles)]
                if not holding:  # a custom layout without this kind: the hosts of any scalable kind
                    holding = [
                        h for h, roles in self._planned.items() if any(r.rsplit("-", 1)[0] in SCALABLE for r in roles)
                    ]
                self._round_robin[kind] = itertools.cycle(holding)
            self._placed[name] = next(self._round_robin[kind])
        return self.host_of(name)

    def _placement(self, role: str) -> Place:
        """The data tier's placement: each of its roles on its host."""
        host = self.host_of(role)
        return Place(host.address, host.command)

    # -- starting ----------------------------------------------------------------------------

    def start(self) -> None:
        os.makedirs(self.run_dir, exist_ok=True)
        self._link_current()
        if self._planned is not None:
            self._open_network(self._planned)
        self.identities = LocalIdentities(os.path.join(self.run_dir, "curve"), IDENTITIES, grants=GRANTS)
        # This process calls yellow (health, the autoscaler's view) as the platform's tools do.
        set_client_keys(self.identities.keys("hn"))
        self.tier = DataTier(self._tier_config())
        self.tier.start()
        yellow_ports = [(free_port(), free_port()) for _ in range(self.spec.yellows)]
        brokerlist_port = free_port()
        for i, (rep_port, http_port) in enumerate(yellow_ports, start=1):
            address = self._address(f"yellow-{i}")
            self.yellow_addresses.append(f"tcp://{address}:{rep_port}")
            self.yellow_https.append(f"{address}:{http_port}")
        self.yellow_address, self.yellow_http = self.yellow_addresses[0], self.yellow_https[0]
        self.brokerlist_url = f"http://{self._address('brokerlist-1')}:{brokerlist_port}/"
        base = {
            **self.tier.env,
            "HN_YELLOW": ",".join(self.yellow_addresses),
            "HN_BIND_HOST": "127.0.0.1",
            "HN_LOG_LEVEL": self.spec.log_level,
            "HN_SSO_HASH_PROFILE": self.spec.hash_profile,
            # Every bot comes from 127.0.0.1: one address making an account per bot.
            "HN_SSO_ACCOUNT_CREATIONS_PER_ADDRESS": "1000000000",
            # Locally every request is traced at every hop: `hn logs --trace ID` shows its path.
            "HN_TRACE_SAMPLE": "1",
            # Marks every process of this run (`hn down` and the tests find leftovers by it).
            "HN_RUN_DIR": self.run_dir,
            # Every bot connects from this host: no per-address connection cap on the brokers.
            "HN_BROKER_MAX_CONNECTIONS_PER_ADDRESS": "0",
            # Browsers and the TypeScript SDK connect over WebSocket: each broker on a free port.
            "HN_BROKER_WS_PORT": "0",
            **self._edge_tls(),
            **self.spec.extra_env,
        }
        self._base = base
        for i, (rep_port, http_port) in enumerate(yellow_ports, start=1):
            yellow_env = {"HN_REP_PORT": str(rep_port), "HN_HTTP_PORT": str(http_port), **self._status_env()}
            self._add(f"yellow-{i}", "hn_yellow", base, **yellow_env)
        for kind, count in (("sso", self.spec.sso), ("match", self.spec.match), ("broker", self.spec.brokers)):
            for _ in range(count):
                self._add(self._next_name(kind), f"hn_{kind}", base)
        self._add("brokerlist-1", "hn_brokerlist", base, HN_HTTP_PORT=str(brokerlist_port))
        self._describe()

    def _tier_config(self) -> DataTierConfig:
        config: dict[str, Any] = {"workdir": self.run_dir, "start_timeout": 120 * time_factor()}
        if self.network is None:
            # With its exporters: Prometheus finds them in the file_sd files `cluster.json` names.
            return DataTierConfig(**config, exporters=True)
        # Over hosts no Prometheus on this machine could reach exporters: none (fewer processes).
        return DataTierConfig(**config, exporters=False, placement=self._placement)

    def _address(self, role: str) -> str:
        """Where the process of `role` binds and is reached: its host's address, or loopback."""
        return "127.0.0.1" if self.network is None else self._host_for(role).address

    def _edge_tls(self) -> dict[str, str]:
        """The brokers' certificate variables: a local CA and a certificate for this machine
        (and every host's address), made in the run directory, when the spec asks for TLS."""
        if not self.spec.tls:
            return {}
        from hn_broker import make_local_ca

        directory = os.path.join(self.run_dir, "tls")
        if self.network is None:
            made = make_local_ca(directory)
        else:
            made = make_local_ca(directory, ["127.0.0.1", "localhost", *(h.address for h in self.network.hosts)])
        self.ca_file = made.ca_file
        return made.env()

    def _status_env(self) -> dict[str, str]:
        """What yellow's status page needs to probe the data tier (`hn_datatier.ProbeConfig`): the
        Sentinels' password and Pgpool's health-check role (pg_monitor), as files."""
        assert self.tier is not None and self.tier.secrets is not None
        return {
            "HN_SENTINEL_PASSWORD_FILE": self.tier.secrets.path(Secrets.SENTINEL),
            "HN_PGPOOL_MONITOR_USER": "hn_pgpool",
            "HN_PGPOOL_MONITOR_PASSWORD_FILE": self.tier.secrets.path(Secrets.PG_CHECK),
        }

    def _add(self, name: str, module: str, base: dict[str, str], **env: str) -> None:
        assert self.identities is not None
        identity = self.identities.env(module.removeprefix("hn_"))
        wrap = None
        if self.network is not None:
            host = self._host_for(name)
            env = {"HN_BIND_HOST": host.address, "HN_ADVERTISE_HOST": host.address, **env}
            wrap = host.command
        proc = Supervised(
            name,
            module,
            {**base, **identity, "HN_INSTANCE": name, **env},
            os.path.join(self.run_dir, f"{name}.log"),
            wrap=wrap,
        )
        proc.start()
        self.processes.append(proc)

    def _next_name(self, kind: str) -> str:
        self._numbers[kind] = self._numbers.get(kind, 0) + 1
        return f"{kind}-{self._numbers[kind]}"

    # -- scaling (the autoscaler's local driver uses these) ---------------------------------

    def count(self, kind: str) -> int:
        """Instances of `kind` running and not told to drain."""
        return sum(1 for p in self.processes if p.module == f"hn_{kind}" and p.name not in self.removing)

    def add_instance(self, kind: str) -> str:
        """Start one more instance of `kind` (sso, match, broker); returns its name (e.g. sso-3).

        It registers in yellow once it serves; callers wait for that if they need to.
        """
        if kind not in SCALABLE:
            raise ValueError(f"cannot scale {kind!r}: only {', '.join(SCALABLE)}")
        if not self._base:
            raise RuntimeError("the cluster is not started")
        name = self._next_name(kind)
        self._add(name, f"hn_{kind}", self._base)
        self._describe()
        _log.info("instance added", name=name)
        return name

    def remove_instance(self, name: str, *, timeout: float | None = None) -> int | None:
        """Drain `name` (SIGTERM) and wait for it to exit; returns its exit status.

        The service drains itself: it turns "draining" in yellow, refuses new requests (callers
        retry elsewhere), finishes what it has within its drain window, and exits; a broker
        hands its clients over (they reconnect through brokerlist and resume). Nothing is
        killed while it does: only a process still alive `timeout` seconds after SIGTERM
        (default: its drain window plus a minute, i.e. hung) gets SIGKILL, logged as an error.
        """
        proc = self.process(name)
        if proc.module.removeprefix("hn_") not in SCALABLE:
            raise ValueError(f"cannot remove {name}: only instances of {', '.join(SCALABLE)}")
        if name in self.removing:
            raise ValueError(f"{name} is already being removed")
        if self.count(proc.module.removeprefix("hn_")) <= 1:
            raise ValueError(f"{name} is the last {proc.module.removeprefix('hn_')}: not removing it")
        if timeout is None:
            timeout = float(proc.env.get("HN_DRAIN_SECONDS", "10")) + 60.0
        self.removing.add(name)
        _log.info("instance draining", name=name)
        try:
            status = proc.stop(timeout=timeout)
        finally:
            self.removing.discard(name)
            self.processes.remove(proc)
            self.removed.append(name)
            self._describe()
        _log.info("instance removed", name=name, status=status)
        return status

    def _link_current(self) -> None:
        current = os.path.join(self.spec.run_dir, "current")
        try:
            if os.path.islink(current):
                os.unlink(current)
            os.symlink(os.path.basename(self.run_dir), current)
        except OSError:
            pass  # a convenience only

    @property
    def yellow_key(self) -> str:
        """Yellow's CURVE public key (HN_YELLOW_CURVE_KEY)."""
        assert self.identities is not None
        return self.identities.keys("yellow").public

    def _describe(self) -> None:
        assert self.tier is not None and self.identities is not None
        tools = self.identities.env("hn")
        document = {
            "pid": os.getpid(),
            "run_dir": self.run_dir,
            "yellow": self.yellow_address,
            "yellows": list(self.yellow_addresses),
            "yellow_status_page": f"http://{self.yellow_http}/",
            "brokerlist": self.brokerlist_url,
            "ca_file": self.ca_file,
            # What a tool needs to reach the platform: addresses, and the "hn" identity's key.
            "env": self.tier.env
            | {
                "HN_YELLOW": ",".join(self.yellow_addresses),
                "HN_YELLOW_CURVE_KEY": tools["HN_YELLOW_CURVE_KEY"],
                "HN_CURVE_KEY_FILE": tools["HN_CURVE_KEY_FILE"],
            },
            "curve": {"authority": self.identities.path, "yellow_key": self.yellow_key},
            "processes": {p.name: p.module for p in self.processes},
            "removed": list(self.removed),
            "data_tier": self.tier.describe(),
            "spec": asdict(self.spec),
            **self._describe_hosts(),
        }
        # Its env carries the data tier's passwords (HN_PG_DSN, HN_REDIS_URL): owner only.
        path = os.path.join(self.run_dir, "cluster.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # also when an earlier run left the file
        with os.fdopen(fd, "w") as fh:
            json.dump(document, fh, indent=1)

    def _describe_hosts(self) -> dict[str, Any]:
        """With hosts: each host's address, namespace and roles, and what `hn_netns.leftovers`
        needs to tell whether anything outlived the run (prefix, namespace inode numbers)."""
        if self.network is None:
            return {}
        network = self.network
        return {
            "hosts": {
                host.name: {"address": host.address, "namespace": host.namespace, "roles": roles}
                for host, roles in ((network[name], roles) for name, roles in self.layout.items())
            },
            "network": {
                "prefix": network.prefix,
                "subnet": str(network.subnet),
                "shaping": network.shaping,
                "bots_namespace": self.host_of(BOTS).namespace,
                "namespace_ids": self.namespace_ids,
            },
        }

    # -- health ------------------------------------------------------------------------------

    def instances(self, yellow: str = "") -> list[Any]:
        """Every instance a yellow knows (the InstanceInfo structs); default: yellow-1."""
        yellow_service = get_service(
            "yellow", endpoints=[yellow or self.yellow_address], timeout=2, curve_server_key=self.yellow_key
        )
        return list(yellow_service.find(""))

    def healthy(self) -> bool:
        """Every process up in every yellow, and brokerlist listing every broker."""
        running = {p.name for p in self.processes if not p.name.startswith("yellow") and p.name not in self.removing}
        for yellow in self.yellow_addresses:
            try:
                up = {i.instance_id for i in self.instances(yellow) if i.state == "up"}
            except HNError:
                return False
            if not running <= up:
                return False
        import urllib.request

        try:
            with urllib.request.urlopen(self.brokerlist_url, timeout=2) as response:
                return len(json.load(response)["brokerList"]) == self.count("broker")
        except OSError:
            return False

    def wait_healthy(self, timeout: float = 120.0) -> None:
        import gevent

        deadline = time.monotonic() + timeout * time_factor()
        while not self.healthy():
            dead = [p.name for p in self.processes if p.restarts > 2]
            if dead:
                raise RuntimeError(f"crash-looping: {', '.join(dead)} (see {self.run_dir})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the platform was not healthy within {timeout}s (see {self.run_dir})")
            gevent.sleep(0.2)

    def process(self, name: str) -> Supervised:
        return next(p for p in self.processes if p.name == name)

    # -- stopping ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the services (they drain), then the data tier, then the hosts' network (which
        kills whatever still runs in a host and deletes the namespaces); leave nothing running."""
        import gevent

        try:
            edge = [p for p in self.processes if p.module in ("hn_brokerlist", "hn_broker")]
            logic = [p for p in self.processes if p not in edge and p.module != "hn_yellow"]
            for group in (edge, logic, [p for p in self.processes if p.module == "hn_yellow"]):
                gevent.joinall([gevent.spawn(p.stop) for p in group])
            if self.tier is not None:
                tier, self.tier = self.tier, None
                tier.stop()
        finally:
            if self.network is not None:
                self.network.close()

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
