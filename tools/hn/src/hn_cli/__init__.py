"""hn-cli: the `hn` command and the local cluster it runs (`Cluster`), reusable from tests."""

from hn_cli._cluster import Cluster, ClusterSpec

__version__ = "0.1.0"
__all__ = ["Cluster", "ClusterSpec"]
