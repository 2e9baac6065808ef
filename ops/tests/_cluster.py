"""A small real cluster (two yellows, two echo instances, brokerlist) and a real Prometheus on it.

CURVE on, as deployed: a key pair per service and an authority naming them.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from hn_runtime.curve import LocalIdentities
from hn_runtime.testing import ServiceProcess, spawn_service

from _ops import Prometheus, copy_prometheus_dir, running_prometheus


@dataclass
class Cluster:
    identities: LocalIdentities
    yellows: list[ServiceProcess]
    #: the instances registered in yellow (found by Prometheus through yellow's /sd)
    services: list[ServiceProcess] = field(default_factory=list)

    @property
    def yellow_env(self) -> dict[str, str]:
        return {"HN_YELLOW": ",".join(y.endpoints["rep"] for y in self.yellows)}

    def spawn(self, module: str, service: str) -> contextlib.AbstractContextManager[ServiceProcess]:
        """Start `python -m module` registered with the yellows; killed when the block ends."""
        return spawn_service(module, service=service, env={**self.yellow_env, **self.identities.env(service)})


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    with contextlib.ExitStack() as stack:
        keys_dir = tempfile.mkdtemp(prefix="hn-ops-curve-")
        stack.callback(shutil.rmtree, keys_dir, ignore_errors=True)
        # "ops": the test's own calls, as an operator's tool.
        identities = LocalIdentities(keys_dir, ("yellow", "echo", "brokerlist", "ops"), grants={})
        yellow_env = identities.env("yellow")
        cluster = Cluster(
            identities,
            [stack.enter_context(spawn_service("hn_yellow", service="yellow", env=yellow_env)) for _ in range(2)],
        )
        for module, service in (
            ("_echo_in_yellow", "echo"),
            ("_echo_in_yellow", "echo"),
            ("hn_brokerlist", "brokerlist"),
        ):
            cluster.services.append(stack.enter_context(cluster.spawn(module, service)))
        yield cluster


@dataclass
class Scraping:
    prometheus: Prometheus
    cluster: Cluster
    #: where the repository's twemproxy-agent job points in the test: a port nothing answers on
    dead_target: str


@contextlib.contextmanager
def scraping(cluster: Cluster) -> Iterator[Scraping]:
    """Prometheus running the repository's configuration and rules, re-pointed at `cluster`.

    Only addresses and intervals change (1 s scrapes, evaluations and discovery refreshes);
    everything else - jobs, relabelling, rules - is the file in ops/prometheus.
    """
    y1, y2 = cluster.yellows
    # A bound socket that never listens: connections to it are refused, and no one else takes it.
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        dead_target = f"127.0.0.1:{dead.getsockname()[1]}"

        def config_for(port: int) -> str:
            return copy_prometheus_dir(
                {
                    "scrape_interval: 15s": "scrape_interval: 1s",
                    "scrape_timeout: 10s": "scrape_timeout: 1s",
                    "evaluation_interval: 15s": "evaluation_interval: 1s",
                    "refresh_interval: 15s": "refresh_interval: 1s",
                    "http://yellow-1.hn.internal:8080/sd": f"http://{y1.endpoints['http']}/sd",
                    "http://yellow-2.hn.internal:8080/sd": f"http://{y2.endpoints['http']}/sd",
                    '"yellow-1.hn.internal:9100", "yellow-2.hn.internal:9100"': (
                        f'"{y1.endpoints["metrics"]}", "{y2.endpoints["metrics"]}"'
                    ),
                    '"twemproxy-1.hn.internal:9101"': f'"{dead_target}"',
                    '"localhost:9090"': f'"127.0.0.1:{port}"',
                }
            )

        with running_prometheus(config_for) as prometheus:
            yield Scraping(prometheus, cluster, dead_target)
