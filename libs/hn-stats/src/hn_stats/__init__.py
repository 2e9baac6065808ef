"""hn-stats: summary statistics of samples a run measured (latencies, durations), for the
benchmarks, the `hn bots` load tool and tests. Not the services' own metrics: those are
hn_runtime's Prometheus families, summed in the process that serves them.
"""

from hn_stats._percentile import percentile

__version__ = "0.1.0"
__all__ = ["percentile"]
