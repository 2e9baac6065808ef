"""The tier's configuration files, rendered from the templates shipped in `hn_datatier/templates`.

The same files describe production: Terraform renders them with `templatefile()` (placeholders are
`${name}` only, no loops: repeated blocks such as Pgpool's backends or Sentinel's monitors are
rendered from their own small template and passed in as one value).
"""

from __future__ import annotations

import string
from importlib import resources
from typing import Any

__all__ = ["TEMPLATES", "render", "template_text"]

TEMPLATES = (
    "postgresql.conf.tmpl",
    "pg_hba.conf.tmpl",
    "pgpool.conf.tmpl",
    "pgpool-backend.conf.tmpl",
    "pool_hba.conf.tmpl",
    "redis.conf.tmpl",
    "sentinel.conf.tmpl",
    "sentinel-monitor.conf.tmpl",
    "nutcracker.yml.tmpl",
    "pgbackrest.conf.tmpl",
)


def template_text(name: str) -> str:
    """The raw text of one template (see TEMPLATES). They live in `hn_datatier/templates`, beside
    the launcher rather than in it: Terraform renders the same files for production."""
    return (resources.files("hn_datatier") / "templates" / name).read_text(encoding="utf-8")


def render(template: str, /, **values: Any) -> str:
    """Render a template; every placeholder must be given (a missing one raises KeyError)."""
    return string.Template(template_text(template)).substitute({k: str(v) for k, v in values.items()})
