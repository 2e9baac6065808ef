"""hn-cli: the `hn` command and the local cluster it runs (`Cluster`), reusable from tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hn_process import lazy_exports

__version__ = "0.1.0"
__all__ = ["Cluster", "ClusterSpec", "GRANTS", "parse_ramp", "read_cluster", "run_ramp", "use_cluster", "__version__"]

if TYPE_CHECKING:
    from hn_cli._bots import parse_ramp, run_ramp
    from hn_cli._cluster import GRANTS, Cluster, ClusterSpec
    from hn_cli._inspect import read_cluster, use_cluster

# Loaded on first use, so that the entry point patches gevent before anything imports the runtime.
__getattr__ = lazy_exports(
    __name__,
    {
        "Cluster": "hn_cli._cluster",
        "ClusterSpec": "hn_cli._cluster",
        "GRANTS": "hn_cli._cluster",
        "parse_ramp": "hn_cli._bots",
        "run_ramp": "hn_cli._bots",
        "read_cluster": "hn_cli._inspect",
        "use_cluster": "hn_cli._inspect",
    },
)
