"""The data tier on one machine, for tests and the local cluster (`hn up`).

- `DataTier` starts PostgreSQL (primary + synchronous streaming replica, automatic failover, WAL
  archiving and base backups with pgBackRest) behind Pgpool-II and pre-sharded
  Redis (master + replica per shard, three Sentinels) behind Twemproxy, which the Sentinel agent
  (`hn_datatier.agent`) runs and repoints, on free loopback ports (`PortPool`); `tier.env`
  carries HN_PG_DSN (Pgpool) and HN_REDIS_URL (Twemproxy), with the services' passwords.
  `DataTierConfig` says what to start; its `placement` (role -> `Place`: an address and a
  command wrapper, e.g. `hn_netns.Host.command`) spreads it over several hosts, and
  `tier.places()` says where each role runs (roles: hn_datatier.local._place).
- `Secrets`: every server wants a password; a tier makes its own at start (`tier.secrets`, files
  readable by their owner only), named by `Secrets.REDIS_DEFAULT`, `Secrets.PG_APP`, ...
- `python -m hn_datatier.local up` (or `datatier.pex up`): a tier until Ctrl-C.
- `Exporters` (with `DataTierConfig(exporters=True)`): Debian's PostgreSQL and Redis exporters, one
  per server (Pgpool's `SHOW POOL_NODES` through the PostgreSQL one), listed for Prometheus as
  file_sd files in `tier.exporters.targets_dir`.
- `render` / `template_text` / `TEMPLATES`: the configuration templates shipped in
  `hn_datatier/templates`, production's wiring too (Terraform renders the same files);
  `render_config` writes a Twemproxy configuration from them.
"""

from hn_datatier.local._config import SYNC_MODES, DataTierConfig
from hn_datatier.local._exporters import EXPORTER_JOBS, Exporter, Exporters
from hn_datatier.local._pgnode import NodeState, PgNode
from hn_datatier.local._place import Place
from hn_datatier.local._ports import PortPool
from hn_datatier.local._postgres import find_pg_bin_dir
from hn_datatier.local._redis import RedisNode, SentinelNode, Shard, direct_redis_port
from hn_datatier.local._secrets import Secrets
from hn_datatier.local._templates import TEMPLATES, render, template_text
from hn_datatier.local._tier import DataTier
from hn_datatier.local._twemproxy import render_config

__all__ = [
    "EXPORTER_JOBS",
    "TEMPLATES",
    "DataTier",
    "DataTierConfig",
    "Exporter",
    "Exporters",
    "NodeState",
    "PgNode",
    "Place",
    "PortPool",
    "RedisNode",
    "SYNC_MODES",
    "Secrets",
    "SentinelNode",
    "Shard",
    "direct_redis_port",
    "find_pg_bin_dir",
    "render",
    "render_config",
    "template_text",
]
