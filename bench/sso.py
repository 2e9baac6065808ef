"""sso benchmark: login throughput per instance, event-loop responsiveness while hashing, validate rate.

    ./pants run bench/sso.py -- --json [--seconds 5] [--readme README.md]

Starts a data tier (PostgreSQL+Pgpool, Redis+Sentinel+Twemproxy) and one sso process per hash
profile; the load comes from this process. Prints:
  logins_per_s_<profile>      password logins/s one instance completes (50 in flight)
  loop_lag_p99_ms             p99 of `health` round trips (one every 10 ms) while 50 logins hash at
                              once with the production profile: what everyone else waits behind
  validate_per_s              token validations/s one instance answers (100 in flight)
Targets: loop_lag_p99_ms < 20; validate_per_s >= 5000.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hn_stats import percentile

from _harness import arguments, readme_argument, report, service, write_table


@contextmanager
def sso_process(env: dict[str, str], profile: str) -> Iterator[str]:
    settings = {
        **env,
        "HN_SSO_HASH_PROFILE": profile,
        # Failed-login limits would throttle the benchmark itself.
        "HN_SSO_FAILED_LOGINS_PER_ADDRESS": "1000000000",
        "HN_SSO_FAILED_LOGINS_PER_ACCOUNT": "1000000000",
    }
    with service("hn_sso", settings) as (_, ready):
        yield ready["endpoints"]["rep"]


def run_for(seconds: float, concurrency: int, call: Callable[[int], Any]) -> float:
    import gevent

    done = [0]
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        while time.perf_counter() < stop:
            call(k)
            done[0] += 1

    started = time.perf_counter()
    gevent.joinall([gevent.spawn(worker, k) for k in range(concurrency)], raise_error=True)
    return done[0] / (time.perf_counter() - started)


def measure(env: dict[str, str], profile: str, seconds: float) -> dict[str, Any]:
    import gevent

    from hn_runtime import get_service

    result: dict[str, Any] = {}
    with sso_process(env, profile) as endpoint:
        sso = get_service("sso", endpoints=[endpoint], timeout=60)
        users = [f"bench{profile[0]}{os.getpid() % 10000}n{k}" for k in range(50)]
        for user in users:
            sso.register(user=user, passwd="benchmark-password")

        def login(k: int) -> None:
            sso.login(user=users[k], passwd="benchmark-password")

        result[f"logins_per_s_{profile}"] = round(run_for(seconds, 50, login), 1)
        if profile == "production":
            lag: list[float] = []
            busy = [True]

            def probe() -> None:
                while busy[0]:
                    t = time.perf_counter()
                    sso.health()
                    lag.append((time.perf_counter() - t) * 1000)
                    gevent.sleep(0.01)

            prober = gevent.spawn(probe)
            run_for(seconds, 50, login)
            busy[0] = False
            prober.join()
            result["loop_lag_p50_ms"] = round(percentile(lag, 0.5), 2)
            result["loop_lag_p99_ms"] = round(percentile(lag, 0.99), 2)
        else:
            tokens = [sso.login(user=u, passwd="benchmark-password").token for u in users]
            result["validate_per_s"] = round(run_for(seconds, 100, lambda k: sso.validate(token=tokens[k % 50])))
    return result


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    readme_argument(parser)
    args = parser.parse_args()

    from gevent import monkey

    monkey.patch_all()

    from hn_datatier.local import DataTier, DataTierConfig

    result: dict[str, Any] = {}
    with DataTier(DataTierConfig()) as tier:
        for profile in ("test", "production"):
            result.update(measure(tier.env, profile, args.seconds))
    result["targets_met"] = result["loop_lag_p99_ms"] < 20 and result["validate_per_s"] >= 5000
    report(result, args.json)
    validate_met = "met" if result["validate_per_s"] >= 5000 else "missed"
    lag_met = "met" if result["loop_lag_p99_ms"] < 20 else "missed"
    write_table(
        args.readme,
        "sso",
        [
            ("figure", "measured"),
            (
                "token validations/s one sso instance answers (100 in flight)",
                f"**{result['validate_per_s']:,}** (target ≥ 5,000: {validate_met})",
            ),
            (
                "password logins/s one instance completes (50 in flight): test / production argon2id",
                f"{result['logins_per_s_test']} / {result['logins_per_s_production']}",
            ),
            (
                "event-loop lag p99 while 50 production logins hash",
                f"**{result['loop_lag_p99_ms']} ms** (target < 20: {lag_met}; p50 {result['loop_lag_p50_ms']} ms)",
            ),
        ],
    )


if __name__ == "__main__":
    main()
