"""Helpers for the ops/ tests: where the files are, the metrics table, PromQL names, Prometheus.

Paths are relative to the build root: Pants runs the tests in a sandbox holding the files at their
repository paths (the `files` targets in ops/BUILD and docs/BUILD), and so does a plain `pytest`
started at the repository root.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hn_process import free_port
from hn_runtime.testing import time_factor, wait_for

PROMETHEUS_DIR = "ops/prometheus"
PROMETHEUS_CONFIG = f"{PROMETHEUS_DIR}/prometheus.yml"
RULES_DIR = f"{PROMETHEUS_DIR}/rules"
RULE_TESTS_DIR = f"{PROMETHEUS_DIR}/tests"
GRAFANA_DIR = "ops/grafana"
DASHBOARDS_DIR = f"{GRAFANA_DIR}/dashboards"
METRICS_DOC = "docs/metrics.md"

#: The packages whose metrics docs/metrics.md documents (ops/tests/BUILD depends on each).
PACKAGES = (
    "hn_runtime",
    "hn_yellow_client",
    "hn_datatier",
    "hn_edge",
    "hn_yellow",
    "hn_brokerlist",
    "hn_broker",
    "hn_sso",
    "hn_match",
    "hn_autoscale",
)

#: Series Prometheus makes itself for every target: not exported by the code, always there.
SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added"}

INSTALL_HINT = (
    "is not installed: it comes with Debian's `prometheus` package, which "
    "scripts/install-system-packages.sh installs (run it, then the tests again)"
)


def binary(name: str) -> str:
    """The path of a Prometheus binary; fails the test (never skips it) when it is missing."""
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"{name} {INSTALL_HINT}")
    return path


def run(argv: list[str], *, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout * time_factor(), check=False)


def read(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def files(directory: str, suffix: str) -> list[str]:
    return sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.endswith(suffix))


# -- the metrics table -----------------------------------------------------------------------


@dataclass(frozen=True)
class Documented:
    name: str  # as exposed: hn_requests_total, hn_request_duration_seconds, hn_build_info
    type: str  # counter, gauge, histogram, info
    labels: frozenset[str]

    def series_names(self) -> set[str]:
        """The names a query may use for this metric."""
        if self.type == "histogram":
            return {f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count"}
        return {self.name}


_ROW = re.compile(r"^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*(\w+)\s*\|([^|]*)\|")


def metrics_doc() -> dict[str, Documented]:
    """The rows of docs/metrics.md's table: | `name` | type | `label`, ... | ... |"""
    documented: dict[str, Documented] = {}
    for line in read(METRICS_DOC).splitlines():
        match = _ROW.match(line)
        if match is None:
            continue
        name, kind, labels = match.groups()
        assert name not in documented, f"{name} is documented twice in {METRICS_DOC}"
        documented[name] = Documented(name, kind, frozenset(re.findall(r"`(\w+)`", labels)))
    assert documented, f"no metric rows found in {METRICS_DOC}"
    return documented


def queryable_names(documented: Mapping[str, Documented]) -> set[str]:
    return set().union(*(d.series_names() for d in documented.values())) | SCRAPE_SERIES


# -- the metrics the code defines (read from the source, nothing imported) --------------------

_KINDS = {"Counter": "counter", "Gauge": "gauge", "Histogram": "histogram", "Summary": "summary", "Info": "info"}


@dataclass(frozen=True)
class Defined:
    name: str  # as exposed (a counter with _total, an info with _info)
    type: str
    labels: frozenset[str] | None  # None: not readable from the definition
    where: str


def _exposed_name(kind: str, name: str) -> str:
    if kind == "counter" and not name.endswith("_total"):
        return f"{name}_total"
    if kind == "info":
        return f"{name}_info"
    return name


def _strings(node: ast.AST | None) -> frozenset[str] | None:
    if isinstance(node, ast.List | ast.Tuple) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
    ):
        return frozenset(e.value for e in node.elts)  # type: ignore[attr-defined]
    return None


def package_sources(packages: Iterable[str] = PACKAGES) -> Iterator[str]:
    for package in packages:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations, f"package {package} not found"
        for root in spec.submodule_search_locations:
            for folder, _, names in os.walk(root):
                yield from (os.path.relpath(os.path.join(folder, n)) for n in sorted(names) if n.endswith(".py"))


def defined_metrics(packages: Iterable[str] = PACKAGES) -> dict[str, Defined]:
    """Every prometheus_client metric and `stats_family` the packages' source defines."""
    found: dict[str, Defined] = {}
    for path in package_sources(packages):
        tree = ast.parse(read(path), path)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            where = f"{path}:{node.lineno}"
            if func in _KINDS:
                kind = _KINDS[func]
                label_node = node.args[2] if len(node.args) > 2 else None
                for kw in node.keywords:
                    if kw.arg == "labelnames":
                        label_node = kw.value
                labels = _strings(label_node) if label_node is not None else frozenset()
                if kind == "info":
                    labels = None  # an Info's labels are the keys of what it is set to
                name = _exposed_name(kind, first.value)
                found[name] = Defined(name, kind, labels, where)
            elif func == "stats_family":
                # hn_runtime._stats.StatsFamily: <prefix>requests_total and a latency histogram.
                prefix = first.value
                found[f"{prefix}requests_total"] = Defined(
                    f"{prefix}requests_total", "counter", frozenset({"service", "method", "outcome"}), where
                )
                found[f"{prefix}request_duration_seconds"] = Defined(
                    f"{prefix}request_duration_seconds", "histogram", frozenset({"service", "method"}), where
                )
    return found


# -- PromQL ----------------------------------------------------------------------------------

_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "offset", "inf", "nan", "atan2", "start", "end",
}  # fmt: skip


def grafana_to_promql(expr: str, **values: str) -> str:
    """A dashboard query with Grafana's variables replaced: intervals by 5m, `$name` by
    `values[name]` (default ".*", which fits the `=~` matchers multi-value variables use)."""
    expr = re.sub(r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}", "5m", expr)
    return re.sub(r"\$\{?(\w+)(?::\w+)?\}?", lambda m: values.get(m.group(1), ".*"), expr)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (a lexical reading, good for our queries)."""
    text = grafana_to_promql(expr)
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', text)  # strings
    text = re.sub(r"\{[^{}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\[\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", text)  # label lists
    text = re.sub(r"(?<![\w:])\d+(\.\d+)?([eE][+-]?\d+)?(ms|s|m|h|d|w|y)?\b", " ", text)  # numbers
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        word = match.group(0)
        following = text[match.end() :].lstrip()
        if following.startswith("(") or word.lower() in _KEYWORDS:
            continue  # a function or aggregation, or a keyword
        names.add(word)
    return names


# -- Prometheus ------------------------------------------------------------------------------


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout * time_factor()) as response:
        return response.read()  # type: ignore[no-any-return]


def configure(text: str, replacements: Mapping[str, str]) -> str:
    """Replace each key of `replacements` (it must occur) in the repository's prometheus.yml."""
    for old, new in replacements.items():
        assert old in text, f"{PROMETHEUS_CONFIG} no longer contains {old!r}: update ops/tests"
        text = text.replace(old, new)
    return text


class Prometheus:
    """A real `prometheus` process on a loopback port, with a scratch TSDB; `api()` for queries."""

    def __init__(self, config_dir: str, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.workdir = tempfile.mkdtemp(prefix="hn-prometheus-")
        self.log_path = os.path.join(self.workdir, "prometheus.log")
        argv = [
            binary("prometheus"),
            f"--config.file={os.path.join(config_dir, 'prometheus.yml')}",
            f"--storage.tsdb.path={os.path.join(self.workdir, 'data')}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def log_tail(self) -> str:
        with open(self.log_path, errors="replace") as fh:
            return fh.read()[-4000:]

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise PrometheusExited(f"prometheus exited with {self.process.returncode}:\n{self.log_tail()}")
        try:
            return http_get(f"{self.url}/-/ready", timeout=1.0).startswith(b"Prometheus")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10 * time_factor())
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            body = http_get(f"{self.url}/api/v1/{path}{query}")
        except urllib.error.HTTPError as exc:
            body = exc.read()
        document = json.loads(body)
        assert document["status"] == "success", f"{path} {params}: {document}"
        return document["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        return data["result"]  # type: ignore[no-any-return]

    def value(self, expr: str) -> float | None:
        """The value of a query returning at most one series (None: no series)."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr} returned {len(result)} series"
        return float(result[0]["value"][1]) if result else None

    def targets(self) -> list[dict[str, Any]]:
        return self.api("targets", state="active")["activeTargets"]  # type: ignore[no-any-return]


class PrometheusExited(AssertionError):
    pass


@contextlib.contextmanager
def running_prometheus(config_for_port: Callable[[int], str], *, attempts: int = 3) -> Iterator[Prometheus]:
    """Start `prometheus` on a free loopback port with the configuration directory that
    `config_for_port(port)` writes; stop it and remove the directory at the end. A port taken
    between choosing and binding it is retried with another."""
    config_dirs = []
    for attempt in range(attempts):
        port = free_port()
        config_dirs.append(config_for_port(port))
        prometheus = Prometheus(config_dirs[-1], port)
        try:
            wait_for(prometheus.ready, timeout=60, interval=0.1, message="prometheus to be ready")
            break
        except PrometheusExited as exc:
            prometheus.stop()
            if "address already in use" not in str(exc) or attempt == attempts - 1:
                raise
        except BaseException:
            prometheus.stop()
            raise
    try:
        yield prometheus
    finally:
        prometheus.stop()
        for config_dir in config_dirs:
            shutil.rmtree(config_dir, ignore_errors=True)


def copy_prometheus_dir(replacements: Mapping[str, str]) -> str:
    """A scratch copy of ops/prometheus (config and rules) with prometheus.yml rewritten."""
    target = tempfile.mkdtemp(prefix="hn-prometheus-config-")
    shutil.copytree(PROMETHEUS_DIR, target, dirs_exist_ok=True)
    config = os.path.join(target, "prometheus.yml")
    text = configure(read(config), replacements)
    with open(config, "w", encoding="utf-8") as fh:
        fh.write(text)
    return target


# -- dashboards and scrapes ---------------------------------------------------------------


def dashboards() -> dict[str, dict[str, Any]]:
    return {path: json.loads(read(path)) for path in files(DASHBOARDS_DIR, ".json")}


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


_LABEL_VALUES = re.compile(r"^\s*label_values\((.+),\s*\w+\s*\)\s*$", re.S)


def dashboard_queries() -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable of every dashboard."""
    for path, dashboard in dashboards().items():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                yield f"{path}: panel {panel.get('title')!r} {target.get('refId')}", target["expr"]
        for variable in dashboard.get("templating", {}).get("list", []):
            if variable.get("type") != "query":
                continue
            query = variable["query"]
            query = query.get("query", "") if isinstance(query, dict) else query
            match = _LABEL_VALUES.match(query)
            assert match, f"{path}: variable {variable.get('name')}: only label_values(selector, label) is used"
            yield f"{path}: variable {variable.get('name')!r}", match.group(1)


_TYPE = re.compile(r"^# TYPE (\S+) (\S+)$")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ")
_LABEL = re.compile(r'(\w+)="(?:[^"\\]|\\.)*"')


def parse_exposition(text: str) -> dict[str, tuple[str, frozenset[str]]]:
    """Prometheus text format -> {family: (type, label names of its samples, `le` aside)}."""
    types: dict[str, str] = {}
    labels: dict[str, set[str]] = {}
    for line in text.splitlines():
        typed = _TYPE.match(line)
        if typed:
            types[typed.group(1)] = typed.group(2)
            labels[typed.group(1)] = set()
            continue
        sample = _SAMPLE.match(line)
        if sample is None or line.startswith("#"):
            continue
        name = sample.group(1)
        family = name
        if family not in types:
            for suffix in ("_bucket", "_sum", "_count"):
                if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "histogram":
                    family = name[: -len(suffix)]
        assert family in types, f"sample {name} has no # TYPE line"
        labels[family].update(n for n in _LABEL.findall(sample.group(2) or "") if n != "le")
    return {name: (kind, frozenset(labels[name])) for name, kind in types.items()}
