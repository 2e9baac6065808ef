"""hn-datatier, the client side: what a service uses to reach the HighNoon data tier.

- `PgPool`: a gevent-friendly psycopg2 pool for HN_PG_DSN (Pgpool-II); `StoreUnavailable` when
  the database cannot be reached. Versioned SQL migrations: `load_migrations`, `apply_migrations`.
- `redis_from_url` / `redis_client`: redis-py configured for Twemproxy (HN_REDIS_URL).
- `GetBatcher`: concurrent GETs of one greenlet hub batched into MGETs.
- `probe_data_tier(ProbeConfig)`: the tier's health for a status page (shard masters and
  replicas with their lag and the Sentinels' agreement, Pgpool's nodes), time-bounded.
- `DependencyGuard`: a failed database or cache under a handler becomes the service's own
  retryable error, logged (throttled) and counted in `hn_dependency_errors_total`.

The rest of the distribution is not loaded from here: `hn_datatier.local` starts a tier on one
machine (tests, `hn up`), `hn_datatier.agent` is the Sentinel -> Twemproxy agent that runs on
the tier's hosts, `hn_datatier.testing` holds the pytest fixtures and chaos helpers.

Importing this package loads only the standard library and gevent (psycopg2, redis and
prometheus_client load when used), so a gevent entry point may import it before patching.
"""

from hn_datatier._batch import GetBatcher
from hn_datatier._client import redis_client, redis_from_url
from hn_datatier._guard import DependencyGuard
from hn_datatier._migrate import Migration, apply_migrations, load_migrations
from hn_datatier._pg import PgPool, StoreUnavailable
from hn_datatier._probe import DataTierReport, ProbeConfig, probe_data_tier

__version__ = "0.1.0"

__all__ = [
    "DataTierReport",
    "DependencyGuard",
    "GetBatcher",
    "Migration",
    "PgPool",
    "ProbeConfig",
    "StoreUnavailable",
    "apply_migrations",
    "load_migrations",
    "probe_data_tier",
    "redis_client",
    "redis_from_url",
]
