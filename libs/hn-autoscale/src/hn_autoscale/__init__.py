"""hn-autoscale: the platform sizes itself from the loads its instances report to yellow.

Design: the autoscaler is a process of its own, a *client* of yellow (like brokerlist), not a
part of the yellow server.

* Yellow must stay small and always up ("0 downtime"): several yellows run side by side at
  fixed addresses, all active, with no leader. An autoscaler is a singleton that acts (one
  decision per service, or two yellows double the capacity), holds write access to the
  autoscaling groups (IAM the discovery hosts should never have), and depends on boto3 and on
  Prometheus; none of that belongs in the process everything else finds each other through.
* It needs nothing from yellow that every client does not have: `find("")` gives each
  instance's state and load, and the "metrics" endpoints to scrape.
* It registers in yellow as service "autoscaler" (endpoints "http": GET /status, "metrics"), so
  `hn status` shows desired vs actual and Prometheus scrapes its decisions through yellow's
  service discovery. With two of them running (production runs two hosts), the holder of a
  `RedisLease` acts and the other stands by, taking over when the lease lapses.
* Who hosts it depends on who owns the capacity: on AWS, `python -m hn_autoscale` (the
  `autoscaler` PEX) with the AWS driver; locally, `hn up --autoscale` runs the same loop in the
  process that owns the service processes, with the local cluster driver (tools/hn).

The pieces: `Policy` (pure: hysteresis band, cooldowns, bounds, step limits, least-loaded
victims), signals (`YellowLoad`, `ScrapedRate`, `PromQuery`) read by `YellowObserver`,
`Autoscaler` (the loop: logs each decision with structlog, exports
`hn_autoscale_desired_instances`, `hn_autoscale_actual_instances`,
`hn_autoscale_decisions_total{service,direction}`), drivers (`AwsAsgDriver` here: desired
capacity, scale-in protection, the termination hook a drain holds; `hn_cli.ClusterDriver` for the
local cluster), `RedisLease` (one active autoscaler) and `AutoscalerHost` (loop + lease + HTTP +
yellow).
"""

from hn_autoscale._autoscaler import (
    ACTUAL,
    DECISIONS,
    DESIRED,
    DRIVER_ERRORS,
    Autoscaler,
    DrainFinisher,
    Driver,
    ServiceStatus,
    status_app,
)
from hn_autoscale._aws import DRAIN_HOOK, AwsAsgDriver, ec2_instance_id
from hn_autoscale._config import DEFAULT_LOCAL_CONFIG, AutoscaleConfig
from hn_autoscale._host import SERVICE_NAME, AutoscalerHost
from hn_autoscale._lease import RedisLease
from hn_autoscale._policy import DOWN, UP, Decision, InstanceLoad, Observation, Policy, Rule, ServiceState
from hn_autoscale._signals import PromQuery, ScrapedRate, Seen, Signal, YellowLoad, YellowObserver

__version__ = "0.1.0"
__all__ = [
    "ACTUAL",
    "DECISIONS",
    "DESIRED",
    "DEFAULT_LOCAL_CONFIG",
    "DOWN",
    "DRAIN_HOOK",
    "DRIVER_ERRORS",
    "SERVICE_NAME",
    "UP",
    "AutoscaleConfig",
    "Autoscaler",
    "AutoscalerHost",
    "AwsAsgDriver",
    "Decision",
    "DrainFinisher",
    "Driver",
    "InstanceLoad",
    "Observation",
    "Policy",
    "PromQuery",
    "RedisLease",
    "Rule",
    "ScrapedRate",
    "Seen",
    "ServiceState",
    "ServiceStatus",
    "Signal",
    "YellowLoad",
    "YellowObserver",
    "ec2_instance_id",
    "status_app",
]
