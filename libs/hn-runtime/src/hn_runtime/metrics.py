"""Request figures a component keeps itself and exports as Prometheus families at scrape time.

The runtime counts every request and call this way; `stats_family` gives other components
(the broker's per-message-type figures) a family of their own.
"""

from hn_runtime._stats import RequestStats, StatsFamily, stats_family

__all__ = ["RequestStats", "StatsFamily", "stats_family"]
