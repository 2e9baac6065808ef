"""hn: the HighNoon platform from the command line.

    hn up       start the whole platform locally (data tier, yellow, brokerlist, 2 brokers,
                2 sso, 2 match) and play bots on it until Ctrl-C; then stop everything
                (--autoscale: the autoscaler adds and drains instances as load comes and goes;
                --hosts N: spread over N hosts, network namespaces joined by lossy links, as root)
    hn down     stop the platform `hn up` started
    hn status   services and instances as yellow sees them; desired vs actual with an autoscaler
    hn call     call a service method with JSON arguments: hn call sso health
    hn logs     the cluster's JSON logs merged in time order, optionally one trace
    hn bots     bot players against any brokerlist URL

A failure is one line on stderr (what failed, the code, the trace id when there is one) and exit
status 1 (2: the request could not be made as given, nothing was sent); `hn call --json` and
`hn status --json` print the result, or the error, as one JSON object on stdout. HN_DEBUG=1 shows
the traceback of an error hn did not expect.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn


def _up(args: argparse.Namespace) -> int:
    import gevent
    import gevent.event

    from hn_cli._cluster import Cluster, ClusterSpec

    config = None
    if args.autoscale is not None:
        from hn_autoscale import DEFAULT_LOCAL_CONFIG, AutoscaleConfig

        if args.autoscale == "default":
            config = AutoscaleConfig.from_dict(DEFAULT_LOCAL_CONFIG)
        else:
            config = AutoscaleConfig.load(args.autoscale)
    extra_env = dict(item.split("=", 1) for item in args.env)
    spec = ClusterSpec(
        brokers=args.brokers,
        sso=args.sso,
        match=args.match,
        yellows=args.yellows,
        run_dir=args.run_dir,
        extra_env=extra_env,
        tls=args.tls,
        hosts=args.hosts,
    )
    cluster = _cluster(Cluster, spec)
    autoscaler = None
    if config is not None:
        from hn_runtime import configure_logging

        # This process's own log (the supervisor, the autoscaler's decisions) joins the services'
        # logs in the run directory, where `hn logs` finds it.
        os.makedirs(cluster.run_dir, exist_ok=True)
        log = open(os.path.join(cluster.run_dir, "hn-up.log"), "a", buffering=1)  # noqa: SIM115 - for the process
        configure_logging(service="hn", instance="hn-up", level="info", stream=log)
    stop = gevent.event.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, stop.set)
    print(f"hn up: starting the platform (run directory {cluster.run_dir})", flush=True)
    started = time.monotonic()
    try:
        cluster.start()
        if cluster.network is not None:
            print(_hosts_table(cluster), flush=True)
        cluster.wait_healthy()
        print(f"hn up: healthy after {time.monotonic() - started:.1f}s", flush=True)
        print(f"  yellow status page  http://{cluster.yellow_http}/", flush=True)
        print(f"  brokerlist          {cluster.brokerlist_url}", flush=True)
        if os.environ.get("HN_BROKERLIST_PAGE_DIR"):  # brokerlist inherits it (./hn builds the page)
            trust = "   (wss: the browser must trust the brokers' CA)" if cluster.ca_file else ""
            print(f"  play in a browser   {cluster.brokerlist_url}play/{trust}", flush=True)
        if cluster.ca_file:
            print(
                f"  brokers' CA         {cluster.ca_file}   (TLS and wss: trust it, e.g. hn bots --ca-file)", flush=True
            )
        print(f"  yellow              {cluster.yellow_address}   (HN_YELLOW for hn call / hn status)", flush=True)
        print(f"  logs                {cluster.run_dir}/*.log   (hn logs --trace ID)", flush=True)
        if cluster.tier is not None and cluster.tier.exporters.exporters:
            targets = cluster.tier.exporters.targets_dir
            print(f"  exporters           {targets}/*.json   (Prometheus file_sd, ops/README.md)", flush=True)
        if config is not None:
            from hn_cli._autoscale import describe, start_autoscaler

            autoscaler = start_autoscaler(cluster, config, on_decision=lambda d: print("\n" + describe(d), flush=True))
            print(f"  autoscaler          http://{autoscaler.address}/status   ({', '.join(config.rules)})", flush=True)
        if args.bots > 0:
            from hn_cli._bots import run_bots

            run_bots(
                cluster.brokerlist_url,
                players=args.bots,
                rate=args.rate,
                duration=None,
                stop=stop,
                ca_file=cluster.ca_file or None,
            )
        else:
            print("hn up: running; Ctrl-C stops everything", flush=True)
        stop.wait()
        return 0
    finally:
        print("\nhn up: stopping", flush=True)
        if autoscaler is not None:
            autoscaler.stop()
        cluster.stop()
        print("hn up: stopped, nothing left running", flush=True)


def _cluster(make: Any, spec: Any) -> Any:
    """`Cluster(spec)`, with what is wrong with a spec said as a usage error: a host count out of
    range, or hosts without root (before anything starts)."""
    from hn_cli._errors import INVALID, CliError

    try:
        cluster = make(spec)
    except ValueError as exc:
        raise CliError(str(exc), code="USAGE", status=INVALID) from None
    if spec.hosts and os.geteuid() != 0:
        raise CliError(
            "--hosts needs root: the hosts are network namespaces (run it as root, e.g. sudo ./hn up --hosts 5)",
            code="NOT_ROOT",
            status=INVALID,
        )
    return cluster


def _hosts_table(cluster: Any) -> str:
    """Which host holds what: name, address, roles; and how to reach an address from here."""
    network = cluster.network
    link = network.link(network.hosts[0])
    lines = [
        f"hn up: {len(network.hosts)} hosts on {network.subnet} (network {network.prefix}; links "
        f"{link.delay_ms:g} ms ± {link.jitter_ms:g} ms, {link.loss:.1%} loss, shaping {network.shaping})",
        f"  {'host':<10}{'address':<16}roles",
    ]
    for name, roles in cluster.layout.items():
        held = " ".join(roles) + ("   (this process: health checks, bots)" if roles == ["bots"] else "")
        lines.append(f"  {name:<10}{network[name].address:<16}{held}")
    bots = cluster.host_of("bots").namespace
    hn = f"python3.11 {os.environ['PEX']}" if os.environ.get("PEX") else "python3 -m hn_cli"
    lines += [
        "  The addresses below are inside the hosts: this machine has no route to them. Reach them",
        f"  from a host, e.g.  sudo ip netns exec {bots} curl {cluster.brokerlist_url}",
        f"                     sudo ip netns exec {bots} {hn} --run-dir {cluster.spec.run_dir} status",
    ]
    return "\n".join(lines)


def _down(args: argparse.Namespace) -> int:
    from hn_cli._inspect import read_cluster

    pid = read_cluster(args.run_dir)["pid"]
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        print(f"hn down: no platform running (pid {pid} is gone)")
        return 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print("hn down: stopped")
            return 0
        time.sleep(0.2)
    print(f"hn down: pid {pid} still running after 120s", file=sys.stderr)
    return 1


def _yellow(args: argparse.Namespace) -> tuple[str, str | None]:
    """The yellow to ask and its CURVE key: --yellow or HN_YELLOW (with HN_YELLOW_CURVE_KEY, and
    this process's key from HN_CURVE_KEY_FILE), else the current run's, as its "hn" identity."""
    from hn_cli._inspect import read_cluster, use_cluster

    explicit = args.yellow or os.environ.get("HN_YELLOW", "").split(",")[0]
    if explicit:
        return explicit, os.environ.get("HN_YELLOW_CURVE_KEY") or None
    return use_cluster(read_cluster(args.run_dir))


def _status(args: argparse.Namespace) -> int:
    from hn_cli._inspect import status_document, status_table

    yellow, key = _yellow(args)
    if args.json:
        print(json.dumps(status_document(yellow, key), sort_keys=True))
    else:
        print(status_table(yellow, key))
    return 0


def _call(args: argparse.Namespace) -> int:
    from hn_cli._inspect import call, json_arguments, to_jsonable
    from hn_runtime import new_trace_id

    arguments = json_arguments(args.arguments or "{}")
    trace_id = new_trace_id()
    yellow, key = _yellow(args)
    result = to_jsonable(call(yellow, args.service, args.method, arguments, trace_id=trace_id, curve_server_key=key))
    if args.json:
        print(json.dumps({"result": result, "trace_id": trace_id}, sort_keys=True))
    else:
        print(json.dumps(result, indent=1, sort_keys=True))
    return 0


def _logs(args: argparse.Namespace) -> int:
    from hn_cli._inspect import read_cluster
    from hn_cli._logs import merged_logs, print_logs

    sources = list(args.sources or [])
    if args.dir:
        sources.append(args.dir)
    if not sources:
        sources.append(read_cluster(args.run_dir)["run_dir"])
    if args.stdin:
        sources.append("-")
    print_logs(merged_logs(sources, trace_id=args.trace), as_json=args.json, hops=bool(args.trace))
    return 0


def _bots(args: argparse.Namespace) -> int:
    from hn_cli._bots import parse_ramp, run_bots, run_ramp

    if args.ramp:
        stats = run_ramp(args.brokerlist, parse_ramp(args.ramp), ca_file=args.ca_file or None)
        return 0 if stats.ok else 1
    summary = run_bots(
        args.brokerlist,
        players=args.players,
        rate=args.rate,
        duration=args.duration,
        duels=args.duels,
        plot=args.plot,
        ca_file=args.ca_file or None,
    )
    finished = args.duels is None or summary.everyone_played(args.duels)
    return 0 if summary.ok and finished else 1


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line too (argparse's own print the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (code USAGE; {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    from gevent import monkey

    monkey.patch_all()
    from hn_runtime import configure_logging

    parser = _Parser(prog="hn", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default="run", help="where `hn up` keeps its runs (default: run/)")
    parser.add_argument("--yellow", default="", help="a yellow address (default: HN_YELLOW, then the current run)")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the platform locally until Ctrl-C")
    up.add_argument("--brokers", type=int, default=2)
    up.add_argument("--sso", type=int, default=2)
    up.add_argument("--match", type=int, default=2)
    up.add_argument("--yellows", type=int, default=1, help="yellows (peers: every instance registers in each)")
    up.add_argument(
        "--hosts",
        type=int,
        default=0,
        metavar="N",
        help="spread the platform over N hosts (5 to 11): network namespaces joined by links with delay "
        "and loss; needs root (default: everything on loopback)",
    )
    up.add_argument("--bots", type=int, default=50, help="bot players to keep playing (0: none)")
    up.add_argument("--rate", type=float, default=20.0, help="bot logins per second while ramping up")
    up.add_argument(
        "--autoscale",
        nargs="?",
        const="default",
        default=None,
        metavar="CONFIG",
        help="run the autoscaler on the local cluster (CONFIG: a JSON file or document, see hn_autoscale)",
    )
    up.add_argument(
        "--tls",
        action="store_true",
        help="brokers speak TLS and wss, with a certificate from a local CA made in the run directory",
    )
    up.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="extra environment for every service"
    )
    up.set_defaults(run=_up)
    commands.add_parser("down", help="stop the platform of the current run").set_defaults(run=_down)
    status = commands.add_parser("status", help="instances as yellow sees them")
    status.add_argument("--json", action="store_true", help="one JSON object: the instances and the autoscaler")
    status.set_defaults(run=_status)
    call = commands.add_parser("call", help="call a service method: hn call sso get_account '{\"account_id\": 1}'")
    call.add_argument("service")
    call.add_argument("method")
    call.add_argument("arguments", nargs="?", default="{}", help="JSON object of the method's arguments")
    call.add_argument("--json", action="store_true", help='one JSON object: {"result", "trace_id"} or {"error"}')
    call.set_defaults(run=_call)
    logs = commands.add_parser("logs", help="JSON logs merged in time order: a run, stdin, the log host")
    logs.add_argument("--trace", default=None, help="only this trace id, with per-hop durations")
    logs.add_argument(
        "--from",
        dest="sources",
        action="append",
        metavar="SOURCE",
        help="a run directory, - (stdin: JSON lines or `journalctl -o json`) or the log host's "
        "http://HOST:19531 (systemd-journal-gatewayd); repeatable (default: the current run)",
    )
    logs.add_argument("--dir", default="", help="a run directory (same as --from DIR)")
    logs.add_argument("--stdin", action="store_true", help="merge stdin with the current run (see --from -)")
    logs.add_argument("--json", action="store_true", help="print JSON lines")
    logs.set_defaults(run=_logs)
    bots = commands.add_parser("bots", help="bot players against a brokerlist")
    bots.add_argument("brokerlist", help="brokerlist URL, e.g. http://127.0.0.1:8080/")
    bots.add_argument("--players", type=int, default=100)
    bots.add_argument("--rate", type=float, default=50.0, help="new players per second")
    bots.add_argument("--duration", type=float, default=30.0, help="seconds to play (at most, with --duels)")
    bots.add_argument(
        "--duels",
        type=int,
        default=None,
        help="end once every bot finished this many duels; exit 1 unless all did, without errors",
    )
    bots.add_argument("--plot", default="", help="write a PNG latency plot here")
    bots.add_argument(
        "--ca-file", default="", help="the brokers speak TLS: verify them against this CA (hn up --tls prints its path)"
    )
    bots.add_argument(
        "--ramp",
        default="",
        help="follow a load ramp instead: seconds:bots points, e.g. 0:0,30:300,60:300,90:0 "
        "(bots join as it rises; the newest finish their duel and log out as it falls)",
    )
    bots.set_defaults(run=_bots)
    args = parser.parse_args(argv)
    configure_logging(service="hn", instance=f"hn-{os.getpid()}", level="warning")
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure is one line, never a traceback
        from hn_cli._errors import explain

        if os.environ.get("HN_DEBUG"):
            raise
        error = explain(exc)
        if getattr(args, "json", False):
            print(json.dumps(error.as_json(), sort_keys=True, default=str))
        print(f"hn {args.command}: {error.line()}", file=sys.stderr)
        return error.status


if __name__ == "__main__":
    sys.exit(main())
