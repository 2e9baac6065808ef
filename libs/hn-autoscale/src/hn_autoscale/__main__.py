"""`python -m hn_autoscale` (the autoscaler PEX): the autoscaler as a process of its own, on AWS.

    HN_YELLOW=tcp://10.0.1.10:5550 HN_AUTOSCALE_CONFIG=/etc/highnoon/autoscale.json \
    HN_INSTANCE=autoscaler-i-0abc HN_HTTP_PORT=9400 python -m hn_autoscale

The configuration's "aws" section names the groups: {"region": ..., "group_template":
"hn-prod-{service}"} or {"groups": {"broker": "hn-prod-broker", ...}}. SIGTERM stops it.
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
    from hn_runtime import configure_logging
    from hn_yellow_client import yellow_addresses

    instance = os.environ.get("HN_INSTANCE", f"autoscaler-{os.getpid()}")
    configure_logging(service="autoscaler", instance=instance, level=os.environ.get("HN_LOG_LEVEL", "info"))
    config = AutoscaleConfig.load(os.environ["HN_AUTOSCALE_CONFIG"])
    aws = config.aws
    groups = dict(aws.get("groups") or {})
    template = aws.get("group_template")
    for service in config.rules:
        if service not in groups and template:
            groups[service] = str(template).format(service=service)
    host = AutoscalerHost(
        config,
        driver=AwsAsgDriver(groups, region=aws.get("region")),
        yellow=yellow_addresses(),
        instance_id=instance,
        bind_host=os.environ.get("HN_BIND_HOST", "127.0.0.1"),
        port=int(os.environ.get("HN_HTTP_PORT", "0")),
        advertise_host=os.environ.get("HN_ADVERTISE_HOST", ""),
    ).start()
    stop = gevent.event.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, stop.set)
    stop.wait()
    host.stop()


if __name__ == "__main__":
    main()
