"""pytest fixtures and chaos helpers for tests that need the real data tier.

This module is a pytest plugin: the repository's root conftest.py registers it for every test
whose target depends on it (`hn_tests(fixtures=["datatier"])` in a tests/BUILD), so a test asks
for `data_tier` by naming it, with no import.

- `data_tier` (session): a started `hn_datatier.local.DataTier`; one per test process (Pants runs
  each test file in its own process, so one per file).
- `data_tier_env` (function): `data_tier.env` set in `os.environ` for the test (HN_PG_DSN,
  HN_REDIS_URL, ...), restored afterwards.
- `start_data_tier(**config)`: a private tier for tests that break things beyond repair;
  `test_config(**overrides)` its configuration.
- `kill_redis_master(tier, "shard0")`: kill -9 a shard's master, wait until Sentinel promoted the
  replica, the agent repointed Twemproxy and SET/GET through Twemproxy work again; returns the
  timings (`FailoverReport`) and, by default, brings the killed node back as the new replica
  (`restore_redis_node`).
- `fail_pg_primary(tier, "kill" | "stop")`: lose the PostgreSQL primary (kill -9 with its host
  then lost, or SIGSTOP then SIGCONT) under a writer through Pgpool; wait until the replica is
  promoted, writes are served again and the old primary is back as its replica (pg_rewind);
  returns the timings and the acknowledged writes lost (`PgFailoverReport`). `timed_write` is one
  bounded write; `freeze(node, SIGSTOP)` stops a node and every process it forked; `pg_rejoined` says whether a node streams from the primary again.
- `key_on_shard(tier, "shard1")`: a key Twemproxy routes to that shard; `direct_redis(node)`: a
  client of one Redis node (as its `admin` user), not through Twemproxy; `sentinel.client()` of a
  Sentinel; `direct_redis_port(port, password=...)`: of any server, credentials given.
- `imports_beyond_the_client(module)`: the import chains from `module` to the launcher, the agent
  or these fixtures (a service's PEX must carry none).

Timeouts scale with HN_TEST_TIME_FACTOR (`hn_process.time_factor`).
"""

from hn_datatier.local import direct_redis_port
from hn_datatier.testing._chaos import FailoverReport, direct_redis, key_on_shard, kill_redis_master, restore_redis_node
from hn_datatier.testing._fixtures import data_tier, data_tier_env, start_data_tier, test_config
from hn_datatier.testing._imports import first_party_imports, imports_beyond_the_client
from hn_datatier.testing._pgchaos import PgFailoverReport, fail_pg_primary, freeze, pg_rejoined, timed_write

__all__ = [
    "FailoverReport",
    "PgFailoverReport",
    "data_tier",
    "data_tier_env",
    "direct_redis",
    "direct_redis_port",
    "fail_pg_primary",
    "first_party_imports",
    "freeze",
    "imports_beyond_the_client",
    "key_on_shard",
    "kill_redis_master",
    "pg_rejoined",
    "restore_redis_node",
    "start_data_tier",
    "test_config",
    "timed_write",
]
