"""The status page: the collector's view as HTML, rendered here only.

The page refreshes itself live: a few lines of plain JavaScript fetch the page again every
round and swap its `<main>` (no reload, no flicker, the scroll stays); without JavaScript a
meta refresh does it. Scripts read the same view as JSON at `/status.json`.

Rows carry what a test or a script needs as attributes: `data-shard`, `data-role`,
`data-address`, and the class `up` or `down`.
"""

from __future__ import annotations

import html
import time
from typing import Any

__all__ = ["render_page"]


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: float | None, fmt: str, unit: str = "") -> str:
    return "&ndash;" if value is None else f"{value:{fmt}}{unit}"


def _ms(seconds: float | None) -> str:
    return _number(None if seconds is None else seconds * 1000, ".1f", " ms")


def _services(view: dict[str, Any]) -> str:
    rows = []
    for row in view["services"]:
        ratio = row["error_ratio"]
        bad = ratio is not None and ratio > 0.05
        rows.append(
            f"<tr class='{'down' if bad else 'up'}' data-service='{_e(row['service'])}' data-family='{_e(row['family'])}'>"
            f"<td>{_e(row['service'])}</td><td>{_e(row['family'])}</td><td>{row['instances']}</td>"
            f"<td class='rate'>{_number(row['requests_per_second'], '.2f', '/s')}</td>"
            f"<td class='errors'>{_number(row['errors_per_second'], '.2f', '/s')}"
            f" ({_number(None if ratio is None else 100 * ratio, '.1f', '%')})</td>"
            f"<td class='p99'>{_ms(row['p99_seconds'])}</td>"
            f"<td>{row['scrape_errors'] or ''}</td></tr>"
        )
    return (
        f"<h2>Services</h2><p class='note'>over the last {view['window_seconds']:.0f} s, from the instances' metrics"
        " (errors: not ok, not a declared exception, not draining; client packets: not ok)</p>"
        "<table id='services'><thead><tr><th>service</th><th>what</th><th>instances</th><th>rate</th>"
        "<th>errors</th><th>p99</th><th>scrapes failed</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _redis(tier: dict[str, Any]) -> str:
    rows = []
    for shard in tier.get("shards", []):
        agree = f"{shard['agree']}/{shard['answered']} agree (quorum {shard['quorum']}), epoch {shard['epoch']}"
        for node in shard["nodes"]:
            lag = "" if node["role"] == "master" else f"{_number(node['lag_seconds'], '.0f', ' s')}"
            lag_bytes = "" if node["role"] == "master" else _number(node["lag_bytes"], "d", " B")
            state = "up" if node["up"] else "down"
            rows.append(
                f"<tr class='{state}' data-shard='{_e(shard['name'])}' data-role='{_e(node['role'])}'"
                f" data-address='{_e(node['address'])}'><td>{_e(shard['name'])}</td><td>{_e(node['address'])}</td>"
                f"<td>{_e(node['role'])}</td><td>{state}</td><td>{_e(node['link'])}</td><td>{lag}</td>"
                f"<td>{lag_bytes}</td><td>{_e(node['flags'])}</td>"
                f"<td>{_e(agree) if node['role'] == 'master' else ''}</td></tr>"
            )
    sentinels = "".join(
        f"<tr class='{'up' if s['ok'] else 'down'}' data-address='{_e(s['address'])}'><td>{_e(s['address'])}</td>"
        f"<td>{'answers' if s['ok'] else 'down'}</td><td>{_e(s['error'])}</td></tr>"
        for s in tier.get("sentinels", [])
    )
    return (
        "<h3>Redis shards (as the Sentinels see them)</h3>"
        "<table id='redis'><thead><tr><th>shard</th><th>node</th><th>role</th><th>state</th><th>link</th>"
        "<th>lag</th><th>behind</th><th>Sentinel flags</th><th>Sentinel view</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table><h3>Sentinels</h3><table id='sentinels'><thead><tr><th>address</th><th>state</th>"
        "<th>error</th></tr></thead><tbody>" + sentinels + "</tbody></table>"
    )


def _pgpool(tier: dict[str, Any]) -> str:
    if not tier.get("pgpool"):
        return ""
    if tier.get("pgpool_error"):
        return (
            f"<h3>Pgpool {_e(tier['pgpool'])}</h3><table id='pgpool'><tbody><tr class='down'>"
            f"<td>{_e(tier['pgpool_error'])}</td></tr></tbody></table>"
        )
    rows = "".join(
        f"<tr class='{'up' if n['status'] in ('up', 'waiting') else 'down'}' data-role='{_e(n['role'])}'"
        f" data-address='{_e(n['address'])}'><td>{_e(n['node_id'])}</td><td>{_e(n['address'])}</td>"
        f"<td>{_e(n['status'])}</td><td>{_e(n['role'])}</td><td>{_e(n['replication_delay'])}</td>"
        f"<td>{_e(n['replication_state'])}</td><td>{_e(n['last_status_change'])}</td></tr>"
        for n in tier.get("pool_nodes", [])
    )
    return (
        f"<h3>PostgreSQL through Pgpool {_e(tier['pgpool'])}</h3><table id='pgpool'><thead><tr><th>node</th>"
        "<th>address</th><th>status</th><th>role</th><th>replication delay</th><th>replication</th>"
        "<th>since</th></tr></thead><tbody>" + rows + "</tbody></table>"
    )


def _data_tier(view: dict[str, Any]) -> str:
    tier = view["data_tier"]
    if not tier.get("configured"):
        return "<h2>Data tier</h2><p id='data-tier'>not configured (see HN_SENTINELS and HN_PGPOOL)</p>"
    if tier.get("error"):
        return f"<h2>Data tier</h2><p id='data-tier' class='down'>{_e(tier['error'])}</p>"
    took = f"<p class='note'>probed in {tier.get('seconds', 0):.2f} s</p>"
    return "<h2>Data tier</h2><div id='data-tier'>" + took + _redis(tier) + _pgpool(tier) + "</div>"


def _instances(view: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr class='{_e(i['state'])}'><td>{_e(i['service'])}</td><td>{_e(i['instance'])}</td><td>{_e(i['state'])}</td>"
        f"<td>{i['load']:.3f}</td><td>{_e(i['version'])}</td><td>{i['seconds_since_heartbeat']:.1f}s ago</td>"
        f"<td>{_e(' '.join(f'{k}={v}' for k, v in i['endpoints'].items()))}</td>"
        f"<td>{_e(i['metrics_error'])}</td></tr>"
        for i in view["instances"]
    )
    return (
        "<h2>Instances</h2><table id='instances'><thead><tr><th>service</th><th>instance</th><th>state</th>"
        "<th>load</th><th>version</th><th>last heartbeat</th><th>endpoints</th><th>metrics scrape</th></tr>"
        "</thead><tbody>" + rows + "</tbody></table>"
    )


_STYLE = """
 body { font-family: sans-serif; margin: 1.5em; } table { border-collapse: collapse; margin-bottom: 1em; }
 td, th { border: 1px solid #ccc; padding: .25em .6em; font-size: 90%; } .note { color: #666; font-size: 85%; }
 tr.down, p.down { background: #fdd; color: #900; } tr.draining { background: #ffd; }
"""


def render_page(view: dict[str, Any], refresh_seconds: float) -> str:
    collected = time.strftime("%H:%M:%S", time.localtime(view["collected_at"])) if view["collected_at"] else "never"
    refresh_ms = max(500, int(refresh_seconds * 1000))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>yellow: {len(view['instances'])} instances</title>
<noscript><meta http-equiv="refresh" content="{max(1, round(refresh_seconds))}"></noscript>
<style>{_STYLE}</style></head>
<body><h1>yellow</h1>
<main>
<p>server {_e(view['server_id'])} &middot; sequence {view['sequence']} &middot; {len(view['instances'])} instances
&middot; collected <span id="collected">{collected}</span></p>
{_services(view)}
{_data_tier(view)}
{_instances(view)}
</main>
<script>
// Live: fetch the page again and swap its <main>; the view comes from /status.json's source.
setInterval(async () => {{
  try {{
    const response = await fetch(location.pathname, {{cache: "no-store"}});
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    document.querySelector("main").replaceWith(page.querySelector("main"));
    document.title = page.title;
  }} catch (error) {{ document.getElementById("collected").textContent += " (yellow unreachable)"; }}
}}, {refresh_ms});
</script>
</body></html>
"""
