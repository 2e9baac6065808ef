"""`python -m hn_datatier.local up`: start a local data tier, print its environment (the services'
passwords inside HN_PG_DSN and HN_REDIS_URL), stop on Ctrl-C."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence

from hn_datatier.local._config import DataTierConfig
from hn_datatier.local._tier import DataTier


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hn_datatier.local", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the tier and stay until Ctrl-C / SIGTERM")
    up.add_argument("--shards", type=int, default=2)
    up.add_argument("--no-postgres", action="store_true")
    up.add_argument("--no-redis", action="store_true")
    up.add_argument("--workdir", default="", help="parent of the scratch directory")
    up.add_argument("--keep", action="store_true", help="keep the scratch directory (logs) at exit")
    up.add_argument("--exporters", action="store_true", help="Prometheus exporters too (file_sd in the description)")
    up.add_argument("--json", action="store_true", help="print the whole description as one JSON line")
    args = p.parse_args(argv)

    config = DataTierConfig(
        postgres=not args.no_postgres,
        redis=not args.no_redis,
        shards=args.shards,
        workdir=args.workdir,
        keep_workdir=args.keep,
        exporters=args.exporters,
    )
    stop = threading.Event()
    # SIGTERM during start raises like Ctrl-C does, so start() cleans up what it began.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with DataTier(config) as tier:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        if args.json:
            print(json.dumps(tier.describe()), flush=True)
        else:
            for key, value in tier.env.items():
                print(f"export {key}='{value}'")
            secrets = tier.secrets.directory if tier.secrets else ""
            print(f"# scratch: {tier.scratch}  (Ctrl-C stops the tier); every password: {secrets}", flush=True)
        reported: set[str] = set()
        while not stop.wait(1.0):
            # Keep serving what is left (chaos experiments kill processes on purpose); say so.
            dead = {proc.name for proc in tier.processes() if not proc.alive}
            if dead != reported:
                print(f"# not running: {', '.join(sorted(dead)) or 'none'}", file=sys.stderr, flush=True)
                reported = dead
    return 0


if __name__ == "__main__":
    sys.exit(main())
