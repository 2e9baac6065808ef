"""hn-datatier: the HighNoon data tier, its Sentinel -> Twemproxy agent, and test fixtures.

- `DataTier` starts PostgreSQL (primary + streaming replica) behind Pgpool-II and pre-sharded
  Redis (master + replica per shard, three Sentinels) behind Twemproxy, on free loopback ports;
  `tier.env` carries HN_PG_DSN (Pgpool) and HN_REDIS_URL (Twemproxy).
- `hn_datatier.agent` repoints Twemproxy when Sentinel promotes a replica (also in production).
- `hn_datatier.testing`: pytest fixtures and chaos helpers. `python -m hn_datatier up`: a local tier.
- The configuration templates in `hn_datatier/templates` are production's wiring too.
- Clients: `redis_from_url` (Twemproxy-safe redis-py), `PgPool` (gevent-friendly psycopg2 pool
  for HN_PG_DSN) and versioned SQL migrations (`load_migrations`, `apply_migrations`).
- `DependencyGuard`: a failed database or cache under a handler becomes the service's own
  retryable error, logged (throttled) and counted in `hn_dependency_errors_total`.

Importing this package loads only the standard library (psycopg2 and redis load when used), so a
gevent entry point may import it before patching.
"""

from hn_datatier._batch import GetBatcher
from hn_datatier._client import redis_client, redis_from_url
from hn_datatier._guard import DependencyGuard
from hn_datatier._launcher import DataTier, DataTierConfig, PgNode, RedisNode, Shard, find_pg_bin_dir
from hn_datatier._migrate import Migration, apply_migrations, load_migrations
from hn_datatier._pg import PgPool, StoreUnavailable, pg_from_env
from hn_datatier._ports import PortPool, port_accepts, port_is_free
from hn_datatier._process import ManagedProcess, ProcessFailed, Watchdog, dies_with_parent
from hn_datatier._templates import TEMPLATES, render, template_text
from hn_datatier._twemproxy import TwemproxyServer, parse_servers, render_config, replace_addresses

__version__ = "0.1.0"

__all__ = [
    "DependencyGuard",
    "GetBatcher",
    # PostgreSQL client side (_pg, _migrate: written with the sso service)
    "Migration",
    "PgPool",
    "StoreUnavailable",
    "apply_migrations",
    "dies_with_parent",
    "load_migrations",
    "pg_from_env",
    # the tier
    "DataTier",
    "DataTierConfig",
    "ManagedProcess",
    "PgNode",
    "PortPool",
    "ProcessFailed",
    "RedisNode",
    "Shard",
    "TEMPLATES",
    "TwemproxyServer",
    "Watchdog",
    "find_pg_bin_dir",
    "parse_servers",
    "port_accepts",
    "port_is_free",
    "redis_client",
    "redis_from_url",
    "render",
    "render_config",
    "replace_addresses",
    "template_text",
]
