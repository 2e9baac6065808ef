"""Yellow's status view over HTTP: `/status.json` and the page, with rates, errors and p99 scraped
from a real instance's metrics, and the data-tier section when unconfigured or unreachable."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import gevent
import pytest

from hn_datatier import ProbeConfig
from hn_process import free_port
from hn_runtime import HNError, get_service
from hn_runtime.testing import RunningService, running, wait_for
from hn_runtime.testing.echo import EchoService
from hn_yellow._service import YellowService
from hn_yellow._status import StatusConfig
from hn_yellow_client import YellowDiscovery

FAST = StatusConfig(interval=0.2, window=60.0, scrape_timeout=1.0)


def _get(yellow: RunningService, path: str) -> str:
    with urllib.request.urlopen(f"http://{yellow.endpoints['http']}{path}", timeout=10) as response:
        assert response.status == 200
        return str(response.read().decode())


def _view(yellow: RunningService) -> dict[str, Any]:
    return dict(json.loads(_get(yellow, "/status.json")))


def _row(view: dict[str, Any], service: str, family: str = "requests") -> dict[str, Any] | None:
    return next((r for r in view["services"] if r["service"] == service and r["family"] == family), None)


@pytest.fixture
def watched() -> Iterator[tuple[RunningService, YellowDiscovery]]:
    with running(YellowService(status=FAST)) as yellow:
        discovery = YellowDiscovery([yellow.endpoints["rep"]])
        yield yellow, discovery
        discovery.directory.close()


def test_rate_errors_and_p99_of_a_service_from_its_instances_metrics(
    watched: tuple[RunningService, YellowDiscovery],
) -> None:
    yellow, discovery = watched
    with running(EchoService(), discovery=discovery, metrics_port=0):
        # A first window (two scrapes) before any traffic, so every call below falls inside it.
        wait_for(
            lambda: (_row(_view(yellow), "echo") or {}).get("requests_per_second") == 0.0,
            timeout=20,
            message="echo scraped twice",
        )
        echo = get_service("echo", directory=discovery.directory)
        for _ in range(20):
            echo.echo(payload=b"x")
        for _ in range(5):
            with pytest.raises(Exception):  # noqa: B017  (the declared Refused: not an error)
                echo.refuse(reason="no")
        for _ in range(5):
            with pytest.raises(HNError):
                echo.crash()
        gevent.joinall([gevent.spawn(echo.slow, ms=300) for _ in range(10)], raise_error=True)

        def counted() -> dict[str, Any] | None:
            row = _row(_view(yellow), "echo")
            return row if row and row["error_ratio"] == pytest.approx(5 / 40) else None

        row = wait_for(counted, timeout=20, message="the calls counted")
        assert row["instances"] == 1 and row["scrape_errors"] == 0
        assert row["requests_per_second"] > 0
        assert row["errors_per_second"] == pytest.approx(row["requests_per_second"] * 5 / 40)
        # 10 of 40 took 300 ms: the p99 is in the 250-500 ms bucket.
        assert 0.25 <= row["p99_seconds"] <= 0.5, row

        view = _view(yellow)
        assert view["data_tier"]["configured"] is False
        (instance,) = (i for i in view["instances"] if i["service"] == "echo")
        assert instance["state"] == "up" and instance["metrics_error"] == ""
        page = _get(yellow, "/")
        assert "data-service='echo'" in page and "p99" in page
        assert "not configured" in page and "<script>" in page


def test_an_unreachable_data_tier_is_a_red_row_not_an_error() -> None:
    dead = f"127.0.0.1:{free_port()}"
    config = StatusConfig(probe=ProbeConfig(sentinels=(dead,), pgpool=dead, pg_user="u", timeout=0.5), interval=0.2)
    with running(YellowService(status=config)) as yellow:
        tier = _view(yellow)["data_tier"]
        assert tier["configured"] and [s["ok"] for s in tier["sentinels"]] == [False]
        assert tier["pgpool_error"], tier
        page = _get(yellow, "/")
        assert f"<tr class='down' data-address='{dead}'>" in page
        assert "<table id='pgpool'><tbody><tr class='down'>" in page
