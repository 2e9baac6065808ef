"""`python -m hn_autoscale` (the autoscaler PEX): the autoscaler as a process of its own, on AWS.

    HN_YELLOW=tcp://10.0.1.10:5550 HN_AUTOSCALE_CONFIG=/etc/highnoon/autoscale.json \
    HN_REDIS_URL=redis://twemproxy:22121/0 HN_INSTANCE=autoscaler-i-0abc HN_HTTP_PORT=9400 \
    python -m hn_autoscale

HN_AUTOSCALE_CONFIG is a JSON file or the JSON document itself (infra/terraform/autoscaler passes
the document). Its "aws" section names the groups: {"region": ..., "group_template":
"hn-prod-{service}"} or {"groups": {"broker": "hn-prod-broker", ...}}. With HN_REDIS_URL, the
autoscalers share a lease there ("lease": {"key": ..., "ttl_s": ...}) and only its holder acts;
without it, the one with the smallest instance id in yellow does. HN_READY_FILE is written once it
serves. SIGTERM stops it (and releases the lease). With CURVE (HN_CURVE_KEY_FILE, as the Terraform
hosts set it) it registers in yellow and reads its view as its own identity, checking yellow by
HN_YELLOW_CURVE_KEY.
"""

from __future__ import annotations


def main() -> None:
    from gevent import monkey

    monkey.patch_all()  # first: before anything imports socket, ssl or threading
    import os
    import signal

    import gevent.event

    from hn_autoscale._aws import AwsAsgDriver
    from hn_autoscale._config import AutoscaleConfig
    from hn_autoscale._host import AutoscalerHost
    from hn_autoscale._lease import RedisLease
    from hn_runtime import configure_logging
    from hn_yellow_client import yellow_addresses

    instance = os.environ.get("HN_INSTANCE", f"autoscaler-{os.getpid()}")
    configure_logging(service="autoscaler", instance=instance, level=os.environ.get("HN_LOG_LEVEL", "info"))
    config = AutoscaleConfig.load(os.environ["HN_AUTOSCALE_CONFIG"])
    lease = None
    if os.environ.get("HN_REDIS_URL"):
        from hn_datatier import redis_from_url

        redis = redis_from_url(socket_timeout=2.0, socket_connect_timeout=2.0)
        lease = RedisLease(
            redis,
            str(config.lease.get("key", "hn:autoscale:lease")),
            instance,
            ttl_s=float(config.lease.get("ttl_s", 10.0)),
        )
    host = AutoscalerHost(
        config,
        driver=AwsAsgDriver.from_config(config.aws, config.rules),
        yellow=yellow_addresses(),
        instance_id=instance,
        bind_host=os.environ.get("HN_BIND_HOST", "127.0.0.1"),
        port=int(os.environ.get("HN_HTTP_PORT", "0")),
        advertise_host=os.environ.get("HN_ADVERTISE_HOST", ""),
        lease=lease,
        ready_file=os.environ.get("HN_READY_FILE", ""),
        # The key pair presented is the process's (HN_CURVE_KEY_FILE, read by hn_runtime.curve).
        curve_server_key=os.environ.get("HN_YELLOW_CURVE_KEY") or None,
    ).start()
    stop = gevent.event.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, stop.set)
    stop.wait()
    host.stop()


if __name__ == "__main__":
    main()
