"""Autoscaler configuration as JSON (a file, or a string), for `hn up --autoscale` and the process.

    {
      "interval_s": 1.0,
      "services": {
        "broker": {"rule": {"min_instances": 2, "max_instances": 6}},
        "sso": {
          "rule": {"min_instances": 1, "max_instances": 3},
          "signals": [
            {"kind": "yellow_load"},
            {"kind": "scraped_rate", "metric": "hn_requests_total", "labels": {"service": "sso"},
             "per_instance": 50, "window_s": 5},
            {"kind": "promql", "url": "http://prometheus:9090",
             "query": "sum(rate(hn_requests_total{service=\\"{service}\\"}[1m]))", "per_instance": 50}
          ]
        }
      },
      "aws": {"region": "eu-west-1", "group_template": "hn-prod-{service}"},
      "lease": {"key": "hn:autoscale:lease", "ttl_s": 10}
    }

`rule` takes `hn_autoscale.Rule`'s fields; `signals` defaults to `[{"kind": "yellow_load"}]`.
`aws` configures `AwsAsgDriver.from_config` (`python -m hn_autoscale`); `lease` the `RedisLease`
that picks the one autoscaler that acts, in the Redis of HN_REDIS_URL.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from hn_autoscale._policy import Rule
from hn_autoscale._signals import PromQuery, ScrapedRate, Signal, YellowLoad

__all__ = ["AutoscaleConfig", "DEFAULT_LOCAL_CONFIG"]

#: `hn up --autoscale` without a file: brokers by connections, sso by load and request rate,
#: match by load, draining only match instances without rooms.
DEFAULT_LOCAL_CONFIG: dict[str, Any] = {
    "interval_s": 1.0,
    "services": {
        "broker": {"rule": {"min_instances": 2, "max_instances": 6}},
        "sso": {
            "rule": {"min_instances": 2, "max_instances": 4},
            "signals": [
                {"kind": "yellow_load"},
                {
                    "kind": "scraped_rate",
                    "metric": "hn_requests_total",
                    "labels": {"service": "sso"},
                    "per_instance": 200,
                },
            ],
        },
        "match": {"rule": {"min_instances": 2, "max_instances": 4, "victim_max_load": 0.0}},
    },
}


@dataclass
class AutoscaleConfig:
    rules: dict[str, Rule]
    signals: dict[str, list[Signal]]
    interval_s: float = 1.0
    aws: dict[str, Any] = field(default_factory=dict)
    lease: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> AutoscaleConfig:
        known = {f.name for f in fields(Rule)}
        rules: dict[str, Rule] = {}
        signals: dict[str, list[Signal]] = {}
        for service, spec in (document.get("services") or {}).items():
            rule = spec.get("rule") or {}
            unknown = set(rule) - known
            if unknown:
                raise ValueError(f"{service}: unknown rule field(s) {', '.join(sorted(unknown))}")
            rules[service] = Rule(**rule)
            signals[service] = [_signal(s) for s in spec.get("signals") or [{"kind": "yellow_load"}]]
        if not rules:
            raise ValueError("an autoscaler configuration needs at least one service")
        return cls(
            rules,
            signals,
            float(document.get("interval_s", 1.0)),
            dict(document.get("aws") or {}),
            dict(document.get("lease") or {}),
        )

    @classmethod
    def load(cls, source: str) -> AutoscaleConfig:
        """From a JSON file path, or a JSON document itself (starting with "{")."""
        text = source if source.lstrip().startswith("{") else open(os.path.expanduser(source)).read()
        return cls.from_dict(json.loads(text))


def _signal(spec: Mapping[str, Any]) -> Signal:
    kind = spec.get("kind")
    if kind == "yellow_load":
        return YellowLoad()
    if kind == "scraped_rate":
        return ScrapedRate(
            spec["metric"],
            float(spec["per_instance"]),
            labels=spec.get("labels"),
            window_s=float(spec.get("window_s", 5.0)),
        )
    if kind == "promql":
        return PromQuery(spec["url"], spec["query"], float(spec["per_instance"]))
    raise ValueError(f"unknown signal kind {kind!r} (yellow_load, scraped_rate, promql)")
